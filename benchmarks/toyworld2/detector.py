"""World 2's exact detector: every thing judged from its own colour, faces as regions, eyes and accessories inside them."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from benchmarks.toyworld2.palette import DETECT_DISTANCE, EYE_WHITE, FRAMES, HAT, LENSES, SHADOW_DARKNESS, SHAPE_COLOURS, SKINS

TRIANGLE_OFFSET = 0.08  # a triangle's centroid is 1/6 of its height below its box's middle; a circle's and a square's at it
SQUARE_FILL = 0.9  # a square fills its box, a circle pi / 4 = 0.785 of it
PART_DISTANCE = 60.0  # an eye's white and a rim inside a face: small parts a VAE dims, and no background reaches them
DETECT_DISTANCE_SHAPES = 55.0  # a shape's pixels: wider than DETECT_DISTANCE, so a blurred corner still counts (the
# backgrounds keep 60 away); the fill ratio that names the shape needs its corners
MIN_SHAPE_AREA = 25  # pixels: the smallest shape (a triangle of half side 6) has 72
MIN_FACE_AREA = 120  # pixels of skin, eyes and eyewear together: the smallest face (radius 10) has about 250
MIN_EYE_AREA = 3  # pixels of white: a small face's eye has about 14
MIN_FRAMES_AREA = 15  # pixels of rim inside a face: the smallest pair of glasses has about 90
MIN_LENS_AREA = 35  # pixels in one region: the smallest pair of sunglasses has about 120, a large face's pupil about 11
MIN_HAT_AREA = 30  # pixels: the smallest hat has about 200
MIN_SHADOW_AREA = 10  # pixels: the smallest shadow has about 40
SHADOW_DISTANCE = 25.0  # RGB distance to the ground's shadow colour; a texture's darker colour stays >= 26 away
GROUND_ROWS = 4  # the bottom rows that show the ground when there is one
GROUND_FLAT = 0.9  # share of those rows' pixels within GROUND_DISTANCE of their median, for them to be a flat ground
GROUND_DISTANCE = 20.0  # RGB distance to the ground's colour for a pixel to be ground
HORIZON_ROWS = (36, 56)  # where a ground's top row can be; the world draws it at rows 42-50


@dataclass(frozen=True)
class Region:
    name: str
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)
    area: int


def _near(pixels: np.ndarray, colour, distance: float = DETECT_DISTANCE) -> np.ndarray:
    return np.linalg.norm(pixels - np.asarray(colour, np.float32), axis=-1) <= distance


def _regions(mask: np.ndarray, min_area: int) -> list[tuple[tuple[int, int, int, int], int, np.ndarray]]:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return [((int(x), int(y), int(x + w), int(y + h)), int(area), labels == i)
            for i, (x, y, w, h, area) in enumerate(stats[1:count], start=1) if area >= min_area]


def _shapes(pixels: np.ndarray) -> list[Region]:
    found = []
    for colour, rgb in SHAPE_COLOURS.items():
        for box, area, region in _regions(_near(pixels, rgb, DETECT_DISTANCE_SHAPES), MIN_SHAPE_AREA):
            found.append(Region(f"{colour} {_shape_of(region, box, area)}", box, area))
    return found


def _shape_of(region: np.ndarray, box: tuple[int, int, int, int], area: int) -> str:
    """A triangle (apex up) has its centroid a sixth of its height below its box's middle, a circle and a square at
    the middle; a square fills its box, a circle pi / 4 of it. Both hold when a VAE rounds the corners, where the
    fill ratio alone mistakes a blurred triangle for a circle."""
    x0, y0, x1, y1 = box
    rows = np.nonzero(region)[0]
    offset = (rows.mean() + 0.5 - (y0 + y1) / 2) / (y1 - y0)
    if offset > TRIANGLE_OFFSET:
        return "triangle"
    return "square" if area / float((x1 - x0) * (y1 - y0)) >= SQUARE_FILL else "circle"


def _faces(pixels: np.ndarray) -> list[Region]:
    skin = np.any([_near(pixels, s) for s in SKINS], axis=0)
    white, rims, lenses = _near(pixels, EYE_WHITE, PART_DISTANCE), _near(pixels, FRAMES, PART_DISTANCE), _near(pixels, LENSES)
    found = []
    for box, area, face in _regions(skin | white | rims | lenses, MIN_FACE_AREA):
        if (skin & face).sum() < MIN_FACE_AREA // 2:
            continue
        found.append(Region("face", box, area))
        eyes = _regions(white & face, MIN_EYE_AREA)
        if len(eyes) >= 2:
            found.append(Region("eyes", box, sum(a for _, a, _ in eyes)))
        if (rims & face).sum() >= MIN_FRAMES_AREA:
            found.append(Region("glasses", box, int((rims & face).sum())))
        if _regions(lenses & face, MIN_LENS_AREA):
            found.append(Region("sunglasses", box, int((lenses & face).sum())))
    found += [Region("hat", box, area) for box, area, _ in _regions(_near(pixels, HAT), MIN_HAT_AREA)]
    return found


def _horizon(pixels: np.ndarray, ground: np.ndarray, shade: np.ndarray) -> int:
    """The top row of the flat ground: rows from the bottom up where most pixels are the ground or its shadow."""
    on_ground = _near(pixels, ground, GROUND_DISTANCE) | _near(pixels, shade, SHADOW_DISTANCE)
    row = pixels.shape[0]
    while row > 0 and on_ground[row - 1].mean() >= 0.5:
        row -= 1
    return row


def _shadows(pixels: np.ndarray, things: np.ndarray) -> list[Region]:
    """Regions of the ground's shadow colour below the horizon, outside every face and shape (`things`)."""
    bottom = pixels[-GROUND_ROWS - 2 : -2].reshape(-1, 3)  # not the last rows: a VAE's output frays at the border
    ground = np.median(bottom, axis=0)
    if (np.linalg.norm(bottom - ground, axis=-1) <= GROUND_DISTANCE).mean() < GROUND_FLAT:
        return []
    shade = ground * SHADOW_DARKNESS
    horizon = _horizon(pixels, ground, shade)
    if not HORIZON_ROWS[0] <= horizon <= HORIZON_ROWS[1]:  # a plain or slowly changing background, not a ground
        return []
    candidates = _near(pixels, shade, SHADOW_DISTANCE) & ~things
    candidates[:horizon] = False
    return [Region("shadow", box, area) for box, area, _ in _regions(candidates, MIN_SHADOW_AREA)]


def detect_regions(image: np.ndarray) -> list[Region]:
    """Every thing found in a uint8 H x W x 3 image, with its box."""
    pixels = np.asarray(image, dtype=np.float32)[..., :3]
    found = _shapes(pixels) + _faces(pixels)
    things = np.zeros(pixels.shape[:2], bool)
    for region in found:
        x0, y0, x1, y1 = region.box
        things[max(0, y0 - 1) : y1 + 1, max(0, x0 - 1) : x1 + 1] = True
    return found + _shadows(pixels, things)


def detect(image: np.ndarray) -> list[str]:
    """The names found, sorted, one per instance: shapes ("red circle"), "face", "glasses", "sunglasses", "hat",
    "eyes" for each face whose two eyes show, "shadow" for each shadow on a ground."""
    return sorted(r.name for r in detect_regions(image))
