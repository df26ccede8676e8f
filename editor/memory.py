"""Low-memory switches for big photos and small GPUs; all of them work with our attention recorders."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from unwant.sd.errors import UnwantError

MEMORY_OPTIONS = ("attention-slicing", "vae-slicing", "vae-tiling", "offload")


def apply_memory_options(pipe, options: Iterable[str], device: torch.device) -> None:
    """Turn on the named options; call before any attention recording (slicing replaces every processor,
    and our recorders then wrap the sliced ones only for the layers they read, restoring them afterwards)."""
    for option in options:
        if option not in MEMORY_OPTIONS:
            raise UnwantError(f"unknown memory option {option!r}: choose from {', '.join(MEMORY_OPTIONS)}")
        if option == "attention-slicing":
            pipe.enable_attention_slicing()
        elif option == "vae-slicing":
            pipe.vae.enable_slicing()
        elif option == "vae-tiling":
            pipe.vae.enable_tiling()
        elif device.type == "cpu":
            raise UnwantError("offload moves models between the GPU and the CPU: it needs --device cuda")
        else:
            pipe.enable_model_cpu_offload(device=device)
