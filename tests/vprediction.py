"""An epsilon model answering in v: the toy model as an SD 2.1-style v-prediction checkpoint, for tests."""

from __future__ import annotations

import torch
from diffusers import UNet2DConditionModel
from diffusers.models.unets.unet_2d_condition import UNet2DConditionOutput


class VPredictionUNet(UNet2DConditionModel):
    """v = sqrt(a) eps - sqrt(1 - a) x0 from the epsilon UNet's own prediction (Salimans & Ho 2022, Sec. 4)."""

    def use_schedule(self, alphas_cumprod: torch.Tensor) -> "VPredictionUNet":
        self.alphas_cumprod = alphas_cumprod.clone()
        return self

    def forward(self, sample, timestep, *args, **kwargs):
        eps = super().forward(sample, timestep, *args, **kwargs).sample
        a = self.alphas_cumprod[int(timestep)].to(sample)
        x0 = (sample - (1 - a).sqrt() * eps) / a.sqrt()
        return UNet2DConditionOutput(sample=a.sqrt() * eps - (1 - a).sqrt() * x0)
