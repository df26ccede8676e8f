"""The rows of world 2's benchmark: removal by task and fill, generation, the paper's Figure 1 in small, reconstruction."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from benchmarks.toyworld2.cases import TASKS, Case, judge, removal_cases
from benchmarks.toyworld2.detector import detect
from benchmarks.toyworld2.roundtrip import psnr
from benchmarks.toyworld2.sets import SHAPE_NAMES, held_out_scenes
from benchmarks.toyworld2.world import render
from editor import Editor
from benchmarks.fill_variants import FILL_VARIANTS
from benchmarks.regions import psnr_where, seam_band
from editor.photos.photo_io import from_model, photo_from_any

BASELINE = "negative prompt"  # DDIM inversion resampled with the caption without the target, "a <target>" as negative
METHODS = (*FILL_VARIANTS, BASELINE)


@dataclass
class Row:
    section: str
    method: str
    samples: int
    scores: dict[str, float] = field(default_factory=dict)  # each score's mean over the samples
    seconds: float | None = None  # per sample


def _mean_scores(scores: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.nanmean([s[k] for s in scores])) for k in scores[0]}


def _baseline(editor: Editor, case: Case, captioned: bool) -> np.ndarray:
    """No suppression, no mask: invert with the caption (or "a <target>"), resample with the target left out of it and
    "a <target>" as the negative prompt (benchmarks/clean_rows.py's baseline, on world 2)."""
    prompt = case.scene.caption if captioned else f"a {case.target}"
    result = editor.reconstruct(render(case.scene), prompt=prompt, inversion="ddim", resample_prompt=case.caption_without if captioned else "",
                                negative_prompt=f"a {case.target}", steps=40, progress=False)
    return np.asarray(result.image.convert("RGB"))


def _seam(case: Case, image: np.ndarray, mask) -> dict[str, float]:
    """The seam's PSNR against the truth: 3 pixels either side of the removal mask's edge (NaN for the baseline)."""
    return {"seam_psnr": float("nan") if mask is None else psnr_where(image, case.truth, seam_band(np.asarray(mask)))}


def removal_rows(editor: Editor, tasks: list[str], count: int, methods: list[str], preset: str, captions: tuple[bool, ...] = (False, True)) -> list[Row]:
    """Each task, without and with a caption, removed with each method on the same held-out scenes.

    Scene by scene, the fills after one another: the editor keeps the last removal's branches, so the fills that
    differ only after the denoising loop reuse it and their seconds are the fill's alone."""
    rows = []
    for task in tasks:
        cases = removal_cases(task, count)
        for captioned in captions:
            scores: dict[str, list] = {m: [] for m in methods}
            seconds = dict.fromkeys(methods, 0.0)
            for case in cases:
                for method in methods:
                    started = time.perf_counter()
                    if method == BASELINE:
                        image = _baseline(editor, case, captioned)
                    else:
                        result = editor.remove(render(case.scene), case.target, prompt=case.scene.caption if captioned else None,
                                               preset=preset, progress=False, **FILL_VARIANTS[method])
                        image = np.asarray(result.image.convert("RGB"))
                    seconds[method] += time.perf_counter() - started
                    scores[method].append(judge(case, image) | _seam(case, image, None if method == BASELINE else result.mask))
            for method in methods:
                label = f"{task}, {'caption' if captioned else 'no caption'}, {method if method == BASELINE else 'fill ' + method}"
                row = Row("removal", label, len(cases), _mean_scores(scores[method]), seconds[method] / len(cases))
                print(f"  {label}: " + " ".join(f"{k} {v:.2f}" for k, v in row.scores.items()), flush=True)
                rows.append(row)
    return rows


ONE_THING_PROMPTS = ["a face", "a face with glasses", "a face with sunglasses", "a face with a hat", *(f"a {s}" for s in SHAPE_NAMES)]


def generation_rows(editor: Editor, count: int, steps: int) -> list[Row]:
    """One-thing prompts: exactly the asked things (eyes and shadows aside), and both eyes on faces without sunglasses."""
    exact, eyes, faces = [], [], 0
    started = time.perf_counter()
    for i in range(count):
        prompt = ONE_THING_PROMPTS[i % len(ONE_THING_PROMPTS)]
        found = Counter(detect(np.asarray(editor.generate(prompt, seed=3000 + i, steps=steps, progress=False).image.convert("RGB"))))
        asked = Counter(_asked(prompt))
        exact.append(float(Counter({k: v for k, v in found.items() if k not in ("eyes", "shadow")}) == asked))
        if "face" in asked and "sunglasses" not in asked:
            faces += 1
            eyes.append(float(found["face"] == 1 and found["eyes"] == 1))
    seconds = (time.perf_counter() - started) / count
    return [Row("generation", "one-thing prompts: exactly the asked things", count, {"exact": float(np.mean(exact))}, seconds),
            Row("generation", "faces without sunglasses: one face, both eyes visible", faces, {"eyes": float(np.mean(eyes))}, seconds)]


def _asked(prompt: str) -> list[str]:
    words = prompt.removeprefix("a ").split(" with ")
    if words[0] != "face":
        return [words[0]]
    return ["face"] + ([words[1].removeprefix("a ")] if len(words) > 1 else [])


FIGURE_1 = {  # prompt -> the accessory whose presence is counted
    '"a face without glasses" (plain, no suppression)': ("a face without glasses", "glasses"),
    '"a face with glasses"': ("a face with glasses", "glasses"),
    '"a face without sunglasses" (plain)': ("a face without sunglasses", "sunglasses"),
    '"a face without a hat" (plain)': ("a face without a hat", "hat"),
}


def figure1_rows(editor: Editor, count: int, steps: int) -> list[Row]:
    """The paper's Figure 1 in small: how often a plain model draws what "without" asks it not to."""
    rows = []
    for label, (prompt, accessory) in FIGURE_1.items():
        started = time.perf_counter()
        drawn = [accessory in detect(np.asarray(editor.generate(prompt, remove=[], seed=4000 + i, steps=steps, progress=False).image.convert("RGB")))
                 for i in range(count)]
        rows.append(Row("figure 1", label, count, {"drawn": float(np.mean(drawn))}, (time.perf_counter() - started) / count))
        print(f"  {label}: drawn {np.mean(drawn):.2f}", flush=True)
    return rows


def reconstruction_rows(editor: Editor, count: int, inversions: list[str]) -> list[Row]:
    """Invert and resample held-out scenes with their captions, no edit, against the VAE round trip alone."""
    scenes = held_out_scenes(count, seed=3131)
    images = [render(s) for s in scenes]
    started = time.perf_counter()
    decoded = [np.asarray(from_model(editor.decode(editor.encode_photo(photo_from_any(im))[0]), im.shape[1::-1]).convert("RGB")) for im in images]
    rows = [Row("reconstruction", "VAE round trip (ceiling)", count, {"psnr": float(np.mean([psnr(a, b) for a, b in zip(images, decoded)]))},
                (time.perf_counter() - started) / count)]
    for inversion in inversions:
        started = time.perf_counter()
        out = [np.asarray(editor.reconstruct(im, prompt=s.caption, inversion=inversion, progress=False).image.convert("RGB")) for im, s in zip(images, scenes)]
        rows.append(Row("reconstruction", inversion, count, {"psnr": float(np.mean([psnr(a, b) for a, b in zip(images, out)]))},
                        (time.perf_counter() - started) / count))
    return rows


def markdown(rows: list[Row]) -> str:
    """One table per section, a column per score."""
    tables = []
    for section in dict.fromkeys(r.section for r in rows):
        part = [r for r in rows if r.section == section]
        keys = list(dict.fromkeys(k for r in part for k in r.scores))
        lines = [f"| {section} | n | " + " | ".join(keys) + " | s / image |", "|---|---|" + "---|" * (len(keys) + 1)]
        for r in part:
            cells = ["" if k not in r.scores else f"{r.scores[k]:.2f}" if "psnr" not in k else f"{r.scores[k]:.1f}" for k in keys]
            lines.append(f"| {r.method} | {r.samples} | " + " | ".join(cells) + f" | {r.seconds:.1f} |")
        tables.append("\n".join(lines))
    return "\n\n".join(tables)


__all__ = ["METHODS", "TASKS", "Row", "figure1_rows", "generation_rows", "markdown", "reconstruction_rows", "removal_rows"]
