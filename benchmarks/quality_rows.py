"""The rows of the toy-world quality benchmark: each section's methods run on seeded samples and scored by the exact
detector (absent, kept, exact) and by PSNR / SSIM outside the removed object's box."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from skimage.metrics import structural_similarity

from benchmarks.toyworld.detector import detect
from benchmarks.toyworld.sets import caption, fidelity_prompts, object_pairs, removal_scenes
from benchmarks.toyworld.world import CANVAS, COLOURS, object_mask, render
from editor import Editor
from editor.removal.request import REMOVE_PROMPT_TEMPLATE
from editor.photos.photo_io import from_model, photo_from_any
from editor.presets import PRESETS


@dataclass
class Row:
    section: str
    method: str
    samples: int
    unwanted_absent: float | None = None  # share of samples where the detector finds no unwanted object
    wanted_kept: float | None = None  # share where every wanted object is found (colour and shape)
    exact: float | None = None  # exactly the asked (fidelity) or the other (removal) objects, nothing else
    psnr: float | None = None  # outside the unwanted object's dilated box, against the input
    ssim: float | None = None
    remnant: float | None = None  # median over scenes: share of the target's footprint still in its colour
    collateral: float | None = None  # mean over scenes: share of the other objects' footprints changed
    seconds: float | None = None  # per image


def _names(image) -> list[str]:
    return [d.name for d in detect(np.asarray(image.convert("RGB")))]


def _rates(images, wanted: list[list[str]], unwanted: list[str]) -> tuple[float, float]:
    found = [_names(im) for im in images]
    absent = np.mean([y not in names for names, y in zip(found, unwanted)])
    kept = np.mean([all(x in names for x in xs) for names, xs in zip(found, wanted)])
    return float(absent), float(kept)


def generation_rows(editor: Editor, count: int, steps: int) -> list[Row]:
    """Text to image for "X and Y" pairs, Y unwanted: plain prompts, negative prompt, SWR only, SWR + ITO."""
    pairs = object_pairs(count)
    methods = {
        '"X without Y" prompt': lambda x, y, s: editor.generate(f"a {x} without a {y}", remove=[], seed=s, steps=steps, progress=False),
        '"X and Y" prompt (no suppression)': lambda x, y, s: editor.generate(f"a {x} and a {y}", seed=s, steps=steps, progress=False),
        "Y deleted from the prompt": lambda x, y, s: editor.generate(f"a {x}", seed=s, steps=steps, progress=False),
        'negative prompt "Y"': lambda x, y, s: editor.generate(f"a {x} and a {y}", seed=s, steps=steps, negative_prompt=f"a {y}", progress=False),
        "SWR only": lambda x, y, s: editor.generate(f"a {x} and a {y}", remove=y, seed=s, steps=steps, optimize=False, progress=False),
        "SWR + ITO (unwant)": lambda x, y, s: editor.generate(f"a {x} and a {y}", remove=y, seed=s, steps=steps, progress=False),
    }
    rows = []
    for name, run in methods.items():
        started = time.perf_counter()
        images = [run(x, y, seed).image for seed, (x, y) in enumerate(pairs)]
        seconds = (time.perf_counter() - started) / len(pairs)
        absent, kept = _rates(images, [[x] for x, _ in pairs], [y for _, y in pairs])
        rows.append(Row("generation", name, len(pairs), absent, kept, seconds=seconds))
        print(f"  {name}: absent {absent:.2f} kept {kept:.2f}", flush=True)
    return rows


def fidelity_rows(editor: Editor, count: int, steps: int) -> list[Row]:
    """Plain generation of 1- and 2-object prompts: exactly the asked objects, nothing else."""
    rows = []
    prompts = fidelity_prompts(count)
    for n in (1, 2):
        subset = [objs for objs in prompts if len(objs) == n]
        started = time.perf_counter()
        found = [sorted(_names(editor.generate(caption(objs), seed=1000 + i, steps=steps, progress=False).image)) for i, objs in enumerate(subset)]
        seconds = (time.perf_counter() - started) / len(subset)
        exact = float(np.mean([f == sorted(objs) for f, objs in zip(found, subset)]))
        rows.append(Row("fidelity", f"{n}-object prompts", len(subset), exact=exact, seconds=seconds))
        print(f"  fidelity {n}: {exact:.2f}", flush=True)
    return rows


def reconstruction_rows(editor: Editor, count: int, inversions: list[str]) -> list[Row]:
    """Invert and resample rendered scenes with their captions, no edit: PSNR / SSIM against the input,
    with the VAE round trip alone as the ceiling."""
    scenes = removal_scenes(count)
    images = [render(scene) for scene in scenes]
    rows = []
    started = time.perf_counter()
    decoded = [np.asarray(from_model(editor.decode(editor.encode_photo(photo_from_any(im))[0]), im.shape[1::-1])) for im in images]
    rows.append(_reconstruction_row("VAE round trip (ceiling)", images, decoded, (time.perf_counter() - started) / count))
    for inversion in inversions:
        started = time.perf_counter()
        outputs = [np.asarray(editor.reconstruct(im, prompt=s.caption, inversion=inversion, progress=False).image) for im, s in zip(images, scenes)]
        rows.append(_reconstruction_row(inversion, images, outputs, (time.perf_counter() - started) / count))
    return rows


def _reconstruction_row(name: str, inputs, outputs, seconds: float) -> Row:
    everywhere = np.ones(inputs[0].shape[:2], bool)
    scores = [background_scores(a, b, everywhere) for a, b in zip(inputs, outputs)]
    psnr, ssim = float(np.mean([p for p, _ in scores])), float(np.mean([q for _, q in scores]))
    print(f"  reconstruction {name}: psnr {psnr:.2f} ssim {ssim:.3f} {seconds:.1f} s", flush=True)
    return Row("reconstruction", name, len(inputs), psnr=psnr, ssim=ssim, seconds=seconds)


def _outside_box_mask(scene, target_name: str, margin: int = 4) -> np.ndarray:
    """True outside the unwanted object's bounding box grown by `margin` pixels."""
    keep = np.ones((64, 64), bool)
    for obj in scene.objects:
        if obj.name == target_name:
            x0, y0, x1, y1 = obj.box
            keep[max(0, y0 - margin) : y1 + margin, max(0, x0 - margin) : x1 + margin] = False
    return keep


def background_scores(original: np.ndarray, edited: np.ndarray, keep: np.ndarray) -> tuple[float, float]:
    """PSNR and mean SSIM over the `keep` pixels only."""
    a, b = original.astype(np.float64), edited.astype(np.float64)
    mse = float(((a - b) ** 2)[keep].mean())
    psnr = float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)
    _, ssim_map = structural_similarity(original, edited, channel_axis=-1, data_range=255, full=True, win_size=7)
    return psnr, float(ssim_map.mean(-1)[keep].mean())


def _removal_targets(count: int) -> tuple[list, list[str]]:
    """The seeded removal scenes and, for each, the object to remove."""
    scenes = removal_scenes(count)
    rng = np.random.default_rng(7)
    return scenes, [scene.objects[int(rng.integers(len(scene.objects)))].name for scene in scenes]


def exact_removals(scenes, targets: list[str], found: list[list[str]]) -> list[bool]:
    """Per scene: exactly the other objects found, once each (nothing drawn in the removed object's place either)."""
    return [sorted(f) == sorted(o.name for o in s.objects if o.name != t) for f, s, t in zip(found, scenes, targets)]


def _removal_row(method: str, scenes, targets: list[str], images: list[np.ndarray], seconds: float) -> Row:
    """Target gone, other objects kept, and the background outside the target's dilated box against the input."""
    found = [_names_array(im) for im in images]
    absent = float(np.mean([t not in f for f, t in zip(found, targets)]))
    kept = float(np.mean([all(o.name in f for o in s.objects if o.name != t) for f, s, t in zip(found, scenes, targets)]))
    exact = float(np.mean(exact_removals(scenes, targets, found)))
    scores = [background_scores(render(s), im, _outside_box_mask(s, t)) for s, im, t in zip(scenes, images, targets)]
    psnr = float(np.mean([min(p, 100.0) for p, _ in scores]))
    ssim = float(np.mean([q for _, q in scores]))
    pixels = [pixel_scores(s, t, im) for s, t, im in zip(scenes, targets, images)]
    remnant, collateral = float(np.median([r for r, _ in pixels])), float(np.mean([c for _, c in pixels]))
    print(f"  {method}: absent {absent:.2f} kept {kept:.2f} exact {exact:.2f} psnr {psnr:.1f} ssim {ssim:.3f} "
          f"remnant {remnant:.3f} collateral {collateral:.3f}", flush=True)
    return Row("removal", method, len(scenes), absent, kept, exact, psnr=psnr, ssim=ssim, remnant=remnant, collateral=collateral,
               seconds=seconds / len(scenes))


REMNANT_DISTANCE = 60  # RGB distance under which a pixel still has the removed object's colour
CHANGED_BY = 30  # a pixel of another object counts as changed when a channel moved by more than this


def pixel_scores(scene, target_name: str, image: np.ndarray) -> tuple[float, float]:
    """(share of the target's footprint still in the target's colour, share of the other objects' footprints changed)."""
    target = next(o for o in scene.objects if o.name == target_name)
    distance = np.linalg.norm(image.astype(np.float64) - np.array(COLOURS[target.colour]), axis=-1)
    remnant = float((distance[object_mask(target)] < REMNANT_DISTANCE).mean())
    others = np.zeros((CANVAS, CANVAS), bool)
    for obj in scene.objects:
        if obj.name != target_name:
            others |= object_mask(obj)
    changed = np.abs(image.astype(np.int64) - render(scene).astype(np.int64)).max(-1) > CHANGED_BY
    return remnant, float(changed[others].mean()) if others.any() else 0.0


def removal_rows(editor: Editor, count: int, inversions: list[str]) -> list[Row]:
    """Real-photo removal on rendered scenes: each inversion with suppression, with and without the blend,
    and a negative-prompt baseline on the same inversion."""
    scenes, targets = _removal_targets(count)
    rows = []
    for inversion in inversions:
        results: dict[str, list] = {"suppression + blend": [], "suppression, no blend": [], "negative prompt": []}
        seconds: dict[str, float] = {k: 0.0 for k in results}
        for scene, target in zip(scenes, targets):
            image = render(scene)
            for name in results:
                started = time.perf_counter()
                if name == "negative prompt":
                    result = _negative_prompt_removal(editor, image, scene, target, inversion)
                else:
                    result = editor.remove(image, target, prompt=scene.caption, inversion=inversion, blend=name.endswith("+ blend"), progress=False)
                seconds[name] += time.perf_counter() - started + (result.timings.get("invert", 0) if name != "suppression + blend" else 0)
                results[name].append(np.asarray(result.image.convert("RGB")))
        rows += [_removal_row(f"{inversion}: {name}", scenes, targets, images, seconds[name]) for name, images in results.items()]
    return rows


def _preset_removal_row(editor: Editor, method: str, scenes, targets: list[str], preset: str, captioned: bool = True, **options) -> Row:
    """Remove each scene's target with one preset's own settings (and `options` over its suppression settings), the
    scene's caption as the prompt unless not `captioned` (then the default prompt "a <target>")."""
    images, started = [], time.perf_counter()
    for scene, target in zip(scenes, targets):
        result = editor.remove(render(scene), target, prompt=scene.caption if captioned else None, preset=preset, progress=False, **options)
        images.append(np.asarray(result.image.convert("RGB")))
    return _removal_row(method, scenes, targets, images, time.perf_counter() - started)


def preset_rows(editor: Editor, count: int) -> list[Row]:
    """Real-photo removal with each preset on the removal scenes, and the fast preset once more without a caption."""
    scenes, targets = _removal_targets(count)
    rows = [_preset_removal_row(editor, f"preset {p}", scenes, targets, p) for p in PRESETS]
    return rows + [_preset_removal_row(editor, f'preset fast, no caption ("{REMOVE_PROMPT_TEMPLATE}")', scenes, targets, "fast", captioned=False)]


def position_rows(editor: Editor, count: int) -> list[Row]:
    """The fast preset on the removal scenes with the first, then the last object of the caption as the target; the
    first once more with the paper's SWR rows only: a causal text encoder carries a target into the words after it."""
    scenes, _ = _removal_targets(count)
    first, last = [s.objects[0].name for s in scenes], [s.objects[-1].name for s in scenes]
    return [_preset_removal_row(editor, "preset fast, target first in the caption", scenes, first, "fast"),
            _preset_removal_row(editor, "preset fast, target first, paper's SWR rows (target + [EOT] only)", scenes, first, "fast",
                                suppress_words_after=False),
            _preset_removal_row(editor, "preset fast, target last in the caption", scenes, last, "fast")]


def _names_array(image: np.ndarray) -> list[str]:
    return [d.name for d in detect(image)]


def _negative_prompt_removal(editor: Editor, image, scene, target: str, inversion: str):
    """Baseline on the same (cached) inversion: resample with the target deleted from the caption and
    "a <target>" as the negative prompt, no suppression, no blend."""
    others = caption([o.name for o in scene.objects if o.name != target])
    return editor.reconstruct(image, prompt=scene.caption, inversion=inversion, resample_prompt=others,
                              negative_prompt=f"a {target}", progress=False)
