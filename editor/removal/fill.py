"""What goes where the object was: painted in from the surroundings (then repainted by the model, editor/removal/repaint.py),
or the suppressed branch's own pixels."""

from __future__ import annotations

import cv2
import numpy as np

from editor.removal.masks import work_size

FILLS = ("repaint", "surroundings", "model", "suppressed")  # the default first
INPAINT_RADIUS = 3  # pixels at work size: how far around each hole pixel Telea's method looks


def fill_from_surroundings(image: np.ndarray, mask: np.ndarray, work_side: int = 512) -> np.ndarray:
    """The masked pixels painted in from the pixels around them (OpenCV's Telea inpainting, Telea 2004): uint8 h x w x 3.

    Runs on the mask's bounding box (with a margin) at a working size, so a 12 MP photo costs what a small one does;
    the fill is smooth, and outside the mask the result is `image` itself."""
    holes = mask > 0
    rows, cols = np.nonzero(holes.any(axis=1))[0], np.nonzero(holes.any(axis=0))[0]
    if not len(rows):
        return image.copy()
    margin = max(INPAINT_RADIUS + 1, int(0.05 * min(image.shape[:2])))
    top, bottom = max(0, rows[0] - margin), min(image.shape[0], rows[-1] + 1 + margin)
    left, right = max(0, cols[0] - margin), min(image.shape[1], cols[-1] + 1 + margin)
    crop, crop_holes = image[top:bottom, left:right], holes[top:bottom, left:right].astype(np.uint8)
    small = work_size(crop.shape[:2], work_side)
    if small != crop.shape[:2]:
        scaled = cv2.resize(crop, (small[1], small[0]), interpolation=cv2.INTER_AREA)
        scaled_holes = cv2.dilate(cv2.resize(crop_holes, (small[1], small[0]), interpolation=cv2.INTER_NEAREST), np.ones((3, 3), np.uint8))
        painted = cv2.resize(cv2.inpaint(scaled, scaled_holes, INPAINT_RADIUS, cv2.INPAINT_TELEA), (crop.shape[1], crop.shape[0]),
                             interpolation=cv2.INTER_LINEAR)
    else:
        painted = cv2.inpaint(np.ascontiguousarray(crop), crop_holes, INPAINT_RADIUS, cv2.INPAINT_TELEA)
    out = image.copy()
    out[top:bottom, left:right][crop_holes > 0] = painted[crop_holes > 0]
    return out
