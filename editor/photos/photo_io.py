"""Photo I/O: read any common photo as 8-bit RGB (+ alpha), resize for the model and back, find images in folders
(writing: editor/photos/writing.py)."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from editor.checks import check_megapixels
from editor.photos.faithful import in_native_mode, metadata_of, native_of, with_metadata
from unwant.sd.errors import UnwantError

log = logging.getLogger("unwant")

READ_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "MPO")  # MPO: the multi-picture JPEG many cameras write
READ_FORMATS_TEXT = "JPEG, PNG, WebP, BMP, TIFF"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
MIN_SIDE = 16  # smaller is a tracking pixel or a mistake: scaled up to the model's size it holds no object to remove
ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")
# Everything PIL may raise while decoding a damaged file; its own open() already maps most to UnidentifiedImageError.
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error, zlib.error,
                 Image.DecompressionBombError)


class PhotoError(UnwantError):
    """A photo could not be read, or an output could not be written."""


@dataclass
class Photo:
    """An input photo as 8-bit RGB with orientation applied, its alpha kept aside to re-attach to the output."""

    rgb: Image.Image
    alpha: Image.Image | None  # mode 'L', same size as rgb; None when the input had no transparency
    mode: str  # PIL mode of the input before conversion, e.g. 'I;16' or 'CMYK'
    native: Image.Image | None = None  # the upright input in its own mode, for modes the output returns to (faithful.py)
    metadata: dict = field(default_factory=dict)  # EXIF (orientation reset), ICC profile, XMP, DPI

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) after EXIF orientation."""
        return self.rgb.size


def read_photo(path: str | os.PathLike, max_megapixels: float | None = 50.0) -> Photo:
    """Read a JPEG, PNG, WebP, BMP or TIFF file as a Photo; every bad file raises PhotoError."""
    check_megapixels(max_megapixels)
    path = Path(path)
    _check_file(path)
    with _our_checks_not_pils():
        image = _open(path)
        with image:
            if image.format not in READ_FORMATS:
                raise PhotoError(
                    f"{path}: {image.format} images are not supported; convert it to one of {READ_FORMATS_TEXT}"
                )
            _check_size(image.size, str(path), max_megapixels)
            _load(image, str(path))
            return _photo_from_image(image, str(path))


def photo_from_any(image: str | os.PathLike | Image.Image | np.ndarray | Photo,
                   max_megapixels: float | None = 50.0) -> Photo:
    """A Photo from a path, a PIL image, or an H x W (x 3 | 4) uint8 / uint16 / float-in-[0, 1] array."""
    check_megapixels(max_megapixels)
    if isinstance(image, Photo):
        return image
    if isinstance(image, (str, os.PathLike)):
        return read_photo(image, max_megapixels)
    if isinstance(image, Image.Image):
        where = "the given PIL image"
        _check_size(image.size, where, max_megapixels)
        with _our_checks_not_pils():  # the image may still be lazily loading from its file
            _load(image, where)
        return _photo_from_image(image, where)
    if isinstance(image, np.ndarray):
        where = f"the given {image.dtype} array of shape {image.shape}"
        pil = _image_from_array(image, where)
        _check_size(pil.size, where, max_megapixels)
        return _photo_from_image(pil, where)
    raise PhotoError(f"cannot use a {type(image).__name__} as a photo; pass a file path, a PIL image or a numpy array")


MAX_AREA = 4.0  # the model works on at most this many times its native square: a 10:1 panorama is not run at 512 x 5120
# (SD 1.5: 1024 x 1024's pixels, e.g. 2048 x 512 for 4:1; the latent's self-attention grows with the square of the area)


def model_size(size: tuple[int, int], native: int = 512, factor: int = 8) -> tuple[int, int]:
    """(w, h) with the short side at `native`, aspect kept, both sides rounded to a multiple of `factor`; photos
    wider than 4:1 are scaled down further, to MAX_AREA times the native square."""
    width, height = size
    if min(width, height, native, factor) <= 0:
        raise ValueError(f"model_size needs positive sizes, got size={size}, native={native}, factor={factor}")
    scale = native / min(width, height)
    scale = min(scale, (MAX_AREA * native * native / (width * height)) ** 0.5)
    return _round_to(width * scale, factor), _round_to(height * scale, factor)


def to_model(photo: Photo, native: int = 512, factor: int = 8) -> Image.Image:
    """The photo's RGB resized (LANCZOS) to model_size."""
    return photo.rgb.resize(model_size(photo.size, native, factor), Image.Resampling.LANCZOS)


def from_model(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A model-sized image resized (LANCZOS) back to the photo's `size`; always a new image."""
    if image.size == tuple(size):
        return image.copy()
    return image.resize(tuple(size), Image.Resampling.LANCZOS)


def finish(image_rgb: Image.Image, photo: Photo, mask: np.ndarray | None = None) -> Image.Image:
    """The edited image at the photo's size and in its mode (grey, CMYK, 16-bit; else RGB, or RGBA with the photo's
    alpha), carrying its metadata; where `mask` is 0 the photo's own pixels in its own mode."""
    out = from_model(image_rgb, photo.size).convert("RGB")
    if photo.alpha is not None:
        out.putalpha(photo.alpha)
    if photo.native is not None:
        out = in_native_mode(out, photo.native, mask)
    return with_metadata(out, photo.metadata)


def find_images(
    paths: Iterable[str | os.PathLike], exclude: str | os.PathLike | None = None
) -> list[tuple[Path, Path]]:
    """(file, path relative to its folder argument) for every image in the files and folders given, in order."""
    skip = Path(exclude).resolve() if exclude is not None else None
    found: list[tuple[Path, Path]] = []
    seen: set[Path] = set()
    names: dict[str, Path] = {}
    skipped: list[Path] = []
    for arg in map(Path, paths):
        if not arg.exists():
            raise PhotoError(f"{arg}: no such file or folder; check the path")
        if _is_under(arg, skip):
            skipped.append(arg)  # e.g. the output folder itself, caught by a shell glob over the input folder
            continue
        pairs = _images_in_folder(arg, skip) if arg.is_dir() else [(arg, Path(arg.name))]
        for file, relative in pairs:
            if _resolved(file) in seen:
                continue  # named twice, e.g. as a file and inside a folder argument
            seen.add(_resolved(file))
            # without the suffix: an edit is written as <stem>.png, so x.jpg and x.png would share one output; lower:
            # the outputs would also clash on case-insensitive disks
            key = relative.with_suffix("").as_posix().lower()
            if key in names:
                raise PhotoError(
                    f"{file}: its output would clash with that of {names[key]} (both would be written as "
                    f"{relative.with_suffix('.png')}); process them in separate runs or rename one"
                )
            names[key] = file
            found.append((file, relative))
    if not found and skipped:
        raise PhotoError(
            f"{skipped[0]}: is inside the output folder {exclude}; choose an output folder outside the inputs"
        )
    return found


def output_path_for(input_path: str | os.PathLike) -> Path:
    """The default output beside the input: <stem>.edited.png."""
    input_path = Path(input_path)
    return input_path.with_name(f"{input_path.stem}.edited.png")


# --- reading ---------------------------------------------------------------------------------------------------


def _check_file(path: Path) -> None:
    """Refuse what is not a non-empty regular file, before PIL gives a vaguer message."""
    if path.is_symlink() and _resolved(path) == path.absolute() and not path.exists():
        raise PhotoError(f"{path}: a link that leads nowhere (or in a loop); fix or remove the link")
    if not path.exists():
        raise PhotoError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise PhotoError(f"{path}: is a folder, not an image file; give the path of an image file")
    if not path.is_file():
        raise PhotoError(f"{path}: not a regular file; give the path of an image file")
    if path.stat().st_size == 0:
        raise PhotoError(f"{path}: file is empty (0 bytes); re-export or re-download it")


@contextlib.contextmanager
def _our_checks_not_pils() -> Iterator[None]:
    """Turn off PIL's pixel-count warning (our _check_size says how to override) and truncated-file tolerance."""
    # PIL's bomb check runs in open() and TIFF's load(), on the same header size that _check_size sees first.
    # These are PIL globals, so they are restored at once rather than set for the whole process.
    saved = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
    Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = None, False
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = saved


def _open(path: Path) -> Image.Image:
    """Image.open (header only), with its errors turned into PhotoError."""
    try:
        return Image.open(path)
    except UnidentifiedImageError:
        raise PhotoError(
            f"{path}: not an image file, or one too damaged to identify; use one of {READ_FORMATS_TEXT}"
        ) from None
    except OSError as error:  # permissions, I/O errors
        raise PhotoError(f"{path}: cannot read the file ({_reason(error)}); check that it is readable") from None
    except DECODE_ERRORS as error:
        raise PhotoError(f"{path}: image header is corrupt ({_reason(error)}); re-export or re-download it") from None


def _load(image: Image.Image, where: str) -> None:
    """Decode all pixels now, so a truncated or corrupt file fails here and not mid-edit."""
    try:
        image.load()
    except DECODE_ERRORS as error:
        raise PhotoError(
            f"{where}: image data is corrupt or truncated ({_reason(error)}); re-export or re-download it"
        ) from None


def _check_size(size: tuple[int, int], where: str, max_megapixels: float | None) -> None:
    """Refuse images too small for the model or over the megapixel limit."""
    width, height = size
    if min(width, height) < MIN_SIDE:
        raise PhotoError(
            f"{where}: image is {width}x{height} px, under the {MIN_SIDE} px minimum on a side; use a larger image"
        )
    megapixels = width * height / 1e6
    if max_megapixels is not None and megapixels > max_megapixels:
        raise PhotoError(
            f"{where}: image is {width}x{height} px = {megapixels:.4g} megapixels, over the limit of "
            f"{max_megapixels:g}; downscale it or pass --max-megapixels {math.ceil(megapixels)}"
        )


def _photo_from_image(image: Image.Image, where: str) -> Photo:
    """Apply EXIF orientation and split into 8-bit RGB and alpha; the result shares nothing with `image`."""
    upright = _upright(image, where)
    rgb, alpha = _to_rgb(upright, where)
    return Photo(rgb=rgb, alpha=alpha, mode=image.mode, native=native_of(upright), metadata=metadata_of(upright))


def _upright(image: Image.Image, where: str) -> Image.Image:
    """A copy of the image turned as its EXIF orientation tag says."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception as error:  # a malformed EXIF block must not cost the user an otherwise readable photo
        log.warning("%s: ignoring unreadable EXIF orientation (%s)", where, _reason(error))
        return image.copy()


def _to_rgb(image: Image.Image, where: str) -> tuple[Image.Image, Image.Image | None]:
    """8-bit RGB and, if the image has transparency, its alpha as 'L'."""
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        return Image.fromarray(_gray_to_uint8(image, where), "L").convert("RGB"), None
    if image.mode in ALPHA_MODES or (image.mode in ("P", "L", "RGB") and "transparency" in image.info):
        rgba = image.convert("RGBA")
        return rgba.convert("RGB"), rgba.getchannel("A")
    try:
        return image.convert("RGB"), None
    except ValueError:
        raise PhotoError(f"{where}: cannot convert pixel mode {image.mode} to RGB; re-export it as 8-bit RGB") from None


def _gray_to_uint8(image: Image.Image, where: str) -> np.ndarray:
    """Scale 16-bit, 32-bit integer and float gray to 8 bits by the range its values use, never clipping."""
    values = np.asarray(image)
    if image.mode.startswith("I;16"):
        return _uint16_to_uint8(values)
    low, high = float(values.min()), float(values.max())
    # 'I' and 'F' say nothing of the range, so take the narrowest usual one that holds every value.
    if image.mode == "F" and low >= 0 and high <= 1:
        return _unit_float_to_uint8(values)
    if low >= 0 and high <= 255:
        return np.round(values).astype(np.uint8)
    if low >= 0 and high <= 65535:
        return _uint16_to_uint8(np.round(values).astype(np.uint32))
    raise PhotoError(
        f"{where}: {image.mode} pixel values span {low:g}..{high:g}, outside the 0..65535 of 8- and 16-bit images; "
        "re-export it as an 8- or 16-bit image"
    )


def _image_from_array(array: np.ndarray, where: str) -> Image.Image:
    """An L, RGB or RGBA image from an H x W, H x W x 3 or H x W x 4 array of uint8, uint16 or float in [0, 1]."""
    modes = {(2, None): "L", (3, 3): "RGB", (3, 4): "RGBA"}
    layout = (array.ndim, array.shape[2] if array.ndim == 3 else None)
    if layout not in modes:
        raise PhotoError(f"{where}: expected shape H x W, H x W x 3 or H x W x 4; reshape or convert the array")
    if array.dtype == np.uint8:
        pixels = array
    elif array.dtype == np.uint16:
        pixels = _uint16_to_uint8(array)
    elif np.issubdtype(array.dtype, np.floating):
        if array.size and not (np.isfinite(array).all() and array.min() >= 0 and array.max() <= 1):
            raise PhotoError(f"{where}: float pixels must lie in [0, 1]; divide 0..255 data by 255 first")
        pixels = _unit_float_to_uint8(array)
    else:
        raise PhotoError(f"{where}: unsupported dtype; use uint8, uint16, or float in [0, 1]")
    return Image.fromarray(np.ascontiguousarray(pixels), modes[layout])


def _uint16_to_uint8(values: np.ndarray) -> np.ndarray:
    """0..65535 to 0..255, rounded (65535 / 257 = 255 exactly)."""
    return ((values.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _unit_float_to_uint8(values: np.ndarray) -> np.ndarray:
    """[0, 1] floats to 0..255, rounded."""
    return np.round(values.astype(np.float32) * 255).astype(np.uint8)


# --- model sizes ------------------------------------------------------------------------------------------------


def _round_to(value: float, factor: int) -> int:
    """The nearest multiple of `factor`, at least `factor`."""
    return max(factor, math.floor(value / factor + 0.5) * factor)


# --- finding images -----------------------------------------------------------------------------------------------


def _images_in_folder(folder: Path, skip: Path | None) -> list[tuple[Path, Path]]:
    """Image files under `folder`, recursively and sorted, skipping hidden entries and anything under `skip`."""
    found = []
    for root, dirs, files in os.walk(folder, onerror=_raise_walk_error):
        root = Path(root)
        # Hidden: .git, thumbnail caches, and macOS '._x.jpg' resource forks that carry an image extension.
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not _is_under(root / d, skip))
        for name in sorted(files):
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES:
                found.append((root / name, (root / name).relative_to(folder)))
    if not found:
        raise PhotoError(
            f"{folder}: no images found in this folder or its subfolders (looked for {' '.join(IMAGE_SUFFIXES)})"
        )
    return found


def _raise_walk_error(error: OSError) -> None:
    """os.walk skips unreadable folders silently; say so instead."""
    raise PhotoError(f"{error.filename}: cannot list this folder ({_reason(error)}); check its permissions")


def _is_under(path: Path, folder: Path | None) -> bool:
    """Whether `path` is `folder` or inside it, after resolving links."""
    if folder is None:
        return False
    resolved = _resolved(path)
    return resolved == folder or folder in resolved.parents


def _resolved(path: Path) -> Path:
    """`path` with its links resolved; a link that loops or is too deep stays as it is spelled (reading it fails
    later, in its own report line)."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):
        return path.absolute()


def _reason(error: BaseException) -> str:
    """An exception as one short line, for the end of our own message."""
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return " ".join(str(text).split())
