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


def feathered_mask(attention: torch.Tensor | np.ndarray, size: tuple[int, int], config: MaskConfig) -> np.ndarray:
    """Soft float32 mask in [0, 1] at full resolution (h, w): the binary mask, blurred at its border."""
    binary = binary_mask(attention, size, config).astype(np.float32)
    radius = _radius(config.feather, size)
    if not radius:
        return binary
    blurred = cv2.GaussianBlur(binary, (2 * radius + 1, 2 * radius + 1), sigmaX=radius / 2)
    return np.clip(np.maximum(blurred, binary), 0.0, 1.0)  # feather outwards: the object stays covered


def pixel_blend(original: np.ndarray, edited: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """mask * edited + (1 - mask) * original, uint8 H x W x 3: pixels outside the mask are the input's own."""
    m = mask[..., None].astype(np.float32)
    return np.clip(np.round(m * edited + (1 - m) * original), 0, 255).astype(np.uint8)
