"""What every Editor call returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from sd.calls import UNetCalls


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

    @property
    def mask_fraction(self) -> float | None:
        """Share of the image inside the blend mask."""
        return None if self.mask is None else float(np.asarray(self.mask, dtype=np.float32).mean() / 255.0)
