"""The source-branch sampler: DDIM from x_T with the inversion's per-step null embeddings (Song et al. 2021, Eq. 12)."""

from __future__ import annotations

from typing import Callable

import torch

from inversion.common import InversionResult, ddim_step, guided_noise, prev_timestep
from inversion.direct import direct_offset


@torch.no_grad()
def resample(
    pipe,
    inversion: InversionResult,
    prompt_embeds: torch.Tensor,
    callback: Callable[[dict], None] | None = None,
) -> torch.Tensor:
    """Reconstruct z_0 from inversion.x_T with guided DDIM; direct inversion snaps onto the pivots (Ju et al. 2024)."""
    timesteps = inversion.timesteps
    z = inversion.x_T
    for i, t in enumerate(timesteps):
        out = guided_noise(pipe, z, t, prompt_embeds, inversion.uncond_embeddings[i], inversion.guidance)
        z = ddim_step(pipe.scheduler, out, int(t), prev_timestep(timesteps, i), z)
        if inversion.snaps_to_pivots:
            z = z + direct_offset(z, inversion.latents[i + 1])
        if callback is not None:
            callback({"i": i, "t": int(t), "z": z})
    return z
