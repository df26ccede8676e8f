"""Every fill on the first toy world, where the truth under the object is known: the scene rendered without it.

    python -m benchmarks.fills [--count 50] [--variants surroundings,repaint,...] [--captions both|no|yes] [--preset fast]

Per fill: the target gone with every other object kept and nothing drawn in (exact), the hole's PSNR against the truth
(the pixels the object covered), and the seam's (3 pixels either side of the removal mask's edge): a visible patch shows
in the second. World 2's rows come from `python -m benchmarks.world2 --methods ...` with the same variant names.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np

from benchmarks.fill_variants import FILL_VARIANTS
from benchmarks.regions import psnr_where, seam_band
from benchmarks.options import CAPTIONS, choice_list, cpu_editor


def truth_without(scene, target: str):
    """The scene rendered without its object named `target`."""
    from benchmarks.toyworld.world import render

    return render(replace(scene, objects=tuple(o for o in scene.objects if o.name != target)))


def fill_rows(editor, count: int, variants: list[str], preset: str, captions: tuple[bool, ...]) -> list[dict]:
    """One row per variant and caption: exact, hole and seam PSNR against the truth, seconds per scene."""
    from benchmarks.quality_rows import _names_array, _removal_targets, exact_removals
    from benchmarks.toyworld.world import render

    scenes, targets = _removal_targets(count)
    rows = []
    for captioned in captions:
        for name in variants:
            found, holes, seams, seconds = [], [], [], 0.0
            for scene, target in zip(scenes, targets):
                started = time.perf_counter()
                result = editor.remove(render(scene), target, prompt=scene.caption if captioned else None, preset=preset, progress=False,
                                       **FILL_VARIANTS[name])
                seconds += time.perf_counter() - started
                image, truth = np.asarray(result.image.convert("RGB")), truth_without(scene, target)
                found.append(_names_array(image))
                holes.append(psnr_where(image, truth, np.any(render(scene) != truth, axis=-1)))
                seams.append(psnr_where(image, truth, seam_band(np.asarray(result.mask))))
            row = {"fill": name, "caption": captioned, "scenes": len(scenes), "exact": float(np.mean(exact_removals(scenes, targets, found))),
                   "hole_psnr": _mean_of_measured(holes), "seam_psnr": _mean_of_measured(seams), "seconds": seconds / len(scenes)}
            print(f"  {name}, {'caption' if captioned else 'no caption'}: exact {row['exact']:.2f} hole {row['hole_psnr']:.1f} dB "
                  f"seam {row['seam_psnr']:.1f} dB, {row['seconds']:.2f} s", flush=True)
            rows.append(row)
    return rows


def _mean_of_measured(values: list[float]) -> float:
    """The mean over the scenes where there was something to measure (an empty mask has no seam): NaN if none."""
    measured = [v for v in values if not np.isnan(v)]
    return float(np.mean(measured)) if measured else float("nan")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="toyworld")
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--variants", type=choice_list(tuple(FILL_VARIANTS), "variant"), default=",".join(FILL_VARIANTS))
    parser.add_argument("--captions", choices=tuple(CAPTIONS), default="both")
    parser.add_argument("--preset", default="quality")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    rows = fill_rows(cpu_editor(args.model, args.threads), args.count, args.variants, args.preset, CAPTIONS[args.captions])
    print("\n| fill | caption | scenes | exact | hole PSNR (dB) | seam PSNR (dB) | s / scene |\n|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['fill']} | {'yes' if r['caption'] else 'no'} | {r['scenes']} | {r['exact']:.2f} | {r['hole_psnr']:.1f} | "
              f"{r['seam_psnr']:.1f} | {r['seconds']:.2f} |")


if __name__ == "__main__":
    main()
