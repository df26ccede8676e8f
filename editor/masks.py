"""The removed object's mask from cross-attention, and the blends that keep everything else (METHOD.md Sec. 4)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch


@dataclass(frozen=True)
class MaskConfig:
    threshold: float = 0.3  # of the map's maximum, as Prompt-to-Prompt's LocalBlend
    dilation: float = 0.08  # dilation radius as a fraction of the image's short side: covers the object's edges
    feather: float = 0.03  # pixel-blend feather radius, fraction of the short side
    latent_blend_from: float = 0.5  # from this fraction of the steps on, outside the mask the latent is the source's
    work_side: int = 512  # masks are built at most this big on the short side, then upsampled once: a 12 MP photo's
    # mask would otherwise be dilated with a 240-pixel disk at full size (29 s); the attention map is 16 x 16 anyway


def _radius(fraction: float, size: tuple[int, int]) -> int:
    return max(0, int(round(fraction * min(size))))


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def binary_mask(attention: torch.Tensor | np.ndarray, size: tuple[int, int], config: MaskConfig) -> np.ndarray:
    """Upsample the map to `size` (h, w), normalise by its maximum, threshold, dilate: uint8 {0, 1}."""
    attention = np.asarray(attention.detach().cpu() if isinstance(attention, torch.Tensor) else attention, dtype=np.float32)
    resized = cv2.resize(attention, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    peak = float(resized.max())
    mask = (resized > config.threshold * peak).astype(np.uint8) if peak > 0 else np.zeros(size, np.uint8)
    radius = _radius(config.dilation, size)
    return cv2.dilate(mask, _disk(radius)) if radius else mask


def latent_mask(attention: torch.Tensor, size: tuple[int, int], config: MaskConfig) -> torch.Tensor:
    """The binary mask at latent resolution, as a 1 x 1 x h x w float tensor for blending."""
    return torch.from_numpy(binary_mask(attention, size, config).astype(np.float32))[None, None]


def work_size(size: tuple[int, int], side: int) -> tuple[int, int]:
    """`size` (h, w) scaled down so its short side is at most `side`."""
    scale = min(1.0, side / min(size))
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def feathered_mask(attention: torch.Tensor | np.ndarray, size: tuple[int, int], config: MaskConfig) -> np.ndarray:
    """Soft float32 mask in [0, 1] at full resolution (h, w): the binary mask, blurred at its border.

    Built at a working size (short side `config.work_side`) and upsampled once, so its cost does not grow with the
    photo; the radii are fractions of the short side, so the shape is the same at any size."""
    small = work_size(size, config.work_side)
    binary = binary_mask(attention, small, config).astype(np.float32)
    radius = _radius(config.feather, small)
    soft = binary
    if radius:
        blurred = cv2.GaussianBlur(binary, (2 * radius + 1, 2 * radius + 1), sigmaX=radius / 2)
        soft = np.clip(np.maximum(blurred, binary), 0.0, 1.0)  # feather outwards: the object stays covered
    if small == tuple(size):
        return soft
    return np.clip(cv2.resize(soft, (size[1], size[0]), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)


def pixel_blend(original: np.ndarray, edited: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """mask * edited + (1 - mask) * original, uint8 H x W x 3: pixels outside the mask are the input's own.

    Only the mask's bounding box is computed: outside it the result is the input, bit for bit, at no cost."""
    out = original.copy()
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if not len(rows):
        return out
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    m = mask[box][..., None].astype(np.float32)
    out[box] = np.clip(np.round(m * edited[box] + (1 - m) * original[box]), 0, 255).astype(np.uint8)
    return out
