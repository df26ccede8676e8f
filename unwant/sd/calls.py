"""Counts UNet forward passes (and the batch rows they evaluate) with a forward pre-hook."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class UNetCalls:
    forwards: int = 0  # UNet invocations, whatever their batch size
    rows: int = 0  # latents evaluated: a batch of 4 counts 4
    backwards: int = 0  # forwards whose output required grad (a backward pass follows)

    def __add__(self, other: UNetCalls) -> UNetCalls:
        return UNetCalls(self.forwards + other.forwards, self.rows + other.rows, self.backwards + other.backwards)

    def __sub__(self, other: UNetCalls) -> UNetCalls:
        return UNetCalls(self.forwards - other.forwards, self.rows - other.rows, self.backwards - other.backwards)


class UNetCallCounter:
    """Context manager: `with UNetCallCounter(unet) as calls: ...` then read calls.forwards / calls.rows."""

    def __init__(self, unet: torch.nn.Module):
        self.unet = unet
        self.calls = UNetCalls()
        self._handle = None

    def _hook(self, module, args, kwargs):
        sample = args[0] if args else kwargs["sample"]
        self.calls.forwards += 1
        self.calls.rows += int(sample.shape[0])
        if torch.is_grad_enabled() and any(p.requires_grad for p in (sample, kwargs.get("encoder_hidden_states", args[2] if len(args) > 2 else None)) if p is not None):
            self.calls.backwards += 1

    def __enter__(self) -> UNetCalls:
        self._handle = self.unet.register_forward_pre_hook(self._hook, with_kwargs=True)
        return self.calls

    def __exit__(self, *exc) -> None:
        self._handle.remove()
