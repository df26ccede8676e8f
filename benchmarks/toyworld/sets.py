"""Fixed, seeded prompt and scene sets of the toy world, shared by the benchmarks and the tests."""

from __future__ import annotations

import itertools

import numpy as np

from benchmarks.toyworld.world import BACKGROUND_RANGE, CANVAS, COLOURS, RADIUS_RANGE, SHAPES, Scene, SceneObject, boxes_apart, sample_scene

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


def _scene_of(rng: np.random.Generator, kinds: list[tuple[str, str]]) -> Scene:
    """A scene holding exactly these (colour, shape) objects, placed apart by rejection; colours may repeat."""
    while True:
        top, bottom = (tuple(int(v) for v in rng.integers(BACKGROUND_RANGE[0], BACKGROUND_RANGE[1] + 1, 3)) for _ in range(2))
        placed: list[SceneObject] = []
        for colour, shape in kinds:
            for _ in range(200):
                r = int(rng.integers(RADIUS_RANGE[0], RADIUS_RANGE[1] + 1))
                obj = SceneObject(colour, shape, int(rng.integers(r, CANVAS - r + 1)), int(rng.integers(r, CANVAS - r + 1)), r)
                if all(boxes_apart(obj, other) for other in placed):
                    placed.append(obj)
                    break
        if len(placed) == len(kinds):
            return Scene(top, bottom, tuple(placed))


def twin_scenes(count: int, seed: int = 3301) -> tuple[list[Scene], list[str]]:
    """Two instances of the target and one other object; the target's name for each. (The localisation's settings were
    chosen on seeds 77 and 3201: the default draws others.)"""
    rng = np.random.default_rng(seed)
    scenes, targets = [], []
    for _ in range(count):
        colour, shape = str(rng.choice(list(COLOURS))), str(rng.choice(SHAPES))
        other = str(rng.choice([c for c in COLOURS if c != colour])), str(rng.choice(SHAPES))
        scenes.append(_scene_of(rng, [(colour, shape), other, (colour, shape)]))
        targets.append(f"{colour} {shape}")
    return scenes, targets


def lookalike_scenes(count: int, seed: int = 3302) -> tuple[list[Scene], list[str]]:
    """The target beside a look-alike of its colour and one of its shape, in a shuffled order; the target's name. (Chosen
    on seeds 78 and 3202.)"""
    rng = np.random.default_rng(seed)
    scenes, targets = [], []
    for _ in range(count):
        colour, shape = str(rng.choice(list(COLOURS))), str(rng.choice(SHAPES))
        kinds = [(colour, shape), (colour, str(rng.choice([s for s in SHAPES if s != shape]))),
                 (str(rng.choice([c for c in COLOURS if c != colour])), shape)]
        scenes.append(_scene_of(rng, [kinds[i] for i in rng.permutation(3)]))
        targets.append(f"{colour} {shape}")
    return scenes, targets
