"""Clean removal on the toy world: the headline use (no caption) and the captioned use with each preset, what each idea
of the clean fill earns (ablation rows), the baselines on the same scenes, and generation with the target named first
or last."""

from __future__ import annotations

import time

import numpy as np

from benchmarks.quality_rows import Row, _rates, _removal_row, _removal_targets
from benchmarks.toyworld.sets import object_pairs
from benchmarks.toyworld.world import render
from editor import Editor
from editor.removal.masks import MaskConfig

# what the clean fill is made of, taken away one at a time (the fast preset): each row says what its idea earns
ABLATIONS = {
    "fill: the surroundings alone, not repainted": {"fill": "surroundings"},
    "fill: the model's suppressed image (the paper's)": {"fill": "model"},
    "mask: the attention blob, not snapped to the object": {"mask": MaskConfig(snap=False)},
    "before: model's image, every attention blob over the threshold": {"fill": "model", "mask": MaskConfig(snap=False, peak_share=0.0)},
}


def clean_rows(editor: Editor, count: int, presets: list[str]) -> list[Row]:
    """Each preset without and with a caption; with fast, also each idea taken away from it, and the baseline.

    Scene by scene, so the variants that differ only after the denoising loop reuse its branches (the editor keeps the
    last removal): their seconds are the fill's and the mask's alone."""
    scenes, targets = _removal_targets(count)
    rows = []
    for captioned in (False, True):
        variants = {f"{preset}, {_caption_label(captioned)}": (preset, {}) for preset in presets}
        if "fast" in presets:  # the ablations are variants of the fast preset
            variants.update({f"fast, {_caption_label(captioned)}, {label}": ("fast", options) for label, options in ABLATIONS.items()})
        images: dict[str, list[np.ndarray]] = {name: [] for name in variants}
        seconds = dict.fromkeys(variants, 0.0)
        for scene, target in zip(scenes, targets):
            for name, (preset, options) in sorted(variants.items(), key=lambda item: item[1][0] != "fast"):  # fast first
                started = time.perf_counter()
                result = editor.remove(render(scene), target, prompt=scene.caption if captioned else None, preset=preset,
                                       progress=False, **options)
                seconds[name] += time.perf_counter() - started
                images[name].append(np.asarray(result.image.convert("RGB")))
        rows += [_removal_row(name, scenes, targets, images[name], seconds[name]) for name in variants]
        if "fast" in presets:  # the baseline with the ablations: `--presets reference` measures that preset alone
            rows.append(_negative_prompt_row(editor, scenes, targets, captioned))
    return [_as_clean(row) for row in rows]


def _caption_label(captioned: bool) -> str:
    return "caption" if captioned else "no caption"


def _as_clean(row: Row) -> Row:
    row.section = "clean"
    return row


def _negative_prompt_row(editor: Editor, scenes, targets: list[str], captioned: bool) -> Row:
    """Baseline: DDIM inversion, resampled with the target left out of the prompt and "a <target>" as the negative
    prompt; no suppression, no mask, no fill. (Not direct inversion: it snaps every step back onto the photo's own
    trajectory, whatever the prompt, so its "resample" is the photo.)"""
    images, started = [], time.perf_counter()
    for scene, target in zip(scenes, targets):
        others = " and ".join(f"a {o.name}" for o in scene.objects if o.name != target)
        prompt = scene.caption if captioned else f"a {target}"
        result = editor.reconstruct(render(scene), prompt=prompt, inversion="ddim", resample_prompt=others if captioned else "",
                                    negative_prompt=f"a {target}", steps=40, progress=False)
        images.append(np.asarray(result.image.convert("RGB")))
    return _removal_row(f"baseline, {_caption_label(captioned)}: negative-prompt resample (DDIM inversion)", scenes, targets, images,
                        time.perf_counter() - started)


def order_rows(editor: Editor, count: int, steps: int) -> list[Row]:
    """Generation of "a Y and a X" and "a X and a Y" with Y removed: does the rest of the prompt survive either order?"""
    pairs = object_pairs(count)
    rows = []
    for name, prompt_of in (("Y first: \"a Y and a X\"", lambda x, y: f"a {y} and a {x}"), ("Y last: \"a X and a Y\"", lambda x, y: f"a {x} and a {y}")):
        started = time.perf_counter()
        images = [editor.generate(prompt_of(x, y), remove=y, seed=seed, steps=steps, progress=False).image for seed, (x, y) in enumerate(pairs)]
        absent, kept = _rates(images, [[x] for x, _ in pairs], [y for _, y in pairs])
        rows.append(Row("order", name, len(pairs), absent, kept, seconds=(time.perf_counter() - started) / len(pairs)))
        print(f"  {name}: absent {absent:.2f} kept {kept:.2f}", flush=True)
    return rows
