"""Token grounding for training: each object's colour and shape words attend inside that object.

TokenCompose (Wang et al. 2024, eq. 3, L_token): (1 - sum_{mask} A / sum A)^2 per word token and cross-attention
layer. Without it the toy model's cross-attention maps came out the same for every word (all objects' edges), so the
method's attention mask and losses, which read one word's maps, had nothing to single out.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import UNet2DConditionModel

from benchmarks.toyworld.world import CANVAS, Scene, object_mask

MAX_OBJECTS = 3
LATENT = 16  # the UNet's 16 x 16 latent: masks are stored at this size and pooled to each layer's


def word_positions(scene: Scene) -> list[tuple[int, int]]:
    """(colour, shape) token positions of each object: captions are "a C S and a C S ...", one BPE piece per word,
    after the start token."""
    return [(2 + 4 * i, 3 + 4 * i) for i in range(len(scene.objects))]


def grounding_targets(scenes: list[Scene]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per scene: token positions (N, 3, 2), -1 where no object, and object coverage masks (N, 3, 16, 16) in [0, 1]."""
    positions = torch.full((len(scenes), MAX_OBJECTS, 2), -1, dtype=torch.long)
    masks = torch.zeros(len(scenes), MAX_OBJECTS, LATENT, LATENT, dtype=torch.float16)
    cell = CANVAS // LATENT
    for n, scene in enumerate(scenes):
        for i, (obj, pos) in enumerate(zip(scene.objects, word_positions(scene))):
            positions[n, i] = torch.tensor(pos)
            coverage = object_mask(obj).reshape(LATENT, cell, LATENT, cell).mean(axis=(1, 3))
            masks[n, i] = torch.from_numpy(coverage.astype(np.float32))
    return positions, masks


class CrossAttentionMaps:
    """Collects the head-averaged probabilities (batch, pixels, tokens), with gradient, of the `layers` that
    suppression.attention.recording_attention installs its recording processors on."""

    def __init__(self, layers: list[str]):
        self.layers = set(layers)
        self.maps: list[torch.Tensor] = []

    def report(self, name: str, probs: torch.Tensor, heads: int, is_cross: bool) -> None:
        self.maps.append(probs.unflatten(0, (-1, heads)).mean(1))


def grounded_layers(unet: UNet2DConditionModel) -> list[str]:
    """Every down/up cross-attention layer (the 4 x 4 middle block is too coarse for a 7 px object)."""
    return [name for name in unet.attn_processors if "attn2" in name and not name.startswith("mid_block")]


def token_grounding_loss(maps: list[torch.Tensor], positions: torch.Tensor, masks: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Mean over layers, kept rows and present words of (1 - attention mass inside the object)^2."""
    rows = keep.nonzero().squeeze(1)
    if len(rows) == 0:
        return torch.zeros(())
    positions, masks = positions[rows], masks[rows].float()
    present = positions[..., 0] >= 0  # (rows, objects)
    losses = []
    for layer in maps:
        side = int(layer.shape[1] ** 0.5)
        inside = F.adaptive_avg_pool2d(masks, side).flatten(2)  # (rows, objects, pixels)
        attention = layer[rows].transpose(1, 2)  # (rows, tokens, pixels)
        for word in range(positions.shape[-1]):  # the first world grounds two words per object, the second one
            index = positions[..., word].clamp(min=0)  # (rows, objects)
            a = torch.gather(attention, 1, index[..., None].expand(-1, -1, attention.shape[2]))  # (rows, objects, pixels)
            share = (a * inside).sum(-1) / a.sum(-1).clamp(min=1e-8)
            losses.append(((1 - share) ** 2)[present])
    return torch.cat(losses).mean()
