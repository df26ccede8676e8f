"""World 2: faces with glasses, sunglasses and hats, the first world's shapes, textured backgrounds, shadows; 64 x 64 RGB.

Unlike the first world, what an object covers cannot be predicted from its surroundings: eyes lie under sunglasses, a
head's outline and stripes continue under a hat, and a shape standing on the ground casts a shadow that belongs to it.
`render_without` draws the scene with an object truly gone, the ground truth a removal is judged against.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from benchmarks.toyworld2.palette import (
    EYE_WHITE, FRAMES, HAT, LENSES, MOUTH, PUPIL, SHADOW_DARKNESS, SHAPE_COLOURS, SKINS, TEXTURE_DARKNESS, colours_keep_apart,
)

CANVAS = 64
SHAPES = ("circle", "square", "triangle")
ACCESSORIES = ("glasses", "sunglasses", "hat")  # caption words; glasses and sunglasses never together
BACKGROUNDS = ("plain", "gradient", "stripes", "checks", "noise")
BACKGROUND_PHRASES = {  # the caption's words for each background, when it names it
    "plain": "on a plain background", "gradient": "on a gradient", "stripes": "on stripes", "checks": "on checks",
    "noise": "on noise", "ground": "on the ground",
}
STRIPE_PERIODS = (8, 10, 12, 16)  # pixels; 8 is the finest a 4x-downsampling VAE holds at 27 dB
STRIPE_ANGLES = (0, 45, 90, 135)  # degrees
CHECK_CELLS = (6, 8, 10)  # pixels
FACE_RADIUS = {1: (14, 19), 2: (11, 12)}  # head radius by the number of faces, inclusive (two of 12 fit only one above
# the other); below 11 the eyes did not survive a 4x-downsampling VAE
SHAPE_RADIUS = (6, 10)  # radius or half side, inclusive
HORIZON = (42, 50)  # the ground's top row, inclusive
GROUND_MARGIN = 50.0  # RGB distance between the sky's colours and the ground's (and its shadow's)
NAME_BACKGROUND = 0.5  # share of captions that name the background


@dataclass(frozen=True)
class Background:
    kind: str  # one of BACKGROUNDS
    colour: tuple[int, int, int]
    second: tuple[int, int, int]  # the texture's other colour (the gradient's bottom)
    period: int = 0  # stripes' period or checks' cell, pixels
    angle: int = 0  # stripes' direction, degrees
    seed: int = 0  # the noise texture's
    horizon: int = 0  # > 0: a flat ground of `ground` colour from this row down
    ground: tuple[int, int, int] = (0, 0, 0)


@dataclass(frozen=True)
class Face:
    cx: int
    cy: int
    r: int
    skin: tuple[int, int, int]
    accessories: tuple[str, ...] = ()  # in caption order

    @property
    def names(self) -> tuple[str, ...]:
        return ("face", *self.accessories)

    @property
    def phrase(self) -> str:
        worn = [("a " + a if a == "hat" else a) for a in self.accessories]
        return "a face" + (" with " + " and ".join(worn) if worn else "")


@dataclass(frozen=True)
class Shape:
    colour: str
    shape: str
    cx: int
    cy: int
    r: int
    shadow_side: int = 0  # -1 or 1 where it stands on the ground and casts a shadow that way, else 0

    @property
    def names(self) -> tuple[str, ...]:
        return (f"{self.colour} {self.shape}",)

    @property
    def phrase(self) -> str:
        return f"a {self.colour} {self.shape}"

    @property
    def box(self) -> tuple[int, int, int, int]:
        return self.cx - self.r, self.cy - self.r, self.cx + self.r, self.cy + self.r


@dataclass(frozen=True)
class Scene:
    background: Background
    things: tuple[Face | Shape, ...]  # in caption order
    name_background: bool = False

    @property
    def caption(self) -> str:
        text = " and ".join(t.phrase for t in self.things)
        kind = "ground" if self.background.horizon else self.background.kind
        return f"{text} {BACKGROUND_PHRASES[kind]}" if self.name_background else text

    @property
    def names(self) -> tuple[str, ...]:
        """The words of every object and accessory, as the caption says them, one per instance."""
        return tuple(n for t in self.things for n in t.names)

    @property
    def faces(self) -> tuple[Face, ...]:
        return tuple(t for t in self.things if isinstance(t, Face))


def _colour(rng: np.random.Generator) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """A background colour and its darker partner, both (and their blends) far from every thing's colour."""
    while True:
        a = rng.integers(60, 256, 3)
        b = np.round(a * rng.uniform(*TEXTURE_DARKNESS))
        if colours_keep_apart(tuple(a), tuple(b)):
            return tuple(int(v) for v in a), tuple(int(v) for v in b)


def _ground(rng: np.random.Generator) -> tuple[int, int, int]:
    """A flat ground colour whose shadow, and the blend at the shadow's edge, keep apart from every thing's colour."""
    while True:
        g = rng.integers(60, 256, 3)
        if colours_keep_apart(tuple(g), tuple(np.round(g * SHADOW_DARKNESS))):
            return tuple(int(v) for v in g)


def sample_background(rng: np.random.Generator, ground: bool = False) -> Background:
    """A background of a random kind; with `ground`, a flat ground below a horizon whose colour and shadow stay
    GROUND_MARGIN from every colour of the sky, so the ground's top row is plain to see."""
    kind = str(rng.choice(BACKGROUNDS))
    while True:
        colour, second = _colour(rng)
        if rng.random() < 0.5:
            colour, second = second, colour
        floor = _ground(rng) if ground else (0, 0, 0)
        sky = np.array([colour, second], np.float32)
        flat = np.array([floor, np.round(np.array(floor) * SHADOW_DARKNESS)], np.float32)
        if not ground or np.linalg.norm(sky[:, None] - flat[None], axis=-1).min() >= GROUND_MARGIN:
            break
    period = int(rng.choice(STRIPE_PERIODS if kind == "stripes" else CHECK_CELLS)) if kind in ("stripes", "checks") else 0
    angle = int(rng.choice(STRIPE_ANGLES)) if kind == "stripes" else 0
    horizon = int(rng.integers(HORIZON[0], HORIZON[1] + 1)) if ground else 0
    return Background(kind, colour, second, period, angle, int(rng.integers(0, 2**31)), horizon, floor)


def _apart(a: tuple[int, int, int, int], b: tuple[int, int, int, int], gap: int = 3) -> bool:
    return a[2] + gap <= b[0] or b[2] + gap <= a[0] or a[3] + gap <= b[1] or b[3] + gap <= a[1]


def face_box(face: Face) -> tuple[int, int, int, int]:
    """The face's bounding box with its hat's brim and crown (x0, y0, x1, y1)."""
    top = face.cy - int(np.ceil(1.35 * face.r))
    return face.cx - int(np.ceil(1.3 * face.r)), top, face.cx + int(np.ceil(1.3 * face.r)), face.cy + face.r


def _sample_face(rng: np.random.Generator, radius: tuple[int, int]) -> Face:
    r = int(rng.integers(radius[0], radius[1] + 1))
    margin_x, top = int(np.ceil(1.3 * r)), int(np.ceil(1.35 * r))
    cx = int(rng.integers(margin_x, CANVAS - margin_x + 1))
    cy = int(rng.integers(top, CANVAS - r + 1))
    eyes = rng.choice(["", "glasses", "sunglasses"], p=[0.4, 0.3, 0.3])
    worn = [str(eyes)] if eyes else []
    if rng.random() < 0.35:
        worn.append("hat")
    if len(worn) == 2 and rng.random() < 0.5:
        worn.reverse()
    return Face(cx, cy, r, SKINS[int(rng.integers(len(SKINS)))], tuple(worn))


def _sample_shape(rng: np.random.Generator, colour: str, horizon: int) -> Shape:
    r = int(rng.integers(SHAPE_RADIUS[0], SHAPE_RADIUS[1] + 1))
    cx = int(rng.integers(r, CANVAS - r + 1))
    if horizon:  # standing on the ground: the shape's bottom on the horizon, a shadow to one side
        return Shape(colour, str(rng.choice(SHAPES)), cx, horizon - r, r, int(rng.choice([-1, 1])))
    return Shape(colour, str(rng.choice(SHAPES)), cx, int(rng.integers(r, CANVAS - r + 1)), r)


def _shadow_box(shape: Shape, horizon: int) -> tuple[int, int, int, int]:
    x = shape.cx + shape.shadow_side * shape.r
    return min(shape.cx, x) - 2 * shape.r, shape.cy - shape.r, max(shape.cx, x) + 2 * shape.r, horizon + 6


def sample_scene(rng: np.random.Generator, kind: str | None = None) -> Scene:
    """Draw one scene: `kind` "face" (1-2 faces, maybe a shape), "shapes" (1-3 shapes) or "ground" (1-2 shapes standing
    on the ground, each casting a shadow); by default face 50 %, shapes 30 %, ground 20 %."""
    kind = kind or str(rng.choice(["face", "shapes", "ground"], p=[0.5, 0.3, 0.2]))
    background = sample_background(rng, ground=kind == "ground")
    while True:
        things: list[Face | Shape] = []
        boxes: list[tuple[int, int, int, int]] = []
        if kind == "face":
            count = 1 if rng.random() < 0.8 else 2
            for _ in range(count):
                face = _sample_face(rng, FACE_RADIUS[count])
                if all(_apart(face_box(face), b) for b in boxes):
                    things.append(face)
                    boxes.append(face_box(face))
            n_shapes = int(rng.random() < 0.3)
        else:
            n_shapes = int(rng.integers(1, 4 if kind == "shapes" else 3))
        colours = rng.choice(list(SHAPE_COLOURS), size=n_shapes, replace=False)
        for colour in colours:
            for _ in range(50):
                shape = _sample_shape(rng, str(colour), background.horizon)
                box = _shadow_box(shape, background.horizon) if shape.shadow_side else shape.box
                if all(_apart(box, b) for b in boxes):
                    things.append(shape)
                    boxes.append(box)
                    break
        wanted_faces = kind != "face" or len(things) - n_shapes >= 1
        if wanted_faces and len([t for t in things if isinstance(t, Shape)]) == n_shapes and things:
            order = rng.permutation(len(things))
            return Scene(background, tuple(things[i] for i in order), bool(rng.random() < NAME_BACKGROUND))


# ---- rendering -------------------------------------------------------------------------------------------------------

_Y, _X = np.mgrid[0:CANVAS, 0:CANVAS] + 0.5  # pixel centres


def _disk(cx: float, cy: float, r: float) -> np.ndarray:
    return (_X - cx) ** 2 + (_Y - cy) ** 2 <= r**2


def _rect(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return (_X >= x0) & (_X < x1) & (_Y >= y0) & (_Y < y1)


def shape_mask(shape: Shape) -> np.ndarray:
    """Boolean mask of one shape's pixels, as the first world draws it."""
    dx, dy = _X - shape.cx, _Y - shape.cy
    if shape.shape == "circle":
        return dx**2 + dy**2 <= shape.r**2
    if shape.shape == "square":
        return (np.abs(dx) <= shape.r) & (np.abs(dy) <= shape.r)
    return (dy >= -shape.r) & (dy <= shape.r) & (np.abs(dx) <= (dy + shape.r) / 2)


def shadow_mask(shape: Shape, horizon: int) -> np.ndarray:
    """The ground a standing shape darkens: a flat ellipse from its base toward `shadow_side`, minus the shape."""
    if not shape.shadow_side:
        return np.zeros((CANVAS, CANVAS), bool)
    cx, cy = shape.cx + shape.shadow_side * 1.1 * shape.r, horizon + 1.5
    ellipse = ((_X - cx) / (1.6 * shape.r)) ** 2 + ((_Y - cy) / 3.5) ** 2 <= 1
    return ellipse & (_Y >= horizon) & ~shape_mask(shape)


def eye_geometry(face: Face) -> tuple[list[tuple[float, float]], float]:
    """Centres of the two eyes and their radius: at least 3 px, what a VAE with 4 x 4-pixel latent cells keeps."""
    y = face.cy - 0.12 * face.r
    return [(face.cx - 0.4 * face.r, y), (face.cx + 0.4 * face.r, y)], 0.24 * face.r + 0.5


def face_parts(face: Face) -> dict[str, np.ndarray]:
    """Boolean masks of each part of a face, in drawing order: head, eyes, pupils, mouth, then its accessories."""
    eyes, e = eye_geometry(face)
    ey = eyes[0][1]
    parts = {
        "face": _disk(face.cx, face.cy, face.r),
        "eyes": _disk(*eyes[0], e) | _disk(*eyes[1], e),
        "pupils": _disk(*eyes[0], 0.45 * e) | _disk(*eyes[1], 0.45 * e),
        "mouth": _rect(face.cx - 0.3 * face.r, face.cy + 0.45 * face.r, face.cx + 0.3 * face.r, face.cy + 0.45 * face.r + 2),
    }
    bridge = _rect(eyes[0][0], ey - 1, eyes[1][0], ey + 1)
    for accessory in face.accessories:
        if accessory == "glasses":  # rims around the eyes, which show through
            rims = [_disk(x, y, e + 3.0) & ~_disk(x, y, e + 0.8) for x, y in eyes]  # 2 px thick: thinner ones blur away
            parts["glasses"] = rims[0] | rims[1] | (bridge & ~_disk(*eyes[0], e + 0.8) & ~_disk(*eyes[1], e + 0.8))
        elif accessory == "sunglasses":  # opaque lenses: the eyes are hidden
            parts["sunglasses"] = _disk(*eyes[0], e + 2.0) | _disk(*eyes[1], e + 2.0) | bridge
        elif accessory == "hat":  # a brim wider than the head, a crown above it: head and background go on under it
            brim_y = face.cy - 0.45 * face.r  # just above the eyes
            parts["hat"] = _rect(face.cx - 1.3 * face.r, brim_y - 2.5, face.cx + 1.3 * face.r, brim_y) | _rect(
                face.cx - 0.75 * face.r, face.cy - 1.35 * face.r, face.cx + 0.75 * face.r, brim_y
            )
    return parts


def render_background(background: Background) -> np.ndarray:
    """The background alone (with its ground, no shadows), uint8 H x W x 3."""
    a, b = np.array(background.colour, np.float64), np.array(background.second, np.float64)
    if background.kind == "plain":
        t = np.zeros((CANVAS, CANVAS))
    elif background.kind == "gradient":
        t = np.broadcast_to(np.linspace(0.0, 1.0, CANVAS)[:, None], (CANVAS, CANVAS))
    elif background.kind == "stripes":
        theta = np.deg2rad(background.angle)
        t = (np.floor((_X * np.cos(theta) + _Y * np.sin(theta)) * 2 / background.period) % 2).astype(np.float64)
    elif background.kind == "checks":
        t = ((np.floor(_X / background.period) + np.floor(_Y / background.period)) % 2).astype(np.float64)
    else:  # band-limited noise: white noise on an 8 x 8 grid, smoothly upsampled, stretched to [0, 1]
        coarse = np.random.default_rng(background.seed).standard_normal((8, 8)).astype(np.float32)
        t = cv2.resize(coarse, (CANVAS, CANVAS), interpolation=cv2.INTER_CUBIC).astype(np.float64)
        t = (t - t.min()) / max(t.max() - t.min(), 1e-6)
    image = (1 - t)[..., None] * a + t[..., None] * b
    if background.horizon:
        image[background.horizon :] = background.ground
    return np.round(image).astype(np.uint8)


def render(scene: Scene) -> np.ndarray:
    """Render a scene to uint8 H x W x 3: background, shadows, then each thing in caption order."""
    image = render_background(scene.background)
    horizon = scene.background.horizon
    for thing in scene.things:
        if isinstance(thing, Shape) and thing.shadow_side:
            shade = shadow_mask(thing, horizon)
            image[shade] = np.round(image[shade] * SHADOW_DARKNESS).astype(np.uint8)
    colours = {"face": None, "eyes": EYE_WHITE, "pupils": PUPIL, "mouth": MOUTH, "glasses": FRAMES, "sunglasses": LENSES, "hat": HAT}
    for thing in scene.things:
        if isinstance(thing, Shape):
            image[shape_mask(thing)] = SHAPE_COLOURS[thing.colour]
            continue
        for part, mask in face_parts(thing).items():
            image[mask] = colours[part] or thing.skin
    return image


def without(scene: Scene, name: str) -> Scene:
    """The scene with every instance of `name` gone: a face with its accessories, an accessory from every face that
    wears it, a shape with its shadow."""
    if name not in scene.names:
        raise ValueError(f"{name!r} is not in the scene; it has {', '.join(sorted(set(scene.names)))}")
    things: list[Face | Shape] = []
    for thing in scene.things:
        if isinstance(thing, Face) and name in thing.accessories:
            things.append(replace(thing, accessories=tuple(a for a in thing.accessories if a != name)))
        elif name not in thing.names:
            things.append(thing)
    return replace(scene, things=tuple(things))


def render_without(scene: Scene, name: str) -> np.ndarray:
    """The scene drawn with `name` truly gone: the eyes under sunglasses, the stripes behind a shape, no shadow."""
    return render(without(scene, name))


def expected_names(scene: Scene) -> list[str]:
    """What `detect(render(scene))` finds: the scene's names, `eyes` for each face whose eyes show, `shadow` for each
    shape that casts one; sorted."""
    found = list(scene.names)
    found += ["eyes" for f in scene.faces if "sunglasses" not in f.accessories]
    found += ["shadow" for t in scene.things if isinstance(t, Shape) and t.shadow_side]
    return sorted(found)
