"""World 2's vocabulary and fixed, seeded scene sets, shared by the benchmarks and the tests."""

from __future__ import annotations

import numpy as np

from benchmarks.toyworld2.world import ACCESSORIES, SHAPES, Scene, sample_scene
from benchmarks.toyworld2.palette import SHAPE_COLOURS

SHAPE_NAMES = [f"{c} {s}" for c in SHAPE_COLOURS for s in SHAPES]
VOCABULARY = ["face", *ACCESSORIES, *SHAPE_NAMES]  # every name a scene can hold


def held_out_scenes(count: int, kind: str | None = None, seed: int = 2029) -> list[Scene]:
    """Scenes no training run draws (training uses seed 0's stream)."""
    rng = np.random.default_rng(seed)
    return [sample_scene(rng, kind) for _ in range(count)]
