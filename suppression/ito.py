"""Inference-time text-embedding optimization (Li et al. 2024, Sec. 3.4): gradient steps on the suppressed embedding."""

from __future__ import annotations

from collections.abc import Callable

import torch

from suppression.config import SuppressionConfig
from suppression.losses import paper_loss, reference_loss
from suppression.tokens import TokenLayout

MapsFn = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]  # embedding -> (cross, self) maps, with grad


def step_sizes(eta: float, steps: int) -> torch.Tensor:
    """eta * sqrt(linspace(1, 0.1, T)), indexed by the step: the reference code's decaying step size."""
    return eta * torch.linspace(1.0, 0.1, steps).sqrt()


def attention_loss(
    cross: torch.Tensor,
    cross_hat: torch.Tensor,
    self_attn: torch.Tensor,
    self_hat: torch.Tensor,
    layout: TokenLayout,
    size: tuple[int, int],
    config: SuppressionConfig,
) -> torch.Tensor:
    """The configured loss between the original branch's maps and the suppressed branch's, maps of `size` pixels."""
    kept, erased = layout.kept_positions, layout.target_positions
    if config.loss == "paper":
        return paper_loss(cross, cross_hat, kept, erased, config)
    return reference_loss(cross, cross_hat, self_attn, self_hat, kept, erased, size, config)


def optimize_embedding(
    start: torch.Tensor,
    maps_of: MapsFn,
    cross: torch.Tensor,
    self_attn: torch.Tensor,
    layout: TokenLayout,
    size: tuple[int, int],
    config: SuppressionConfig,
    step_size: float,
) -> torch.Tensor:
    """c_hat <- c_hat - step_size * grad L, `ito_iterations` times, from a fresh SWR embedding; the whole matrix moves."""
    embedding = start.detach()
    for _ in range(config.ito_iterations):
        embedding = embedding.clone().requires_grad_(True)
        with torch.enable_grad():
            cross_hat, self_hat = maps_of(embedding)
            loss = attention_loss(cross, cross_hat, self_attn, self_hat, layout, size, config)
            (grad,) = torch.autograd.grad(loss, embedding)
        embedding = (embedding - step_size * grad).detach()
    return embedding
