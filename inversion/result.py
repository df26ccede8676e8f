"""What every inversion returns."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from unwant.sd.calls import UNetCalls


@dataclass
class InversionResult:
    """Pivots and per-step unconditional embeddings that let the DDIM sampler reproduce z_0 from x_T."""

    method: str  # "ddim" | "null-text" | "negative-prompt" | "direct"
    timesteps: torch.Tensor  # DDIM's sampling order, descending, length T
    latents: list[torch.Tensor]  # pivots in sampling order: latents[0] is x_T, latents[T] is z_0; 1x4xhxw float32
    uncond_embeddings: list[torch.Tensor]  # length T: the unconditional embedding for sampling step i, float32
    guidance: float  # classifier-free guidance scale the sampler should use
    unet_calls: UNetCalls
    seconds: float

    @property
    def steps(self) -> int:
        return len(self.timesteps)

    @property
    def x_T(self) -> torch.Tensor:
        return self.latents[0]

    @property
    def snaps_to_pivots(self) -> bool:
        """Direct inversion replaces the source branch by the pivot after each step, Ju et al. ICLR 2024."""
        return self.method == "direct"

    def split(self) -> list["InversionResult"]:
        """One result per photo of a side-by-side inversion; each gets its share of the UNet rows and the seconds."""
        photos = self.x_T.shape[0]
        calls = replace(self.unet_calls, rows=self.unet_calls.rows // photos)
        return [replace(self, latents=[z[b:b + 1] for z in self.latents], uncond_embeddings=[u[b:b + 1] for u in self.uncond_embeddings],
                        unet_calls=calls, seconds=self.seconds / photos) for b in range(photos)]
