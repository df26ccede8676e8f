"""Inference-time optimization losses on attention maps (Li et al. 2024, Sec. 3.4).

Two forms, chosen by `SuppressionConfig.loss`:
- "reference": what the reference code optimizes (sen-mao/SuppressEOT, losses/attn_loss.py, with the weights of
  suppress_eot_w_nulltext.py): sums of 1 - cos over tokens, and over every pixel of each word's own mask of 1 - cos
  of the self-attention's columns, in float64. The default: the step sizes 20 and 5 were tuned for its magnitudes.
- "paper": Eq. 5, squared norms of the cross-attention maps only.

unwant's earlier form (means over tokens, one pixel set from the words' mean map, float32; about 1/10 of this loss and
1/3-1/5 of its gradient) was dropped after the ablation in README ("What ITO earns") found it no better.

Maps are (pixels, tokens) cross-attention and (query pixels, key pixels) self-attention of one photo, averaged over
the recorded layers and heads; `size` is the maps' (height, width).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from suppression.config import SuppressionConfig

MASK_SIDE = 256  # the reference code draws every word's mask at 256 x 256, whatever the maps' size


def precise(maps: torch.Tensor) -> torch.Tensor:
    """float64, as the reference code computes its loss; float32 on Apple's mps, which has no float64."""
    return maps.float() if maps.device.type == "mps" else maps.double()


def column_distances(original: torch.Tensor, suppressed: torch.Tensor) -> torch.Tensor:
    """1 - cos of each column with its match: per token of cross-attention, per key pixel of self-attention."""
    return 1 - F.cosine_similarity(original, suppressed, dim=0)


def word_masks(cross: torch.Tensor, positions: Sequence[int], threshold: float, size: tuple[int, int]) -> torch.Tensor:
    """(words, pixels) True where each word's mask is, drawn as the reference code draws it: the word's map scaled to
    255 / max, bilinear to 256 x 256, 255 where >= threshold x that image's max else 0, bilinear back, > 0."""
    maps = cross[:, list(positions)].T.reshape(len(positions), 1, *size)
    maps = 255 * maps / maps.amax((2, 3), keepdim=True)
    large = F.interpolate(maps, size=(MASK_SIDE, MASK_SIDE), mode="bilinear")
    binary = torch.where(large >= threshold * large.amax((2, 3), keepdim=True), 255.0, 0.0).to(large)
    return F.interpolate(binary, size=size, mode="bilinear").flatten(1) > 0


def reference_loss(
    cross: torch.Tensor,
    cross_hat: torch.Tensor,
    self_attn: torch.Tensor,
    self_hat: torch.Tensor,
    kept: Sequence[int],
    erased: Sequence[int],
    size: tuple[int, int],
    config: SuppressionConfig,
) -> torch.Tensor:
    """The reference code's loss (sen-mao/SuppressEOT; README: What ITO earns), float64: with d = 1 - cos over all pixels,

        L =   w_r  * sum_{i kept} d(A_i, Â_i)               - w_e  * sum_{i erased} d(A_i, Â_i)
            + w_sr * sum_{i kept} sum_{j in mask_i} d(S_j, Ŝ_j) - w_se * sum_{i erased} sum_{j in mask_i} d(S_j, Ŝ_j)

    S_j the self-attention's column j (how every pixel attends to j); a pixel in several words' masks counts for each.
    """
    cross, cross_hat, self_attn, self_hat = (precise(m) for m in (cross, cross_hat, self_attn, self_hat))
    kept, erased = list(kept), list(erased)
    pixel_distances = column_distances(self_attn, self_hat)

    def term(positions: list[int], weight: float, self_weight: float, threshold: float) -> torch.Tensor:
        if not positions:
            return pixel_distances.new_zeros(())
        tokens = column_distances(cross[:, positions], cross_hat[:, positions]).sum()
        masks = word_masks(cross, positions, threshold, size).to(pixel_distances)
        return weight * tokens + self_weight * (masks @ pixel_distances).sum()

    keep = term(kept, config.retain_weight, config.self_retain_weight, config.retain_pixel_threshold)
    push = term(erased, config.erase_weight, config.self_erase_weight, config.erase_pixel_threshold)
    return keep - push


def paper_loss(cross: torch.Tensor, cross_hat: torch.Tensor, kept: Sequence[int], erased: Sequence[int], config: SuppressionConfig) -> torch.Tensor:
    """Eq. 5: lambda_pl ||A_hat_PE - A_PE||^2 - lambda_nl ||A_hat_NE - A_NE||^2."""
    erase = (cross_hat[:, list(erased)] - cross[:, list(erased)]).pow(2).sum()
    loss = -config.erase_weight * erase
    if kept:
        loss = loss + config.retain_weight * (cross_hat[:, list(kept)] - cross[:, list(kept)]).pow(2).sum()
    return loss
