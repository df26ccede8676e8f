"""The toy worlds a model can be trained on: what the training script needs of each."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch


@dataclass(frozen=True)
class World:
    name: str  # the shipped model's name (--model NAME) and folder under editor/models/
    title: str  # TRAINING.md's heading
    sample_scene: Callable[[np.random.Generator], Any]  # a scene with .caption
    render: Callable[[Any], np.ndarray]  # uint8 64 x 64 x 3
    grounding_targets: Callable[[list], tuple[torch.Tensor, torch.Tensor]]  # token positions (N, K, W), masks (N, K, 16, 16)
    vocabulary: tuple[str, ...]  # every object name: the presence check's rivals (unwant/presence/rivals.py)
    defaults: dict = field(default_factory=dict)  # TrainConfig values this world changes


def toyworld() -> World:
    from benchmarks.toyworld.grounding import grounding_targets
    from benchmarks.toyworld.sets import OBJECTS
    from benchmarks.toyworld.world import render, sample_scene

    return World("toyworld", "Toy-world model", sample_scene, render, grounding_targets, tuple(OBJECTS))


def toyworld2() -> World:
    from benchmarks.toyworld2.grounding import grounding_targets
    from benchmarks.toyworld2.sets import VOCABULARY
    from benchmarks.toyworld2.world import render, sample_scene

    # textures and eyes need more VAE steps than flat shapes (TOYWORLD-NOTES: 600 steps held stripes at 17-21 dB)
    return World("toyworld2", "Toy-world 2 model (faces, textures, shadows)", sample_scene, render, grounding_targets,
                 tuple(VOCABULARY), defaults={"vae_steps": 2000, "vae_final_lr_ratio": 0.1, "unet_steps": 4000})


WORLDS: dict[str, Callable[[], World]] = {"toyworld": toyworld, "toyworld2": toyworld2}
