"""DDIM inversion: the deterministic DDIM update run backwards, Song et al. 2021, Eq. 12."""

from __future__ import annotations

import time

import torch

from inversion.result import InversionResult
from unwant.sd.calls import UNetCallCounter
from unwant.sd.ddim import DDIM
from unwant.sd.text import encode_prompt
from unwant.sd.unet import model_output


@torch.no_grad()
def ddim_pivots(pipe, ddim: DDIM, z0: torch.Tensor, prompt_embeds: torch.Tensor) -> list[torch.Tensor]:
    """Latents z_0 -> x_T by DDIM inversion with the conditional prediction only; returned in sampling order.

    Several photos of one size invert side by side: z0 and prompt_embeds with a row per photo."""
    if z0.ndim != 4 or prompt_embeds.shape[0] not in (1, z0.shape[0]):
        raise ValueError(f"z0 must be latents of shape n x c x h x w with 1 or n prompt embeddings, got {tuple(z0.shape)} "
                         f"and {tuple(prompt_embeds.shape)}")
    z = z0.float()
    pivots = [z]
    for t in reversed(ddim.timesteps):
        z = ddim.invert_step(model_output(pipe, z, t, prompt_embeds), t, z)
        pivots.append(z)
    return pivots[::-1]


def pivot_inversion(
    pipe, z0: torch.Tensor, prompt_embeds: torch.Tensor, steps: int, guidance: float, method: str, uncond: torch.Tensor | None
) -> InversionResult:
    """DDIM pivots and one unconditional embedding for every step (the empty prompt's when `uncond` is None):
    what DDIM, negative-prompt and direct inversion share."""
    start = time.perf_counter()
    ddim = DDIM.of(pipe, steps)
    with UNetCallCounter(pipe.unet) as calls:
        pivots = ddim_pivots(pipe, ddim, z0, prompt_embeds)
    uncond = (encode_prompt(pipe, "") if uncond is None else uncond).detach().float().expand(z0.shape[0], -1, -1)
    return InversionResult(method, ddim.timesteps.clone(), pivots, [uncond] * steps, guidance, calls, time.perf_counter() - start)


def invert_ddim(pipe, z0: torch.Tensor, prompt_embeds: torch.Tensor, steps: int = 50, guidance: float = 7.5) -> InversionResult:
    """DDIM inversion (guidance 1), sampled later with the plain empty-prompt embedding, Song et al. 2021, Eq. 12."""
    return pivot_inversion(pipe, z0, prompt_embeds, steps, guidance, "ddim", None)
