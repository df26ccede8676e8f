"""What every Editor call returns."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image

from unwant.sd.calls import UNetCalls


@dataclass
class EditResult:
    image: Image.Image  # the output, at the input's size and mode (generation: the model's native size)
    prompt: str  # the prompt the model saw
    targets: list[str]  # what was suppressed; empty for plain generation or reconstruction
    seed: int | None  # the noise seed of generation; removal starts from the inversion and only records what was passed
    steps: int
    guidance: float
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    unet_calls: UNetCalls = field(default_factory=UNetCalls)
    attention: np.ndarray | None = None  # (h, w) targets' cross-attention in the original branch
    suppressed_attention: np.ndarray | None = None  # (h, w) the same tokens in the suppressed branch
    mask: Image.Image | None = None  # 'L' mask of the removed object as used in the blend (input size)
    inversion: str | None = None  # inversion method, for real photos
    psnr: float | None = None  # reconstruction PSNR against the input, dB (reconstruct only)
    presence: dict = field(default_factory=dict)  # removal: target -> its presence check before editing (unwant.presence.Presence)
    instances: int | None = None  # removal: separate objects the mask covers (two pairs of glasses: 2); 0 when none
    absent: bool = False  # removal: the presence check found no target, so the photo was left as it was (force=True edits)

    @property
    def mask_fraction(self) -> float | None:
        """Share of the image inside the blend mask."""
        return None if self.mask is None else float(np.asarray(self.mask, dtype=np.float32).mean() / 255.0)

    @property
    def found(self) -> bool | None:
        """A removal located its target (its mask is not empty); an empty mask leaves the photo as it was. None: no mask
        (generation, reconstruction)."""
        return None if self.mask is None else bool(np.asarray(self.mask).any())


@contextmanager
def timed(timings: dict[str, float], name: str) -> Iterator[None]:
    """Add the seconds a named stage takes to its total (a removal encodes the photo for its check, then the prompt)."""
    started = time.perf_counter()
    yield
    timings[name] = timings.get(name, 0.0) + time.perf_counter() - started


def calls_with_inversion(calls: UNetCalls, inverted, cached: bool) -> UNetCalls:
    """The call counts of this edit, including those of a reused inversion."""
    return replace(calls) if not cached else calls + inverted.unet_calls


def result_from(image, prompt, targets, seed, steps, guidance, timings, calls, branches, **extra) -> EditResult:
    """What every call returns; the targets' attention maps when something was suppressed."""
    maps = {} if branches is None else {"attention": branches.target_maps.numpy()}
    if branches is not None and branches.suppressed_maps is not None:
        maps["suppressed_attention"] = branches.suppressed_maps.numpy()
    return EditResult(image, prompt, targets, seed, steps, guidance, timings, calls, **maps, **extra)
