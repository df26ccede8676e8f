"""The toy world's exact detector: colour-distance regions, shape from the bounding-box fill ratio."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from benchmarks.toyworld.world import COLOURS

COLOUR_DISTANCE = 60.0  # RGB Euclidean distance to count a pixel as of colour k
MIN_AREA = 25  # pixels in a connected region to count as an object
FILL_RATIOS = {"circle": np.pi / 4, "square": 1.0, "triangle": 0.5}


@dataclass(frozen=True)
class Detection:
    colour: str
    shape: str
    area: int
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"


def detect(image: np.ndarray) -> list[Detection]:
    """All objects in a uint8 H x W x 3 image: one per connected region of a palette colour with area >= 25."""
    pixels = np.asarray(image, dtype=np.float32)[..., :3]
    found: list[Detection] = []
    for colour, rgb in COLOURS.items():
        near = np.linalg.norm(pixels - np.array(rgb, dtype=np.float32), axis=-1) <= COLOUR_DISTANCE
        count, _, stats, _ = cv2.connectedComponentsWithStats(near.astype(np.uint8), connectivity=8)
        for x, y, w, h, area in stats[1:count]:
            if area < MIN_AREA:
                continue
            fill = area / float(w * h)
            shape = min(FILL_RATIOS, key=lambda s: abs(FILL_RATIOS[s] - fill))
            found.append(Detection(colour, shape, int(area), (int(x), int(y), int(x + w), int(y + h))))
    return found
