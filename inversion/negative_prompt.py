"""Negative-prompt inversion: the prompt embedding stands in for the null embedding, Miyake et al. 2023."""

from __future__ import annotations

import torch

from inversion.result import InversionResult
from inversion.ddim import pivot_inversion


def invert_negative_prompt(
    pipe, z0: torch.Tensor, prompt_embeds: torch.Tensor, steps: int = 50, guidance: float = 7.5
) -> InversionResult:
    """DDIM pivots, and the prompt embedding as the unconditional embedding at every step (no optimization)."""
    # uncond == cond makes the guided prediction the conditional one, i.e. the one the pivots were built with
    return pivot_inversion(pipe, z0, prompt_embeds, steps, guidance, "negative-prompt", prompt_embeds)
