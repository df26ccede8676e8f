"""Pixels to latents and back with the model's VAE."""

from __future__ import annotations

import torch


@torch.no_grad()
def encode_image(pipe, image: torch.Tensor) -> torch.Tensor:
    """VAE latent of a 1 x 3 x H x W image in [-1, 1]: the posterior mean, scaled, float32."""
    vae = pipe.vae
    posterior = vae.encode(image.to(device=vae.device, dtype=vae.dtype)).latent_dist
    # the mean, not a sample: inversion must be deterministic
    return (posterior.mean * vae.config.scaling_factor).float()


@torch.no_grad()
def decode_latents(pipe, z: torch.Tensor) -> torch.Tensor:
    """Image in [-1, 1] (1 x 3 x H x W, float32) from a scaled VAE latent."""
    vae = pipe.vae
    image = vae.decode(z.to(device=vae.device, dtype=vae.dtype) / vae.config.scaling_factor).sample
    return image.float().clamp(-1, 1)
