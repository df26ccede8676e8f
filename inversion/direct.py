"""Direct inversion: snap the source branch back onto the DDIM pivots after each step, Ju et al. ICLR 2024."""

from __future__ import annotations

import torch

from inversion.result import InversionResult
from inversion.ddim import pivot_inversion


def direct_offset(z_stepped: torch.Tensor, pivot_next: torch.Tensor) -> torch.Tensor:
    """The offset that moves the source branch's stepped latent onto the next pivot, Ju et al. ICLR 2024."""
    return pivot_next - z_stepped


def invert_direct(
    pipe, z0: torch.Tensor, prompt_embeds: torch.Tensor, steps: int = 50, guidance: float = 7.5
) -> InversionResult:
    """DDIM pivots with the plain empty-prompt embedding; the sampler adds direct_offset to the source branch."""
    return pivot_inversion(pipe, z0, prompt_embeds, steps, guidance, "direct", None)
