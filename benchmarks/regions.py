"""Pixel measures over a region, shared by both worlds' removal benchmarks: a PSNR where the object was, and the band
across a removal mask's edge where a visible patch shows."""

from __future__ import annotations

import cv2
import numpy as np


def seam_band(mask: np.ndarray, pixels: int = 3) -> np.ndarray:
    """The pixels within `pixels` of the edge of a removal's mask (uint8 or bool h x w), on both sides of it."""
    binary = (np.asarray(mask) > 127 if np.asarray(mask).dtype == np.uint8 else np.asarray(mask) > 0.5).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1, 2 * pixels + 1))
    return (cv2.dilate(binary, kernel) > 0) & ~(cv2.erode(binary, kernel) > 0)


def psnr_where(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    """PSNR (dB) of two uint8 images over the pixels `where`; NaN where there are none, 100 where they are equal."""
    if not where.any():
        return float("nan")
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2)[where].mean())
    return 100.0 if mse == 0 else float(10 * np.log10(255.0**2 / mse))
