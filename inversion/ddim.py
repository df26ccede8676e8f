"""DDIM inversion: the deterministic DDIM update run backwards, Song et al. 2021, Eq. 12."""

from __future__ import annotations

import time

import torch

from editor.unet_counter import UNetCallCounter
from inversion.common import InversionResult, ddim_step, encode_prompt, model_output, prev_timestep, timesteps_for


@torch.no_grad()
def ddim_pivots(pipe, z0: torch.Tensor, prompt_embeds: torch.Tensor, timesteps: torch.Tensor) -> list[torch.Tensor]:
    """Latents z_0 -> x_T by DDIM inversion with the conditional prediction only; returned in sampling order."""
    if z0.ndim != 4 or z0.shape[0] != 1:
        raise ValueError(f"z0 must be one latent of shape 1 x c x h x w, got {tuple(z0.shape)}")
    z = z0.float()
    pivots = [z]
    for i in reversed(range(len(timesteps))):
        t = timesteps[i]
        # the model sees z (which lives at prev_timestep) with timestep t: the usual inversion approximation
        out = model_output(pipe, z, t, prompt_embeds)
        z = ddim_step(pipe.scheduler, out, prev_timestep(timesteps, i), int(t), z)
        pivots.append(z)
    return pivots[::-1]


def pivot_inversion(
    pipe, z0: torch.Tensor, prompt_embeds: torch.Tensor, steps: int, guidance: float, method: str, uncond: torch.Tensor | None
) -> InversionResult:
    """DDIM pivots and one unconditional embedding for every step (the empty prompt's when `uncond` is None):
    what DDIM, negative-prompt and direct inversion share."""
    start = time.perf_counter()
    timesteps = timesteps_for(pipe, steps)
    with UNetCallCounter(pipe.unet) as calls:
        pivots = ddim_pivots(pipe, z0, prompt_embeds, timesteps)
    uncond = (encode_prompt(pipe, "") if uncond is None else uncond).detach().float()
    return InversionResult(method, timesteps, pivots, [uncond] * steps, guidance, calls, time.perf_counter() - start)


def invert_ddim(
    pipe,
    z0: torch.Tensor,
    prompt_embeds: torch.Tensor,
    steps: int = 50,
    uncond_embeds: torch.Tensor | None = None,
    guidance: float = 7.5,
) -> InversionResult:
    """DDIM inversion (guidance 1), sampled later with the plain empty-prompt embedding, Song et al. 2021, Eq. 12."""
    return pivot_inversion(pipe, z0, prompt_embeds, steps, guidance, "ddim", uncond_embeds)
