"""What every inversion shares: the result type, prompt/image encoding, the DDIM update and the guided noise."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from editor.unet_counter import UNetCalls


@dataclass
class InversionResult:
    """Pivots and per-step unconditional embeddings that let a sampler reproduce z_0 from x_T."""

    method: str  # "ddim" | "null-text" | "negative-prompt" | "direct"
    timesteps: torch.Tensor  # sampling order, descending, length T
    latents: list[torch.Tensor]  # pivots in sampling order: latents[0] is x_T, latents[T] is z_0; 1x4xhxw float32
    uncond_embeddings: list[torch.Tensor]  # length T: the unconditional embedding for sampling step i
    guidance: float  # classifier-free guidance scale the sampler should use
    unet_calls: UNetCalls
    seconds: float

    @property
    def x_T(self) -> torch.Tensor:
        return self.latents[0]

    @property
    def snaps_to_pivots(self) -> bool:
        """Direct inversion replaces the source branch by the pivot after each step, Ju et al. ICLR 2024."""
        return self.method == "direct"


@torch.no_grad()
def encode_prompt(pipe, prompt: str) -> torch.Tensor:
    """The 1 x 77 x d text-encoder output of a prompt (padded to the tokenizer's maximum length)."""
    tokens = pipe.tokenizer(
        prompt,
        padding="max_length",
        max_length=pipe.tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    )
    return pipe.text_encoder(tokens.input_ids.to(pipe.text_encoder.device))[0]


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


def timesteps_for(pipe, steps: int) -> torch.Tensor:
    """The pipeline scheduler's own sampling timesteps (descending), so steps_offset and spacing match the sampler."""
    pipe.scheduler.set_timesteps(steps)
    return pipe.scheduler.timesteps.detach().clone().cpu()


def prev_timestep(timesteps: torch.Tensor, i: int) -> int:
    """The timestep that sampling step i lands on; -1 after the last step (z_0, final_alpha_cumprod)."""
    return int(timesteps[i + 1]) if i + 1 < len(timesteps) else -1


def alpha_cumprod(scheduler, t: int) -> float:
    """alpha-bar of timestep t; t < 0 means the clean end of the chain (1.0 when set_alpha_to_one, else alpha-bar_0)."""
    if t >= 0:
        return float(scheduler.alphas_cumprod[t])
    final = getattr(scheduler, "final_alpha_cumprod", None)
    if final is None:  # schedulers without the attribute: follow the config as DDIM would
        final = 1.0 if scheduler.config.get("set_alpha_to_one", True) else scheduler.alphas_cumprod[0]
    return float(final)


def ddim_step(scheduler, model_output: torch.Tensor, t: int, t_next: int, z: torch.Tensor) -> torch.Tensor:
    """Deterministic DDIM update of z from timestep t to t_next (either direction), Song et al. 2021, Eq. 12."""
    a_t, a_next = alpha_cumprod(scheduler, int(t)), alpha_cumprod(scheduler, int(t_next))
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        eps = model_output
        x0 = (z - (1 - a_t) ** 0.5 * eps) / a_t**0.5
    elif kind == "v_prediction":  # v = sqrt(a) eps - sqrt(1 - a) x0, Salimans & Ho 2022, Sec. 4
        x0 = a_t**0.5 * z - (1 - a_t) ** 0.5 * model_output
        eps = a_t**0.5 * model_output + (1 - a_t) ** 0.5 * z
    elif kind == "sample":
        x0 = model_output
        eps = (z - a_t**0.5 * x0) / (1 - a_t) ** 0.5
    else:
        raise ValueError(f"unknown prediction_type {kind!r}: expected epsilon, v_prediction or sample")
    return a_next**0.5 * x0 + (1 - a_next) ** 0.5 * eps


def model_output(pipe, z: torch.Tensor, t, embeds: torch.Tensor) -> torch.Tensor:
    """One UNet forward on z (batch of embeds' size), run in the UNet's dtype, returned as float32."""
    unet = pipe.unet
    weight = unet.conv_in.weight  # diffusers' unet.device / .dtype walk every module: too slow for a hot loop
    if embeds.shape[0] != z.shape[0]:
        z = z.expand(embeds.shape[0], *z.shape[1:])
    out = unet(
        z.to(device=weight.device, dtype=weight.dtype),
        t,
        encoder_hidden_states=embeds.to(device=weight.device, dtype=weight.dtype),
    ).sample
    return out.float()


def guided_noise(
    pipe, z: torch.Tensor, t, cond: torch.Tensor, uncond: torch.Tensor | None, guidance: float
) -> torch.Tensor:
    """Classifier-free guided model output (epsilon or v), one batched UNet forward, Ho & Salimans 2022, Eq. 6."""
    if guidance == 1:  # uncond + 1 * (cond - uncond) is cond: skip the unconditional half
        return model_output(pipe, z, t, cond)
    out_uncond, out_cond = model_output(pipe, z, t, torch.cat([uncond.to(cond.dtype), cond])).chunk(2)
    return out_uncond + guidance * (out_cond - out_uncond)
