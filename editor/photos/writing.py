"""Write an image in the format its extension names: atomically, never onto an input, never over an output unasked."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from editor.photos.faithful import METADATA_KEYS
from editor.photos.photo_io import ALPHA_MODES, PhotoError, _reason
from editor.photos.stripping import stripped_bytes
from unwant.sd.scoped import process_alive

log = logging.getLogger("unwant")

WRITE_FORMATS = {
    ".png": ("PNG", {"compress_level": 1}),  # zlib level 1: a 12 MP photo in 0.6 s instead of 3 s, files about 30 % larger
    ".jpg": ("JPEG", {"quality": 95}),
    ".jpeg": ("JPEG", {"quality": 95}),
    ".webp": ("WEBP", {"quality": 95}),
    ".bmp": ("BMP", {}),
    ".tif": ("TIFF", {}),
    ".tiff": ("TIFF", {}),
}
# JPEG has no alpha; PIL writes a 32-bit BMP but reads it back without alpha, as do many viewers.
NO_ALPHA_FORMATS = ("JPEG", "BMP")
# the modes each format keeps as they are; anything else is written as RGB (RGBA where the format has alpha)
KEPT_MODES = {"PNG": ("L", "LA", "I;16"), "JPEG": ("L", "CMYK"), "TIFF": ("L", "LA", "CMYK", "I;16", "I"), "BMP": ("L",), "WEBP": ()}


def write_image(image: Image.Image, path: str | os.PathLike, overwrite: bool = False,
                inputs: Iterable[str | os.PathLike] = (), strip_metadata: bool = False) -> Path:
    """Write `image` in the format its extension names, atomically, never onto an input; returns the path.

    The metadata the image carries from its input (EXIF, ICC profile, XMP, DPI) is written too, unless stripped."""
    path = Path(path)
    image_format, options = _output_format(path)
    refuse_inputs(path, inputs)
    _refuse_existing(path, overwrite)
    metadata = {} if strip_metadata else {key: image.info[key] for key in METADATA_KEYS if image.info.get(key)}
    if strip_metadata:  # some of PIL's writers read the ICC profile and EXIF from info by themselves
        image = image.copy()
        image.info.clear()
    _save_atomically(_for_format(image, image_format, path), path, image_format, {**options, **metadata})
    return path


def _output_format(path: Path) -> tuple[str, dict]:
    """The PIL format and save options that the output's extension names."""
    suffix = path.suffix.lower()
    if suffix not in WRITE_FORMATS:
        named = f"extension {path.suffix!r}" if path.suffix else "no extension"
        raise PhotoError(f"{path}: output has {named}; end its name with one of {', '.join(WRITE_FORMATS)}")
    return WRITE_FORMATS[suffix]


def refuse_inputs(path: Path, inputs: Iterable[str | os.PathLike]) -> None:
    """Refuse an output that is one of the inputs, however it is spelled (links, '..', case on some disks)."""
    target = path.resolve()
    for source in map(Path, inputs):
        if target == source.resolve() or _same_file(path, source):
            raise PhotoError(f"{path}: would overwrite the input {source}; choose another output path")


def _same_file(a: Path, b: Path) -> bool:
    """os.path.samefile, False when either does not exist."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _refuse_existing(path: Path, overwrite: bool) -> None:
    """Refuse to replace an existing output unless asked to, and never replace a folder."""
    if path.is_dir():
        raise PhotoError(f"{path}: is a folder; give an output file name ending in one of {', '.join(WRITE_FORMATS)}")
    if path.exists() and not overwrite:
        raise PhotoError(f"{path}: already exists; pass --overwrite to replace it")


def _for_format(image: Image.Image, image_format: str, path: Path) -> Image.Image:
    """Greyscale stays greyscale (a mask) where the format holds it; else RGB, or RGBA when the image has alpha and
    the format keeps it."""
    kept = KEPT_MODES.get(image_format, ())
    if image.mode in kept:
        return image
    if image.mode == "I":  # 32-bit grey in a format without it: as 16-bit where its values fit, else 8-bit
        values = np.asarray(image)
        image = Image.fromarray(values.astype(np.uint16)) if values.max() > 255 else Image.fromarray(values.astype(np.uint8), "L")
        if image.mode in kept:
            return image
    if image.mode == "I;16":  # 16-bit grey in a format without it: the high byte, not PIL's clipping conversion
        image = Image.fromarray((np.asarray(image) >> 8).astype(np.uint8), "L")
        if "L" in kept:
            return image
    elif image.mode == "CMYK":
        log.info("%s: %s cannot hold CMYK pixels; writing RGB", path, image_format)
    has_alpha = image.mode in ALPHA_MODES or "transparency" in image.info
    if has_alpha and image_format in NO_ALPHA_FORMATS:
        log.warning("%s: %s keeps no transparency, so the alpha is dropped; write .png to keep it", path, image_format)
    mode = "RGBA" if has_alpha and image_format not in NO_ALPHA_FORMATS else "RGB"
    return image if image.mode == mode else image.convert(mode)


def copy_file(source: str | os.PathLike, path: str | os.PathLike, overwrite: bool = False, strip_metadata: bool = False) -> Path:
    """Copy `source` byte for byte to `path` (a photo a batch left as it was), atomically, never onto the input; with
    `strip_metadata`, without its metadata and with the same pixels (editor/photos/stripping.py)."""
    source, path = Path(source), Path(path)
    refuse_inputs(path, [source])
    _refuse_existing(path, overwrite)
    try:
        if strip_metadata:
            data = stripped_bytes(source)
            _write_atomically(path, lambda file: file.write(data))
            return path
        with open(source, "rb") as handle:
            _write_atomically(path, lambda file: shutil.copyfileobj(handle, file, 1 << 20))
    except PermissionError as error:
        raise PhotoError(f"{source}: cannot be read ({_reason(error)})") from None
    return path


def _save_atomically(image: Image.Image, path: Path, image_format: str, options: dict) -> None:
    """Save the image in its format through _write_atomically."""
    _write_atomically(path, lambda file: image.save(file, format=image_format, **options))


def _write_atomically(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write to a temp file in the output folder, then os.replace it into place; the temp file never survives."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Same folder as the output, so os.replace is a rename on one file system and readers never see half a file.
        # The writer's pid in the name: a later run knows a killed write's file from one still being written.
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}_", suffix=".tmp")
    except OSError as error:
        raise PhotoError(f"{path}: cannot create the output ({_reason(error)}); check the folder is writable") from None
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp, _new_file_mode())
        os.replace(temp, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(error, OSError):
            raise PhotoError(
                f"{path}: could not write the file ({_reason(error)}); check disk space and permissions"
            ) from None
        raise


def _new_file_mode() -> int:
    """The permissions open() would give a new file: 0o666 less the umask (mkstemp's 0600 would leave outputs
    unreadable to other users)."""
    return 0o666 & ~_umask()


def _umask() -> int:
    """The process's umask, read without changing it where the system says it (Linux 4.7+: /proc/self/status);
    elsewhere the only way to read it is to set it, so it is put straight back."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


# what _write_atomically leaves behind when killed: ".<output name>.<pid>_<random>.tmp" (before 0.2: no pid)
TEMP_NAME = re.compile(r"^\.(?P<output>.+\.(png|jpe?g|webp|bmp|tiff?))\.((?P<pid>\d+)_)?[A-Za-z0-9_]+\.tmp$", re.IGNORECASE)
STALE_AFTER = 60.0  # seconds: a write with no pid in its name lives for the time one image takes to encode


def remove_stale_temporaries(folder: Path, output_name: str | None = None, recursive: bool = True) -> int:
    """Delete the temporary files of killed writes under `folder` (only those of `output_name`, if given): ours only,
    and only where the process that wrote one is gone (or, a name without a pid, it is untouched for STALE_AFTER s)."""
    removed, now = 0, time.time()
    for path in (folder.rglob(".*.tmp") if recursive else folder.glob(".*.tmp")):
        match = TEMP_NAME.match(path.name)
        if not match or (output_name is not None and match["output"] != output_name) or not path.is_file():
            continue
        gone = not process_alive(int(match["pid"])) if match["pid"] else now - path.stat().st_mtime > STALE_AFTER
        if gone:
            with contextlib.suppress(OSError):
                path.unlink()
                removed += 1
    return removed
