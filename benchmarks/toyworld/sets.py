"""Fixed, seeded prompt and scene sets of the toy world, shared by the benchmarks and the tests."""

from __future__ import annotations

import itertools

import numpy as np

from benchmarks.toyworld.world import COLOURS, SHAPES, Scene, sample_scene

OBJECTS = [f"{c} {s}" for c in COLOURS for s in SHAPES]


def object_pairs(count: int, seed: int = 0) -> list[tuple[str, str]]:
    """(wanted X, unwanted Y) pairs of different colours, in a seeded order."""
    pairs = [(x, y) for x, y in itertools.permutations(OBJECTS, 2) if x.split()[0] != y.split()[0]]
    order = np.random.default_rng(seed).permutation(len(pairs))
    return [pairs[i] for i in order[:count]]


def fidelity_prompts(count: int, seed: int = 1) -> list[list[str]]:
    """Object lists for 1- and 2-object prompts (half each), in a seeded order."""
    rng = np.random.default_rng(seed)
    singles = [[o] for o in OBJECTS]
    doubles = [[x, y] for x, y in object_pairs(10_000, seed)]
    picks = [singles[i % len(singles)] for i in rng.permutation(len(singles))] * (count // (2 * len(singles)) + 1)
    return picks[: count // 2] + doubles[: count - count // 2]


def removal_scenes(count: int, seed: int = 2024) -> list[Scene]:
    """Scenes of two or three objects for real-photo removal (rendered, never generated)."""
    rng = np.random.default_rng(seed)
    return [sample_scene(rng, n_objects=int(rng.integers(2, 4))) for _ in range(count)]


def caption(objects: list[str]) -> str:
    return " and ".join(f"a {o}" for o in objects)
