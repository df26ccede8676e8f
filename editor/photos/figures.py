"""Pictures for people: attention maps side by side, and input | mask | result strips."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image


def heatmap(attention: np.ndarray, size: tuple[int, int], peak: float | None = None) -> Image.Image:
    """A (h, w) map as a colour heat map of `size` (w, h), scaled by `peak` (default: its own maximum)."""
    peak = float(attention.max()) if peak is None else peak
    scaled = np.clip(attention / peak, 0, 1) if peak > 0 else np.zeros_like(attention)
    big = cv2.resize((scaled * 255).astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    return Image.fromarray(cv2.cvtColor(cv2.applyColorMap(big, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB))


def side_by_side(images: list[Image.Image], gap: int = 4) -> Image.Image:
    """Images left to right at the first one's height, on white."""
    height = images[0].height
    scaled = [im.convert("RGB").resize((max(1, round(im.width * height / im.height)), height)) for im in images]
    strip = Image.new("RGB", (sum(im.width for im in scaled) + gap * (len(scaled) - 1), height), "white")
    x = 0
    for im in scaled:
        strip.paste(im, (x, 0))
        x += im.width + gap
    return strip


def attention_figure(original: np.ndarray, suppressed: np.ndarray | None, size: int = 256) -> Image.Image:
    """The targets' cross-attention, original branch | suppressed branch (when it ran), on one shared scale."""
    panels = [original] if suppressed is None else [original, suppressed]
    peak = float(max(panel.max() for panel in panels))
    return side_by_side([heatmap(panel, (size, size), peak) for panel in panels])


def input_mask_result(photo: Image.Image, result) -> Image.Image:
    """Input | mask | result, for `--concat`: an EditResult beside the photo it came from (no mask: a black panel)."""
    mask = result.mask or Image.new("L", photo.size, 0)
    return side_by_side([photo, mask.convert("RGB"), result.image.convert("RGB")])
