"""Presence on the toy world: is the target found before editing, and is it still there after?

Half the scenes hold the target, half do not (a target drawn from the objects the scene lacks); the exact detector says
whether a removal left it. The scenes are not those the presence defaults were chosen on (seed 4242)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from benchmarks.quality_rows import _names_array
from benchmarks.toyworld.sets import OBJECTS, removal_scenes
from benchmarks.toyworld.world import render
from editor import Editor
from editor.photos.photo_io import photo_from_any
from unwant.presence import PresenceConfig
from unwant.presence.classifier import PROMPT_TEMPLATE, cell_errors
from unwant.sd.text import encode_prompt

PRESENCE_SEED = 4343  # scenes of this section; the defaults were tuned on removal_scenes(200, seed=4242)


@dataclass
class PresenceRow:
    section: str
    method: str
    samples: int
    accuracy: float | None = None  # share of photos judged right at the method's threshold
    auc: float | None = None  # ROC AUC of the score: present against absent
    flagged_left: float | None = None  # after removal: share of photos still holding the target that are flagged
    flagged_clean: float | None = None  # after removal: share of clean photos flagged (needless reviews)
    seconds: float | None = None  # per photo
    x_plain: float | None = None  # seconds over a plain 50-step text-to-image, measured in the same run


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count half): the Mann-Whitney U."""
    pos, neg = scores[labels], scores[~labels]
    return float(((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (len(pos) * len(neg)))


def presence_cases(count: int) -> tuple[list, list[str], np.ndarray]:
    """Scenes, a target for each and whether it is there: even scenes one of their objects, odd ones an object they lack."""
    scenes = removal_scenes(count, seed=PRESENCE_SEED)
    rng = np.random.default_rng(PRESENCE_SEED)
    targets, present = [], []
    for i, scene in enumerate(scenes):
        names = [o.name for o in scene.objects]
        pool = names if i % 2 == 0 else [o for o in OBJECTS if o not in names]
        targets.append(pool[int(rng.integers(len(pool)))])
        present.append(i % 2 == 0)
    return scenes, targets, np.array(present)


def plain_seconds(editor: Editor, repeats: int = 3) -> float:
    """Seconds of a plain 50-step text-to-image, the unit of the budget."""
    started = time.perf_counter()
    for seed in range(repeats):
        editor.generate("a red circle", seed=seed, steps=50, progress=False)
    return (time.perf_counter() - started) / repeats


def _whole_photo_score(editor: Editor, scene, target: str) -> float:
    """Baseline: the same rivals and noise, but the error summed over the whole photo (a plain diffusion classifier)."""
    z0, _ = editor.encode_photo(photo_from_any(render(scene)))
    config = PresenceConfig()
    names = [target, *editor.rivals_of(target, config.rivals)]
    embeddings = torch.cat([encode_prompt(editor.pipe, PROMPT_TEMPLATE.format(name=n)) for n in names])
    errors = cell_errors(editor.pipe, z0, embeddings, config).flatten(1).mean(1)
    return float(errors[1:].min() - errors[0])


def presence_rows(editor: Editor, count: int) -> list[PresenceRow]:
    """Before editing (the check and a whole-photo baseline) and after the default removal (the residual check)."""
    scenes, targets, present = presence_cases(count)
    unit = plain_seconds(editor)
    rows = []
    started = time.perf_counter()
    checks = [editor.presence(render(s), t) for s, t in zip(scenes, targets)]
    seconds = (time.perf_counter() - started) / len(scenes)
    scores = np.array([c.score for c in checks])
    judged = np.array([c.present for c in checks])
    rows.append(PresenceRow("presence", "before editing: per-cell check (Editor.presence)", len(scenes), float((judged == present).mean()),
                            roc_auc(present, scores), seconds=seconds, x_plain=seconds / unit))
    started = time.perf_counter()
    baseline = np.array([_whole_photo_score(editor, s, t) for s, t in zip(scenes, targets)])
    seconds = (time.perf_counter() - started) / len(scenes)
    best = max(float(((baseline > th) == present).mean()) for th in np.unique(baseline))
    rows.append(PresenceRow("presence", "before editing: whole-photo error, same rivals (best threshold)", len(scenes), best,
                            roc_auc(present, baseline), seconds=seconds, x_plain=seconds / unit))
    rows.append(_residual_row(editor, [s for s, p in zip(scenes, present) if p], [t for t, p in zip(targets, present) if p], unit))
    for row in rows:
        print(f"  {row.method}: accuracy {row.accuracy} auc {row.auc} flagged left {row.flagged_left} clean {row.flagged_clean} "
              f"s {row.seconds:.2f} x plain {row.x_plain:.2f}", flush=True)
    return rows


def _residual_row(editor: Editor, scenes, targets: list[str], unit: float) -> PresenceRow:
    """The default removal, no caption, then the check on its output: does it flag the photos the target survived in?"""
    left, flagged, seconds = [], [], 0.0
    for scene, target in zip(scenes, targets):
        edited = editor.remove(render(scene), target, progress=False).image
        started = time.perf_counter()
        flagged.append(editor.presence(edited, target).present)
        seconds += time.perf_counter() - started
        left.append(target in _names_array(np.asarray(edited.convert("RGB"))))
    left, flagged = np.array(left), np.array(flagged)
    share = lambda mask: float(flagged[mask].mean()) if mask.any() else None
    return PresenceRow("presence", f"after removal: residual check ({int(left.sum())} of {len(scenes)} still hold the target)", len(scenes),
                       float((flagged == left).mean()), flagged_left=share(left), flagged_clean=share(~left),
                       seconds=seconds / len(scenes), x_plain=seconds / len(scenes) / unit)


def presence_markdown(rows: list[PresenceRow]) -> str:
    fmt = lambda v, p=2: "" if v is None else f"{v:.{p}f}"
    lines = ["| presence | n | accuracy | ROC AUC | flagged: target left | flagged: clean | s / photo | x plain |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r.method} | {r.samples} | {fmt(r.accuracy)} | {fmt(r.auc, 3)} | {fmt(r.flagged_left)} | {fmt(r.flagged_clean)} | "
              f"{fmt(r.seconds)} | {fmt(r.x_plain)} |" for r in rows]
    return "\n".join(lines)
