"""Presence of a named object, read by the model itself (a diffusion classifier, Li et al. 2023, per latent cell).

A text-to-image model predicts the noise of a noisy photo better when the prompt names what is there. Asked of the
whole photo, "a blue circle" beats the empty prompt wherever anything blue or round is; asked per cell against the
target's look-alikes ("a blue square", "a red circle"), it wins only where a blue circle is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F

from unwant.presence.config import PresenceConfig
from unwant.sd.calls import UNetCallCounter, UNetCalls
from unwant.sd.ddim import DDIM
from unwant.sd.text import encode_prompt
from unwant.sd.unet import model_output

PROMPT_TEMPLATE = "a {name}"  # the names are judged in the same words removal's default prompt uses


@dataclass
class Presence:
    target: str
    score: float  # 0-1: how likely the target, rather than a look-alike, explains its best cells
    threshold: float
    rivals: list[str]  # the look-alike names it was judged against
    seconds: float = 0.0
    unet_calls: UNetCalls = field(default_factory=UNetCalls)
    posterior: torch.Tensor | None = None  # (h, w) per latent cell: the target rather than a rival
    place: torch.Tensor | None = None  # (h, w) the same, pooled wider (config.place_pool): where the target is
    errors: torch.Tensor | None = None  # (names, h, w) the cell errors read so far, the target's first
    draws: int = 0  # noise draws per level they average

    @property
    def present(self) -> bool:
        return self.score > self.threshold


def training_target(scheduler, z0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """What the UNet was trained to predict from z_t: the noise, the velocity (v-prediction) or z_0."""
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        return noise
    if kind == "v_prediction":
        return scheduler.get_velocity(z0, noise, t)
    return z0


@torch.no_grad()
def cell_errors(pipe, z0: torch.Tensor, embeddings: torch.Tensor, config: PresenceConfig, draws: int | None = None,
                skip: int = 0) -> torch.Tensor:
    """(prompts, h, w): each prompt's squared prediction error per latent cell, averaged over the noise levels and
    `draws` paired noise draws at each (config.draws), after the first `skip` draws: read more later, same noises.

    Every prompt sees the same noisy latents (paired draws): the differences between prompts are the signal. Each
    level's errors are divided by their mean first, so the noisiest level does not drown the others."""
    scheduler = DDIM.of(pipe, 50).sampler
    generator = torch.Generator("cpu").manual_seed(config.seed)
    for _ in range(skip * len(config.timesteps)):
        torch.randn(z0.shape, generator=generator)
    total = torch.zeros(embeddings.shape[0], *z0.shape[-2:])
    levels = config.timesteps * (draws or config.draws)
    for fraction in levels:
        t = torch.tensor([int(fraction * scheduler.config.num_train_timesteps)])
        noise = torch.randn(z0.shape, generator=generator).to(z0)
        z_t = scheduler.add_noise(z0, noise, t.to(z0.device))
        predicted = model_output(pipe, z_t.expand(embeddings.shape[0], -1, -1, -1), t.to(z0.device), embeddings)
        error = (predicted - training_target(scheduler, z0, noise, t.to(z0.device))).pow(2).mean(1).cpu()
        total += error / error.mean()
    return total / len(levels)


def cell_posterior(errors: torch.Tensor, config: PresenceConfig, pool: int | None = None) -> torch.Tensor:
    """(h, w): per cell, the probability that row 0's name (the target) rather than a rival explains it (Li et al.
    2023, Eq. 4: p(c | x) proportional to exp(-error), here per cell, the errors averaged over `pool` x `pool` cells)."""
    pool = pool or config.pool
    pooled = F.avg_pool2d(errors[:, None], pool, 1, pool // 2, count_include_pad=False)[:, 0]
    return torch.softmax(-pooled / config.temperature, 0)[0]


def top_mean(posterior: torch.Tensor, fraction: float) -> float:
    """The mean over the share `fraction` of cells where the target is likeliest: an object, not the whole photo."""
    top = max(1, round(fraction * posterior.numel()))
    return float(posterior.flatten().topk(top).values.mean())


def _embeddings(pipe, target: str, rivals: list[str]) -> torch.Tensor:
    return torch.cat([encode_prompt(pipe, PROMPT_TEMPLATE.format(name=name)) for name in [target, *rivals]])


def presence(pipe, z0: torch.Tensor, target: str, rivals: list[str], config: PresenceConfig | None = None) -> Presence:
    """How present `target` is in the photo whose latent is z0, judged against the look-alike names `rivals`."""
    config = config or PresenceConfig()
    started = time.perf_counter()
    with UNetCallCounter(pipe.unet) as calls:
        errors = cell_errors(pipe, z0, _embeddings(pipe, target, rivals), config)
    posterior, place = cell_posterior(errors, config), cell_posterior(errors, config, config.place_pool)
    score = top_mean(posterior, config.top_fraction)
    return Presence(target, score, config.threshold, list(rivals), time.perf_counter() - started, calls, posterior, place,
                    errors, config.draws)


def placed(pipe, z0: torch.Tensor, check: Presence, config: PresenceConfig) -> Presence:
    """`check` with `config.place_draws` draws per level behind its `place`, the ones it lacks read now: where a photo
    will be edited, the mask needs more than the score does (its score and posterior stay those of the first read)."""
    missing = config.place_draws - check.draws
    if missing <= 0 or check.errors is None:
        return check
    started = time.perf_counter()
    with UNetCallCounter(pipe.unet) as calls:
        more = cell_errors(pipe, z0, _embeddings(pipe, check.target, check.rivals), config, draws=missing, skip=check.draws)
    errors = (check.errors * check.draws + more * missing) / config.place_draws
    return replace(check, place=cell_posterior(errors, config, config.place_pool), errors=errors, draws=config.place_draws,
                   unet_calls=check.unet_calls + calls, seconds=check.seconds + time.perf_counter() - started)
