"""The output as the input was: its pixel mode (grey, CMYK, 16-bit) and its metadata (EXIF, ICC profile, XMP, DPI)."""

from __future__ import annotations

import numpy as np
from PIL import Image

# modes the edit is converted back to; the input's own pixels are kept outside the mask, bit for bit
NATIVE_MODES = ("L", "LA", "CMYK", "I;16", "I")  # "I": 32-bit integer grey (TIFF), read as 8- or 16-bit by its range
# palette images ('P') come back as RGB: a palette cannot hold the colours the model paints
METADATA_KEYS = ("exif", "icc_profile", "xmp", "dpi")  # what a result carries from its input and write_image writes
ORIENTATION = 0x0112


def metadata_of(upright: Image.Image) -> dict:
    """What to write back: EXIF (orientation reset, since the pixels are already upright), ICC profile, XMP, DPI."""
    found = {key: upright.info[key] for key in METADATA_KEYS if key != "exif" and upright.info.get(key)}
    exif = upright.getexif()
    if len(exif):
        if ORIENTATION in exif:
            exif[ORIENTATION] = 1
        found["exif"] = exif.tobytes()
    return found


def native_of(upright: Image.Image) -> Image.Image | None:
    """The upright input in its own mode, when that mode is one the output goes back to (`upright` is already the
    reader's own copy, so it is kept as it is)."""
    return upright if upright.mode in NATIVE_MODES else None


def in_native_mode(edited: Image.Image, native: Image.Image, mask: np.ndarray | None) -> Image.Image:
    """`edited` (RGB or RGBA) in the input's mode; where `mask` is 0, the input's own pixels."""
    if native.mode == "I;16":
        grey = np.asarray(edited.convert("L"), dtype=np.uint16) * 257  # 0..255 -> 0..65535
        converted = Image.fromarray(grey)  # a uint16 array reads as I;16
    elif native.mode == "I":  # the scale the reader used: 8-bit values as they are, 16-bit ones times 257
        scale = 1 if int(np.asarray(native).max()) <= 255 else 257
        converted = Image.fromarray(np.asarray(edited.convert("L"), dtype=np.int32) * scale)  # an int32 array reads as I
    else:
        converted = edited.convert(native.mode)
    if mask is None:
        return converted
    keep = np.asarray(mask) == 0
    pixels = np.array(converted)
    pixels[keep] = np.asarray(native)[keep]
    return Image.fromarray(pixels) if native.mode in ("I;16", "I") else Image.fromarray(pixels, native.mode)


def with_metadata(image: Image.Image, metadata: dict) -> Image.Image:
    """`image` carrying `metadata` in its info, where write_image (and PIL's save, for some formats) finds it."""
    image.info.update(metadata)
    return image
