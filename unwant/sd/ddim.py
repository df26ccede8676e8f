"""The one sampler every model runs: deterministic DDIM and DDIM inversion built from the model's own scheduler config.

Checkpoints ship PNDM (SD 1.x, SD 2.1-base), DDIM (SD 2.1), Euler (SDXL) or whatever a fine-tune's author saved
(DPM-Solver++, Euler ancestral, UniPC). Inversion needs a deterministic sampler that can be run backwards, so, as
diffusers' DiffEdit pipeline and the reference code do, every stage runs DDIM with the checkpoint's noise schedule,
prediction type, steps offset and spacing; the step maths are diffusers' own `DDIMScheduler` / `DDIMInverseScheduler`.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping

import numpy as np
import torch
from diffusers import DDIMInverseScheduler, DDIMScheduler

# Settings another scheduler class does not have (PNDM, Euler, DPM-Solver, UniPC ship no clip_sample): DDIM's class
# defaults would clip x_0 to [-1, 1], which is wrong for a latent model, and land the last step at alpha-bar = 1,
# which SD's own DDIM config does not. These are SD's DDIM values; a config that states them is obeyed.
LATENT_DEFAULTS = {"clip_sample": False, "set_alpha_to_one": False}
# diffusers' DDIM step assumes the timesteps are one stride apart; "linspace" spacing (the default of DPM-Solver,
# Euler and UniPC configs) is not, and DDIMInverseScheduler refuses it. "trailing" is the uniform spacing closest to
# it (both start at the last training timestep).
UNIFORM_SPACING = {"leading": "leading", "trailing": "trailing", "linspace": "trailing"}


def ddim_config(scheduler_config: Mapping) -> dict:
    """The settings the model's author chose (not its class's defaults), as a DDIM config: schedule, prediction type,
    offset and spacing kept, the settings DDIM needs made explicit."""
    config = dict(scheduler_config)
    defaulted = set(config.pop("_use_default_values", ()))  # diffusers marks what the saved config left out
    config = {**LATENT_DEFAULTS, **{key: value for key, value in config.items() if key not in defaulted}}
    config["timestep_spacing"] = UNIFORM_SPACING.get(config.get("timestep_spacing", "leading"), "leading")
    return config


def _accepted(cls, config: dict) -> dict:
    """The part of `config` that `cls` takes (a PNDM config's skip_prk_steps would otherwise log a warning)."""
    names = inspect.signature(cls.__init__).parameters
    return {key: value for key, value in config.items() if key in names}


class DDIM:
    """Deterministic DDIM (eta = 0) for `steps` steps, forwards and backwards, Song et al. 2021, Eq. 12."""

    def __init__(self, scheduler_config: Mapping, steps: int):
        if not 1 <= steps <= scheduler_config.get("num_train_timesteps", 1000):
            raise ValueError(f"steps must be from 1 to the model's training timesteps, got {steps}")
        config = ddim_config(scheduler_config)
        self.sampler = DDIMScheduler.from_config(_accepted(DDIMScheduler, config))
        # the inverse step is given epsilon (see invert_step), whatever the model predicts
        self.inverse = DDIMInverseScheduler.from_config(_accepted(DDIMInverseScheduler, {**config, "prediction_type": "epsilon"}))
        self.sampler.set_timesteps(steps)
        self.inverse.set_timesteps(steps)
        if config["timestep_spacing"] == "trailing":
            # diffusers' arange(T, 0, -T / steps) returns steps + 1 values, the last -1, for 62 step counts (61, 103...)
            trailing = torch.from_numpy(np.round(np.arange(steps, 0, -1) * (self.sampler.config.num_train_timesteps / steps)).astype(np.int64) - 1)
            self.sampler.timesteps, self.inverse.timesteps = trailing, trailing.flip(0)
        if len(self.sampler.timesteps) != steps or int(self.sampler.timesteps.min()) < 0:
            raise ValueError(f"DDIM made {len(self.sampler.timesteps)} timesteps for {steps} steps")
        self.steps = steps

    @classmethod
    def of(cls, pipe, steps: int) -> "DDIM":
        """DDIM with the noise schedule of `pipe`'s own scheduler, whichever class it is."""
        return cls(pipe.scheduler.config, steps)

    @property
    def timesteps(self) -> torch.Tensor:
        """Sampling order, descending; exactly `steps` of them."""
        return self.sampler.timesteps

    @property
    def prediction_type(self) -> str:
        return self.sampler.config.prediction_type

    def step(self, model_output: torch.Tensor, t: int | torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """z at timestep t -> z one step cleaner (the last step lands on z_0)."""
        return self.sampler.step(model_output, int(t), z, eta=0.0).prev_sample

    def invert_step(self, model_output: torch.Tensor, t: int | torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """z one step cleaner than timestep t -> z at t, with the model evaluated on z at t (the usual approximation)."""
        return self.inverse.step(self.epsilon(model_output, t, z), int(t), z).prev_sample

    def epsilon(self, model_output: torch.Tensor, t: int | torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The noise a prediction implies at the noise level the model was told, t.

        DDIMInverseScheduler converts v or x_0 at the level the latent comes from instead, which is not what a
        v-prediction model (SD 2.1) answered: converting at t makes its inversion match an epsilon model's."""
        kind = self.prediction_type
        if kind == "epsilon":
            return model_output
        a = self.sampler.alphas_cumprod[int(t)].to(z)
        if kind == "v_prediction":  # v = sqrt(a) eps - sqrt(1 - a) x0, Salimans & Ho 2022, Sec. 4
            return a.sqrt() * model_output + (1 - a).sqrt() * z
        if kind == "sample":
            return (z - a.sqrt() * model_output) / (1 - a).sqrt()
        raise ValueError(f"unknown prediction_type {kind!r}: expected epsilon, v_prediction or sample")
