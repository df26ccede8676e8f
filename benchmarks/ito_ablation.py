"""What ITO earns on the toy world: SWR alone, SWR + ITO with unwant's earlier "mean" loss, and SWR + ITO with the
reference code's loss (the default), each with its seconds.

    python -m benchmarks.ito_ablation [--count 50] [--scenes 100] [--only generation,removal] [--captions no,yes] [--json PATH]
    python -m benchmarks.ito_ablation --table A.json B.json     # one table from runs made apart

Generation: "a Y and a X" and "a X and a Y", Y removed, `--count` seeded pairs each, 50 steps (step size 20).
Removal: the quality benchmark's seeded scenes with and without their caption, the quality preset (direct inversion,
50 steps, step size 5) with fill="model": the default fill reads only the original branch, so only there (and with
blend=False) does the suppressed branch, and so ITO, reach the output. Scored by the exact toy-world detector.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import asdict

from benchmarks.options import choice_list

METHODS = {  # row name: the SuppressionConfig options of that variant
    "SWR only": {"optimize": False},
    'SWR + ITO, "mean" loss (unwant before)': {"loss": "mean"},
    'SWR + ITO, "reference" loss (default)': {"loss": "reference"},
}
SECTIONS = ("generation", "removal")
CAPTIONS = ("no", "yes")


def generation_rows(editor, count: int, steps: int) -> list:
    """Each method on both orders of each seeded pair, seed by seed."""
    from benchmarks.quality_rows import Row, _rates
    from benchmarks.toyworld.sets import object_pairs

    pairs = object_pairs(count)
    rows = []
    orders = {'Y first: "a Y and a X"': lambda x, y: f"a {y} and a {x}", 'Y last: "a X and a Y"': lambda x, y: f"a {x} and a {y}"}
    for order, prompt_of in orders.items():
        images = {method: [] for method in METHODS}
        seconds = dict.fromkeys(METHODS, 0.0)
        for seed, (x, y) in enumerate(pairs):  # the methods side by side, so that a busy machine slows each alike
            for method, options in METHODS.items():
                started = time.perf_counter()
                images[method].append(editor.generate(prompt_of(x, y), remove=y, seed=seed, steps=steps, progress=False, **options).image)
                seconds[method] += time.perf_counter() - started
        for method in METHODS:
            absent, kept = _rates(images[method], [[x] for x, _ in pairs], [y for _, y in pairs])
            rows.append(Row("ito: generation", f"{order}, {method}", len(pairs), absent, kept, seconds=seconds[method] / len(pairs)))
            print(f"  {order}, {method}: absent {absent:.2f} kept {kept:.2f} {rows[-1].seconds:.1f} s", flush=True)
    return rows


def removal_rows(editor, count: int, captions: list[str]) -> list:
    """Each method on each scene, scene by scene: the methods share the scene's inversion, whose seconds each pays."""
    import numpy as np

    from benchmarks.quality_rows import _removal_row, _removal_targets
    from benchmarks.toyworld.world import render

    scenes, targets = _removal_targets(count)
    rows = []
    for captioned in (c == "yes" for c in captions):
        images = {method: [] for method in METHODS}
        seconds = dict.fromkeys(METHODS, 0.0)
        for scene, target in zip(scenes, targets):
            editor.forget_last_photo()
            for k, (method, options) in enumerate(METHODS.items()):
                started = time.perf_counter()
                result = editor.remove(render(scene), target, prompt=scene.caption if captioned else None, preset="quality",
                                       fill="model", progress=False, **options)
                seconds[method] += time.perf_counter() - started + (result.timings["invert"] if k else 0.0)
                images[method].append(np.asarray(result.image.convert("RGB")))
        label = "caption" if captioned else "no caption"
        for method in METHODS:
            row = _removal_row(f"{label}, {method}", scenes, targets, images[method], seconds[method])
            row.section = "ito: removal"
            rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    """Markdown: the generation rows, then the removal rows."""
    fmt = lambda v, p=2: "" if v is None else f"{v:.{p}f}"
    lines = []
    generation = [r for r in rows if r["section"] == "ito: generation"]
    removal = [r for r in rows if r["section"] == "ito: removal"]
    if generation:
        lines += ["| generation, Y removed | n | Y absent | X kept | s / image |", "|---|---|---|---|---|"]
        lines += [f"| {r['method']} | {r['samples']} | {fmt(r['unwanted_absent'])} | {fmt(r['wanted_kept'])} | {fmt(r['seconds'], 1)} |"
                  for r in generation]
    if removal:
        lines += ([""] if lines else []) + [
            "| removal, fill model | n | target absent | others kept | **exact** | PSNR outside (dB) | remnant | collateral | s / image |",
            "|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['method']} | {r['samples']} | {fmt(r['unwanted_absent'])} | {fmt(r['wanted_kept'])} | **{fmt(r['exact'])}** | "
                  f"{fmt(r['psnr'], 1)} | {fmt(r['remnant'], 3)} | {fmt(r['collateral'], 3)} | {fmt(r['seconds'], 1)} |" for r in removal]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="ITO ablation on the toy world")
    parser.add_argument("--model", default="toyworld", help="a model of the toy world's kind (default toyworld)")
    parser.add_argument("--count", type=int, default=50, help="generation pairs per order (default 50)")
    parser.add_argument("--scenes", type=int, default=100, help="removal scenes (default 100)")
    parser.add_argument("--steps", type=int, default=50, help="generation steps (removal runs the quality preset's 50)")
    parser.add_argument("--only", type=choice_list(SECTIONS, "section"), default=",".join(SECTIONS), help="generation, removal or both")
    parser.add_argument("--captions", type=choice_list(CAPTIONS, "caption choice"), default=",".join(CAPTIONS),
                        help="removal without (no) and with (yes) the scene's caption")
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--table", nargs="+", metavar="JSON", help="print one table from the rows of these files, and run nothing")
    args = parser.parse_args(argv)
    if args.table:
        print(table([row for path in args.table for row in json.load(open(path))["rows"]]))
        return
    import torch

    from editor import Editor  # here, not at the top: `--help` answers without loading torch

    torch.set_num_threads(1)  # 64 px tensors: a second thread mostly waits (README: one thread per process)
    editor = Editor.from_pretrained(args.model, device="cpu", dtype="float32")
    rows = []
    if "generation" in args.only:
        rows += generation_rows(editor, args.count, args.steps)
    if "removal" in args.only:
        rows += removal_rows(editor, args.scenes, args.captions)
    command = "python -m benchmarks.ito_ablation " + " ".join(argv if argv is not None else sys.argv[1:])
    print(f"\n{table([asdict(r) for r in rows])}\n\n`{command.strip()}` on {platform.machine()}, model {args.model}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"command": command.strip(), "rows": [asdict(r) for r in rows]}, handle, indent=2)


if __name__ == "__main__":
    main()
