"""Which object goes: the target and not its look-alikes, every instance of it (issue 32), on the first toy world.

    python -m benchmarks.localisation [--count 100] [--hard 60] [--categories 40] [--preset fast]

Rows, before (the 8 x 8 maps' strongest blob over 0.3 of the peak, no presence check) and now (the default: 16 x 16
maps, every blob over 0.1 of the peak whose core holds on average a posterior of the target of at least 0.5): held-out
removal scenes with and without a caption; scenes built to be hard (the target beside a same-colour and a same-shape
look-alike); two instances of the target; category targets ("red", "circle"). Exact: the detector finds the other
objects, once each, and nothing else; collateral: the mean share of the other objects' pixels changed.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.options import cpu_editor
from benchmarks.quality_rows import _names_array, _removal_targets, exact_removals, pixel_scores
from benchmarks.toyworld.sets import lookalike_scenes, removal_scenes, twin_scenes
from benchmarks.toyworld.world import COLOURS, SHAPES, render
from editor.removal.masks import MaskConfig

METHODS = {
    "before: strongest blob, 8 x 8 maps": {"attention_factor": 2, "mask": MaskConfig(threshold=0.3, target_posterior=None), "force": True},
    "now: every blob the presence check confirms, 16 x 16 maps (default)": {},
}
CATEGORY_SEED = 3203


def removal_row(editor, method: str, label: str, scenes, targets, captioned: bool, preset: str) -> dict:
    """Exact, collateral, instances counted and seconds per scene for one method on one scene set."""
    found, collateral, instances, seconds = [], [], [], 0.0
    for scene, target in zip(scenes, targets):
        started = time.perf_counter()
        result = editor.remove(render(scene), target, prompt=scene.caption if captioned else None, preset=preset, progress=False,
                               **METHODS[method])
        seconds += time.perf_counter() - started
        image = np.asarray(result.image.convert("RGB"))
        found.append(_names_array(image))
        collateral.append(pixel_scores(scene, target, image)[1])
        instances.append(result.instances)
    copies = [sum(o.name == t for o in s.objects) for s, t in zip(scenes, targets)]
    row = {"set": label, "method": method, "caption": captioned, "scenes": len(scenes),
           "exact": float(np.mean(exact_removals(scenes, targets, found))), "collateral": float(np.mean(collateral)),
           "instances_right": float(np.mean([n == c for n, c in zip(instances, copies)])), "seconds": seconds / len(scenes)}
    print(f"  {label}, {method}, {'caption' if captioned else 'no caption'}: exact {row['exact']:.2f} collateral "
          f"{row['collateral']:.3f} instances right {row['instances_right']:.2f}, {row['seconds']:.2f} s", flush=True)
    return row


def category_cases(count: int) -> tuple[list, list[str], list[bool]]:
    """Scenes with a colour or a shape as the target, alternately one the scene has and one it lacks."""
    scenes = removal_scenes(count, seed=CATEGORY_SEED)
    rng = np.random.default_rng(CATEGORY_SEED)
    targets, present = [], []
    for i, scene in enumerate(scenes):
        kinds = list(COLOURS) if i % 4 < 2 else list(SHAPES)
        has = {word for o in scene.objects for word in o.name.split()}
        pool = [k for k in kinds if (k in has) == (i % 2 == 0)] or kinds
        targets.append(pool[int(rng.integers(len(pool)))])
        present.append(targets[-1] in has)
    return scenes, targets, present


def category_row(editor, count: int, preset: str) -> dict:
    """Category targets: the presence check's accuracy, and for those present every matching object gone, the rest kept."""
    scenes, targets, present = category_cases(count)
    judged = [editor.presence(render(s), t).present for s, t in zip(scenes, targets)]
    every, kept = [], []
    for scene, target, there in zip(scenes, targets, present):
        if there:
            image = np.asarray(editor.remove(render(scene), target, preset=preset, progress=False, force=True).image.convert("RGB"))
            names = _names_array(image)
            every.append(not any(target in n.split() for n in names))
            kept.append(all(o.name in names for o in scene.objects if target not in o.name.split()))
    row = {"set": "category targets", "scenes": len(scenes), "presence_accuracy": float(np.mean(np.array(judged) == np.array(present))),
           "every_match_gone": float(np.mean(every)), "others_kept": float(np.mean(kept))}
    print(f"  category targets: presence accuracy {row['presence_accuracy']:.2f}, every match gone {row['every_match_gone']:.2f}, "
          f"others kept {row['others_kept']:.2f}", flush=True)
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="toyworld")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--hard", type=int, default=60, help="scenes of each built set (look-alikes, two instances)")
    parser.add_argument("--categories", type=int, default=40)
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    editor = cpu_editor(args.model, args.threads)
    held_out = _removal_targets(args.count)
    sets = [("held-out scenes", *held_out, False), ("held-out scenes", *held_out, True),
            ("target beside a same-colour and a same-shape look-alike", *lookalike_scenes(args.hard), False),
            ("two instances of the target", *twin_scenes(args.hard), False)]
    rows = [removal_row(editor, method, label, scenes, targets, captioned, args.preset)
            for label, scenes, targets, captioned in sets for method in METHODS]
    category = category_row(editor, args.categories, args.preset) if args.categories else None
    print("\n| scenes | localisation | caption | n | exact | collateral | instances counted right | s / scene |\n|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['set']} | {r['method']} | {'yes' if r['caption'] else 'no'} | {r['scenes']} | {r['exact']:.2f} | "
              f"{r['collateral']:.3f} | {r['instances_right']:.2f} | {r['seconds']:.2f} |")
    if category:
        print(f"\ncategory targets ({category['scenes']} scenes): presence accuracy {category['presence_accuracy']:.2f}; "
              f"where present, every match gone {category['every_match_gone']:.2f}, others kept {category['others_kept']:.2f}")


if __name__ == "__main__":
    main()
