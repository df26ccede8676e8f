"""The UNet's prediction and classifier-free guidance."""

from __future__ import annotations

import torch

from unwant.sd.conditioning import unet_inputs


def model_output(pipe, z: torch.Tensor, t, embeds: torch.Tensor) -> torch.Tensor:
    """One UNet forward on z (batch of embeds' size), run in the UNet's dtype, returned as float32.

    Gradients reach a float32 `embeds` through the cast, so ITO and null-text optimise in float32 while the weights
    stay in their own dtype. SDXL's embeddings carry their pooled row (unwant/sd/conditioning.py), split off here."""
    unet = pipe.unet
    weight = unet.conv_in.weight  # diffusers' unet.device / .dtype walk every module: too slow for a hot loop
    if embeds.shape[0] != z.shape[0]:  # the latents for each block of embeddings (guidance: [uncond..., cond...])
        z = z.repeat(embeds.shape[0] // z.shape[0], 1, 1, 1)
    tokens, extra = unet_inputs(unet, embeds.to(device=weight.device, dtype=weight.dtype), tuple(z.shape[-2:]), pipe.vae_scale_factor)
    out = unet(z.to(device=weight.device, dtype=weight.dtype), t, encoder_hidden_states=tokens, **extra).sample
    return out.float()


def guided_noise(pipe, z: torch.Tensor, t, cond: torch.Tensor, uncond: torch.Tensor | None, guidance: float) -> torch.Tensor:
    """Classifier-free guided model output (epsilon or v), one batched UNet forward, Ho & Salimans 2022, Eq. 6."""
    if guidance == 1:  # uncond + 1 * (cond - uncond) is cond: skip the unconditional half
        return model_output(pipe, z, t, cond)
    out_uncond, out_cond = model_output(pipe, z, t, torch.cat([uncond.to(cond.dtype), cond])).chunk(2)
    return out_uncond + guidance * (out_cond - out_uncond)
