"""Metadata stripped from a photo's bytes: EXIF (GPS included), ICC and XMP gone, the pixels the same."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageCms

from editor.photos.faithful import ORIENTATION
from editor.photos.stripping import stripped_bytes
from editor.photos.writing import copy_file

GPS_IFD = 0x8825


def photo(path, orientation: int = 1, **save):
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8), "RGB")
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[ORIENTATION] = orientation
    if not str(path).endswith(".tif"):  # PIL's TIFF writer cannot write a GPS IFD (the maker's name stands for it)
        exif.get_ifd(GPS_IFD)[2] = (52.0, 22.0, 1.0)  # GPSLatitude
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    image.save(path, exif=exif.tobytes(), icc_profile=icc, **save)
    return path


def decoded(data: bytes) -> tuple[np.ndarray, dict, Image.Exif]:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB")), dict(image.info), image.getexif()


@pytest.mark.parametrize("name, save", [("p.jpg", {"quality": 90}), ("p.png", {}), ("p.webp", {"lossless": True}),
                                        ("p.webp", {"quality": 80}), ("p.tif", {"compression": "tiff_lzw"})])
def test_stripping_keeps_the_pixels_and_drops_exif_gps_and_icc(tmp_path, name, save):
    source = photo(tmp_path / name, **save)
    before, info, exif = decoded(source.read_bytes())
    assert (exif.get_ifd(GPS_IFD) or name.endswith(".tif")) and exif.get(0x010F) and info.get("icc_profile")  # what must go
    after, info, exif = decoded(stripped_bytes(source))
    assert np.array_equal(before, after)
    assert not info.get("icc_profile") and not info.get("xmp") and not exif.get_ifd(GPS_IFD) and 0x010F not in exif


def test_a_jpeg_keeps_only_its_orientation_and_its_compressed_data(tmp_path):
    source = photo(tmp_path / "p.jpg", orientation=6, quality=90)
    data = stripped_bytes(source)
    _, _, exif = decoded(data)
    assert dict(exif) == {ORIENTATION: 6}  # still shown upright, nothing else said
    scan = source.read_bytes()
    assert scan[scan.index(b"\xff\xda"):] == data[data.index(b"\xff\xda"):]  # the entropy-coded pixels: same bytes
    assert len(data) < len(scan)


def test_a_batch_copy_with_strip_metadata_carries_none(tmp_path):
    source = photo(tmp_path / "p.jpg", quality=90)
    copy = copy_file(source, tmp_path / "out" / "p.jpg", strip_metadata=True)
    _, info, exif = decoded(copy.read_bytes())
    assert not len(exif) and not info.get("icc_profile")
    plain = copy_file(source, tmp_path / "plain" / "p.jpg")
    assert plain.read_bytes() == source.read_bytes()  # without the flag, byte for byte as before
