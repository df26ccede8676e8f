"""The model repaints a classical fill: the hole, painted in from its surroundings, is noised part of the way and
denoised again so it takes the model's texture (SDEdit, Meng et al. 2022), while outside the hole every step takes the
photo's own DDIM trajectory from the inversion (Blended Latent Diffusion, Avrahami et al. 2023)."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from inversion.result import InversionResult
from unwant.sd.ddim import DDIM
from unwant.sd.unet import guided_noise, model_output

REPAINT_STRENGTH = 0.5  # of the noise: enough for texture in a smooth fill; on the toy world 0.3 and 0.5 removed and
# kept the same (30 fresh scenes), and the fill costs half the steps as plain unguided forwards


def latent_hole(mask: np.ndarray, latent_size: tuple[int, int]) -> torch.Tensor:
    """1 x 1 x h x w float {0, 1}: every latent cell the soft pixel mask touches."""
    small = cv2.resize(mask.astype(np.float32), (latent_size[1], latent_size[0]), interpolation=cv2.INTER_AREA)
    return torch.from_numpy((small > 0.01).astype(np.float32))[None, None]


def repaint(pipe, inverted: InversionResult, z_fill: torch.Tensor, hole: torch.Tensor, strength: float, seed: int = 0,
            embedding: torch.Tensor | None = None, guidance: float = 1.0) -> torch.Tensor:
    """z_0 with the hole denoised from `z_fill` noised `strength` of the way (0: the fill as is, 1: from pure noise);
    outside the hole, every step takes the inversion's pivots.

    `embedding` None: unconditioned (the inversion's unconditional embeddings, no guidance), so the model paints what
    fits the surroundings and nothing the prompt names. Given (the suppressed branch's SWR embedding): guided by it at
    `guidance`, so the model paints what the caption says is there, less the target (eyes where sunglasses were)."""
    ddim = DDIM.of(pipe, inverted.steps)
    start = min(inverted.steps, int(round((1 - strength) * inverted.steps)))
    hole = hole.to(z_fill)
    if start == inverted.steps:
        return hole * z_fill + (1 - hole) * inverted.latents[-1]
    noise = torch.randn(z_fill.shape, generator=torch.Generator("cpu").manual_seed(seed)).to(z_fill)
    z = ddim.sampler.add_noise(z_fill, noise, ddim.timesteps[start : start + 1])
    z = hole * z + (1 - hole) * inverted.latents[start]
    for i in range(start, inverted.steps):
        t = ddim.timesteps[i]
        if embedding is None:
            out = model_output(pipe, z, t, inverted.uncond_embeddings[i])
        else:
            out = guided_noise(pipe, z, t, embedding, inverted.uncond_embeddings[i], guidance)
        z = ddim.step(out, t, z)
        z = hole * z + (1 - hole) * inverted.latents[i + 1]
    return z
