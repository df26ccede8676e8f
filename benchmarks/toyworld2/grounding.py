"""Token grounding targets of world 2: each object or accessory word attends inside what it names.

The loss is the first world's (benchmarks/toyworld/grounding.py, TokenCompose's L_token); only the targets differ:
"face" grounds on the whole head, an accessory word on the accessory, a shape's colour and shape words on the shape.
Background words are left free.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from benchmarks.toyworld.architecture import make_tokenizer
from benchmarks.toyworld2.world import CANVAS, Face, Scene, face_parts, shape_mask

MAX_WORDS = 12  # grounded tokens per caption: two faces with two accessories and a shape need 8
LATENT = 16  # the UNet's latent side


@lru_cache(maxsize=None)
def _pieces(word: str) -> int:
    """BPE pieces of one caption word."""
    return len(make_tokenizer()(word).input_ids) - 2


def word_masks(scene: Scene) -> dict[int, np.ndarray]:
    """Token position -> boolean pixel mask of what that token names, for the scene's caption."""
    targets: list[tuple[str, np.ndarray]] = []  # (word, mask) in caption order
    for thing in scene.things:
        if isinstance(thing, Face):
            parts = face_parts(thing)
            targets.append(("face", parts["face"]))
            targets += [(a, parts[a]) for a in thing.accessories]
        else:
            mask = shape_mask(thing)
            targets += [(thing.colour, mask), (thing.shape, mask)]
    found: dict[int, np.ndarray] = {}
    position, next_target = 1, 0  # after the start token
    for word in scene.caption.split():
        pieces = _pieces(word)
        if next_target < len(targets) and word == targets[next_target][0]:
            for p in range(position, position + pieces):
                found[p] = targets[next_target][1]
            next_target += 1
        position += pieces
    if next_target != len(targets):
        raise ValueError(f"caption {scene.caption!r} does not name its things in order")
    return found


def grounding_targets(scenes: list[Scene]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per scene: token positions (N, MAX_WORDS, 1), -1 where unused, and coverage masks (N, MAX_WORDS, 16, 16)."""
    positions = torch.full((len(scenes), MAX_WORDS, 1), -1, dtype=torch.long)
    masks = torch.zeros(len(scenes), MAX_WORDS, LATENT, LATENT, dtype=torch.float16)
    cell = CANVAS // LATENT
    for n, scene in enumerate(scenes):
        for i, (position, mask) in enumerate(word_masks(scene).items()):
            positions[n, i, 0] = position
            coverage = mask.reshape(LATENT, cell, LATENT, cell).mean(axis=(1, 3))
            masks[n, i] = torch.from_numpy(coverage.astype(np.float32))
    return positions, masks
