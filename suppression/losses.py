"""Inference-time optimization losses on attention maps (Li et al. 2024, Sec. 3.4, Eq. 5, and the reference code)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from suppression.config import SuppressionConfig


def map_distance(original: torch.Tensor, suppressed: torch.Tensor) -> torch.Tensor:
    """1 - cosine similarity of two maps, flattened (the reference code's distance)."""
    return 1 - F.cosine_similarity(original.flatten(), suppressed.flatten(), dim=0)


def _token_distance(cross: torch.Tensor, cross_hat: torch.Tensor, positions: Sequence[int]) -> torch.Tensor:
    """Mean over tokens of the per-token map distance; cross maps are (pixels, tokens)."""
    return torch.stack([map_distance(cross[:, p], cross_hat[:, p]) for p in positions]).mean()


def _pixels_over(cross: torch.Tensor, positions: Sequence[int], ratio: float) -> torch.Tensor:
    """Pixels where the tokens' mean cross-attention exceeds ratio x its maximum."""
    attention = cross[:, list(positions)].mean(-1)
    return attention > ratio * attention.max()


def reference_loss(
    cross: torch.Tensor,
    cross_hat: torch.Tensor,
    self_attn: torch.Tensor,
    self_hat: torch.Tensor,
    kept: Sequence[int],
    erased: Sequence[int],
    config: SuppressionConfig,
) -> torch.Tensor:
    """Reference-code form: keep the wanted words' maps and their pixels' self-attention, push the unwanted ones' away."""
    loss = -config.erase_weight * _token_distance(cross, cross_hat, erased)
    erase_pixels = _pixels_over(cross, erased, config.erase_pixel_threshold)
    loss = loss - config.self_erase_weight * map_distance(self_attn[erase_pixels], self_hat[erase_pixels])
    if kept:
        loss = loss + config.retain_weight * _token_distance(cross, cross_hat, kept)
        keep_pixels = _pixels_over(cross, kept, config.retain_pixel_threshold)
        loss = loss + config.self_retain_weight * map_distance(self_attn[keep_pixels], self_hat[keep_pixels])
    return loss


def paper_loss(cross: torch.Tensor, cross_hat: torch.Tensor, kept: Sequence[int], erased: Sequence[int], config: SuppressionConfig) -> torch.Tensor:
    """Eq. 5: lambda_pl ||A_hat_PE - A_PE||^2 - lambda_nl ||A_hat_NE - A_NE||^2."""
    erase = (cross_hat[:, list(erased)] - cross[:, list(erased)]).pow(2).sum()
    loss = -config.erase_weight * erase
    if kept:
        loss = loss + config.retain_weight * (cross_hat[:, list(kept)] - cross[:, list(kept)]).pow(2).sum()
    return loss
