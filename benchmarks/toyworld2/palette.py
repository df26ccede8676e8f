"""World 2's colours: every kind of thing has colours no other thing uses, so the detector can judge from pixels.

Backgrounds and grounds are drawn by rejection (`colours_keep_apart`): no background colour, nor any blend of its two
colours (the VAE blurs stripe edges), nor a ground's shadow comes near a thing's colour. The pupil and the mouth are
never detected, so they stay out of that rule.
"""

from __future__ import annotations

import numpy as np

SHAPE_COLOURS: dict[str, tuple[int, int, int]] = {  # the first world's palette, unchanged
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 200, 30),
}
SKINS: tuple[tuple[int, int, int], ...] = ((236, 196, 164), (196, 140, 96), (122, 78, 50))
EYE_WHITE = (252, 252, 252)
PUPIL = (20, 20, 20)  # told from the lenses by size (a pupil is a few pixels)
MOUTH = (150, 45, 75)
FRAMES = (215, 40, 215)  # glasses
LENSES = (28, 28, 36)  # sunglasses
HAT = (20, 140, 150)
SHADOW_DARKNESS = 0.5  # a shadow multiplies the ground's colour by this
TEXTURE_DARKNESS = (0.7, 0.8)  # a texture's second colour is its first times this: never a shadow's 0.5

THINGS: tuple[tuple[int, int, int], ...] = (*SHAPE_COLOURS.values(), *SKINS, EYE_WHITE, FRAMES, LENSES, HAT)
BACKGROUND_MARGIN = 60.0  # RGB distance every background colour (and blend) keeps from every thing's colour
DETECT_DISTANCE = 40.0  # RGB distance within which the detector counts a pixel as a thing's colour


def distance_to_things(colours: np.ndarray) -> np.ndarray:
    """Smallest RGB distance of each colour (..., 3) to any thing's colour."""
    things = np.array(THINGS, dtype=np.float32)
    return np.linalg.norm(np.asarray(colours, np.float32)[..., None, :] - things, axis=-1).min(-1)


def colours_keep_apart(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """True when a, b and every blend of the two keep BACKGROUND_MARGIN from all things' colours."""
    t = np.linspace(0.0, 1.0, 11)[:, None]
    blends = (1 - t) * np.array(a, np.float32) + t * np.array(b, np.float32)
    return bool(distance_to_things(blends).min() >= BACKGROUND_MARGIN)
