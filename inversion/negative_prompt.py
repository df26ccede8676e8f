"""Negative-prompt inversion: the prompt embedding stands in for the null embedding, Miyake et al. 2023."""

from __future__ import annotations

import time

import torch

from editor.unet_counter import UNetCallCounter
from inversion.common import InversionResult, timesteps_for
from inversion.ddim import ddim_pivots


def invert_negative_prompt(
    pipe, z0: torch.Tensor, prompt_embeds: torch.Tensor, steps: int = 50, guidance: float = 7.5
) -> InversionResult:
    """DDIM pivots, and the prompt embedding as the unconditional embedding at every step (no optimization)."""
    start = time.perf_counter()
    timesteps = timesteps_for(pipe, steps)
    with UNetCallCounter(pipe.unet) as calls:
        pivots = ddim_pivots(pipe, z0, prompt_embeds, timesteps)
    # uncond == cond makes the guided prediction the conditional one, i.e. the one the pivots were built with
    uncond = prompt_embeds.detach().float()
    return InversionResult(
        "negative-prompt", timesteps, pivots, [uncond] * steps, guidance, calls, time.perf_counter() - start
    )
