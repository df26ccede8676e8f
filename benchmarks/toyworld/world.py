"""Scenes of the toy world: 1-3 flat shapes of distinct colours on a vertical gradient, 64 x 64 RGB.

The values here are a contract (the toy-world issue): other tools depend on them, keep them exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CANVAS = 64
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 200, 30),
}
SHAPES = ("circle", "square", "triangle")
RADIUS_RANGE = (7, 12)  # radius or half side, pixels, inclusive
BACKGROUND_RANGE = (170, 250)  # each channel of the top and bottom gradient colours
MIN_GAP = 3  # pixels between the bounding boxes of two objects


@dataclass(frozen=True)
class SceneObject:
    colour: str
    shape: str
    cx: int
    cy: int
    r: int

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"

    @property
    def box(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1), inclusive-exclusive, of the shape's bounding box."""
        return self.cx - self.r, self.cy - self.r, self.cx + self.r, self.cy + self.r


@dataclass(frozen=True)
class Scene:
    top: tuple[int, int, int]
    bottom: tuple[int, int, int]
    objects: tuple[SceneObject, ...]  # in caption order

    @property
    def caption(self) -> str:
        return " and ".join(f"a {o.name}" for o in self.objects)


def boxes_apart(a: SceneObject, b: SceneObject) -> bool:
    ax0, ay0, ax1, ay1 = a.box
    bx0, by0, bx1, by1 = b.box
    return ax1 + MIN_GAP <= bx0 or bx1 + MIN_GAP <= ax0 or ay1 + MIN_GAP <= by0 or by1 + MIN_GAP <= ay0


def sample_scene(rng: np.random.Generator, n_objects: int | None = None) -> Scene:
    """Draw one scene: gradient colours, 1-3 objects of distinct colours, placed apart by rejection."""
    top = tuple(int(v) for v in rng.integers(BACKGROUND_RANGE[0], BACKGROUND_RANGE[1] + 1, 3))
    bottom = tuple(int(v) for v in rng.integers(BACKGROUND_RANGE[0], BACKGROUND_RANGE[1] + 1, 3))
    while True:
        n = int(n_objects or rng.integers(1, 4))
        colours = rng.choice(list(COLOURS), size=n, replace=False)
        placed: list[SceneObject] = []
        for colour in colours:
            for _ in range(100):
                r = int(rng.integers(RADIUS_RANGE[0], RADIUS_RANGE[1] + 1))
                obj = SceneObject(
                    colour=str(colour),
                    shape=str(rng.choice(SHAPES)),
                    cx=int(rng.integers(r, CANVAS - r + 1)),
                    cy=int(rng.integers(r, CANVAS - r + 1)),
                    r=r,
                )
                if all(boxes_apart(obj, other) for other in placed):
                    placed.append(obj)
                    break
        if len(placed) == n:
            return Scene(top=top, bottom=bottom, objects=tuple(placed))


def object_mask(obj: SceneObject) -> np.ndarray:
    """Boolean CANVAS x CANVAS mask of one object's filled pixels (pixel centres at integer + 0.5)."""
    y, x = np.mgrid[0:CANVAS, 0:CANVAS] + 0.5
    dx, dy = x - obj.cx, y - obj.cy
    if obj.shape == "circle":
        return dx**2 + dy**2 <= obj.r**2
    if obj.shape == "square":
        return (np.abs(dx) <= obj.r) & (np.abs(dy) <= obj.r)
    # isosceles, apex up, base = height = 2r: half width grows from 0 at the apex to r at the base
    inside_rows = (dy >= -obj.r) & (dy <= obj.r)
    return inside_rows & (np.abs(dx) <= (dy + obj.r) / 2)


def render_background(scene: Scene) -> np.ndarray:
    """The vertical linear gradient alone, uint8 H x W x 3."""
    t = np.linspace(0.0, 1.0, CANVAS)[:, None, None]
    rows = (1 - t) * np.array(scene.top) + t * np.array(scene.bottom)
    return np.broadcast_to(np.round(rows), (CANVAS, CANVAS, 3)).astype(np.uint8)


def render(scene: Scene) -> np.ndarray:
    """Render a scene to uint8 H x W x 3."""
    image = render_background(scene).copy()
    for obj in scene.objects:
        image[object_mask(obj)] = COLOURS[obj.colour]
    return image
