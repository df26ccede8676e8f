"""A photo's bytes without its metadata (EXIF with GPS, ICC profile, XMP, comments), its pixels untouched.

JPEG, PNG and WebP lose only their metadata segments, so the compressed pixel data are the same bytes; a JPEG keeps
its orientation as a one-tag EXIF, so it still shows upright. TIFF and BMP are re-encoded without metadata, losslessly
(they are lossless formats). What it costs and keeps is in README's "Metadata".
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

from PIL import Image

from editor.photos.faithful import ORIENTATION
from editor.photos.photo_io import PhotoError

JPEG_DROPPED = {*range(0xE1, 0xEE), 0xEF, 0xFE}  # APP1-APP13 (EXIF, XMP, ICC, IPTC...), APP15 and comments; APP0 (JFIF)
# and APP14 (Adobe: how to read the colour channels) stay
JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # markers without a length
PNG_DROPPED = {b"eXIf", b"iCCP", b"tEXt", b"zTXt", b"iTXt", b"tIME", b"pHYs"}  # pHYs: DPI, as the edits drop it
WEBP_DROPPED = {b"EXIF", b"XMP ", b"ICCP"}
WEBP_FLAGS = {b"EXIF": 0x08, b"XMP ": 0x04, b"ICCP": 0x20}  # the VP8X header's bit for each


def stripped_bytes(path: str | Path) -> bytes:
    """The photo at `path` without metadata, in its own format; pixels identical."""
    path = Path(path)
    data = path.read_bytes()
    try:
        if data[:2] == b"\xff\xd8":
            return _jpeg(data, _orientation(data))
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            return _png(data)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp(data)
        return _reencoded(data)
    except (struct.error, IndexError, ValueError, OSError) as error:
        raise PhotoError(f"{path}: its metadata could not be stripped ({error}); the file may be damaged") from None


def _orientation(data: bytes) -> int:
    with Image.open(io.BytesIO(data)) as image:
        return int(image.getexif().get(ORIENTATION, 1))


def _jpeg(data: bytes, orientation: int) -> bytes:
    """SOI, the kept segments up to the first scan, then the scans up to the end-of-image marker (what an MPO appends
    after it, further pictures with their own EXIF, goes too)."""
    out, i = bytearray(data[:2]), 2
    if orientation != 1:
        exif = Image.Exif()
        exif[ORIENTATION] = orientation
        payload = exif.tobytes()
        out += b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    while i < len(data):
        if data[i] != 0xFF:
            raise ValueError(f"no JPEG marker at byte {i}")
        while data[i] == 0xFF:  # fill bytes
            i += 1
        marker = data[i]
        i += 1
        if marker in JPEG_STANDALONE:
            out += bytes((0xFF, marker))
            continue
        length = struct.unpack(">H", data[i : i + 2])[0]
        segment = data[i - 2 : i + length]
        if marker == 0xDA:  # start of scan: the entropy-coded data, never holding FF D9, run to end of image
            end = data.find(b"\xff\xd9", i)
            return bytes(out + data[i - 2 : (end + 2) if end >= 0 else len(data)])
        if marker not in JPEG_DROPPED:
            out += segment
        i += length
    raise ValueError("no image data")


def _png(data: bytes) -> bytes:
    out, i = bytearray(data[:8]), 8
    while i < len(data):
        length = struct.unpack(">I", data[i : i + 4])[0]
        kind = data[i + 4 : i + 8]
        if kind not in PNG_DROPPED:
            out += data[i : i + 12 + length]
        i += 12 + length
        if kind == b"IEND":
            break
    return bytes(out)


def _webp(data: bytes) -> bytes:
    chunks, flags_at, cleared, i = bytearray(), None, 0, 12
    while i + 8 <= len(data):
        kind, length = data[i : i + 4], struct.unpack("<I", data[i + 4 : i + 8])[0]
        whole = data[i : i + 8 + length + (length & 1)]
        if kind in WEBP_DROPPED:
            cleared |= WEBP_FLAGS[kind]
        else:
            if kind == b"VP8X":
                flags_at = len(chunks) + 8
            chunks += whole
        i += 8 + length + (length & 1)
    if flags_at is not None:
        chunks[flags_at] &= ~cleared & 0xFF
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WEBP" + bytes(chunks)


def _reencoded(data: bytes) -> bytes:
    """TIFF and BMP: the same pixels written again with nothing but them (both formats are lossless)."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        image_format = image.format
        compression = image.info.get("compression") if image_format == "TIFF" else None
        clean = image.copy()
    clean.info.clear()
    buffer = io.BytesIO()
    options = {"compression": compression} if compression and compression != "raw" else {}
    clean.save(buffer, format=image_format, **options)
    return buffer.getvalue()
