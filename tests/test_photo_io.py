"""Photo I/O: every bad input gives one clear line and writes nothing; modes, EXIF, sizes, atomic writes, batches."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from unwant.sd.errors import UnwantError
from editor.photos.photo_io import (
    PhotoError,
    find_images,
    finish,
    from_model,
    model_size,
    output_path_for,
    photo_from_any,
    read_photo,
    to_model,
)
from editor.photos.writing import write_image


def gradient(size=(40, 24), mode="RGB") -> Image.Image:
    """A small deterministic image whose pixels differ, so resizes and rotations are visible."""
    w, h = size
    x, y = np.meshgrid(np.arange(w), np.arange(h))
    rgb = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y) % 256], axis=-1).astype(np.uint8)
    return Image.fromarray(rgb, "RGB").convert(mode)


def edit_copy(source: Path, output: Path) -> None:
    """What the CLI does with one photo, minus the model: read, finish, write."""
    photo = read_photo(source)
    write_image(finish(to_model(photo), photo), output, inputs=[source])


def files_in(folder: Path) -> list[str]:
    """Every file under `folder`, relative and sorted."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def assert_one_line(error: pytest.ExceptionInfo, *parts: str) -> None:
    """The error is ours, one line, and names every part (file name, reason, fix)."""
    message = str(error.value)
    assert isinstance(error.value, UnwantError)
    assert "\n" not in message
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


# --- bad inputs -------------------------------------------------------------------------------------------------


def _missing(folder: Path) -> Path:
    return folder / "missing.png"


def _folder(folder: Path) -> Path:
    (folder / "album.png").mkdir()
    return folder / "album.png"


def _empty(folder: Path) -> Path:
    (folder / "empty.jpg").write_bytes(b"")
    return folder / "empty.jpg"


def _garbage(folder: Path) -> Path:
    (folder / "garbage.png").write_bytes(bytes(range(256)) * 4)
    return folder / "garbage.png"


def _text(folder: Path) -> Path:
    (folder / "notes.txt").write_text("not a photo\n")
    return folder / "notes.txt"


def _truncated_png(folder: Path) -> Path:
    path = folder / "truncated.png"
    gradient((64, 64)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _truncated_jpeg(folder: Path) -> Path:
    path = folder / "truncated.jpg"
    gradient((64, 64)).save(path, quality=95)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    return path


def _gif(folder: Path) -> Path:
    gradient((32, 32)).convert("P").save(folder / "anim.gif")
    return folder / "anim.gif"


def _tiny(folder: Path) -> Path:
    gradient((10, 40)).save(folder / "tiny.png")
    return folder / "tiny.png"


BAD_INPUTS = [
    (_missing, ["missing.png", "no such file"]),
    (_folder, ["album.png", "is a folder"]),
    (_empty, ["empty.jpg", "empty (0 bytes)"]),
    (_garbage, ["garbage.png", "not an image file", "JPEG, PNG"]),
    (_text, ["notes.txt", "not an image file", "JPEG, PNG, WebP, BMP, TIFF"]),
    (_truncated_png, ["truncated.png", "corrupt or truncated", "re-export"]),
    (_truncated_jpeg, ["truncated.jpg", "corrupt or truncated", "re-export"]),
    (_gif, ["anim.gif", "GIF images are not supported", "JPEG, PNG, WebP, BMP, TIFF"]),
    (_tiny, ["tiny.png", "10x40", "16 px minimum"]),
]


@pytest.mark.parametrize("make, parts", BAD_INPUTS, ids=[make.__name__.strip("_") for make, _ in BAD_INPUTS])
def test_bad_input_names_file_and_reason_and_writes_nothing(tmp_path, make, parts):
    source = make(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(PhotoError) as error:
        edit_copy(source, out / "result.png")
    assert_one_line(error, *parts)
    assert str(source) in str(error.value)
    assert not out.exists()


def test_over_megapixel_limit_says_how_to_override(tmp_path):
    source = tmp_path / "big.png"
    gradient((100, 50)).save(source)
    with pytest.raises(PhotoError) as error:
        read_photo(source, max_megapixels=0.004)
    assert_one_line(error, "big.png", "100x50", "0.004", "--max-megapixels 1")
    assert read_photo(source, max_megapixels=None).size == (100, 50)


def test_megapixel_check_is_ours_not_pils_bomb_check(tmp_path, monkeypatch):
    source = tmp_path / "photo.png"
    gradient((64, 64)).save(source)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # PIL would warn over 1000 px and fail over 2000
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_photo(source).size == (64, 64)
    assert Image.MAX_IMAGE_PIXELS == 1000  # put back after the read


# --- orientation and modes --------------------------------------------------------------------------------------


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (64, 32), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 32, 32))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # stored image must be turned 90 degrees clockwise to display
    image.save(tmp_path / "turned.jpg", exif=exif, quality=95)
    photo = read_photo(tmp_path / "turned.jpg")
    assert photo.size == (32, 64)
    red, _, blue = photo.rgb.getpixel((16, 8))  # the left half is now on top
    assert red > 200 and blue < 60
    red, _, blue = photo.rgb.getpixel((16, 56))
    assert blue > 200 and red < 60


def _save_in_mode(folder: Path, mode: str) -> Path:
    """A 40 x 24 file whose pixels, once read, are in `mode`."""
    base = gradient((40, 24))
    if mode == "P+transparency":
        path = folder / "p_transparent.png"
        base.convert("P").save(path, transparency=0)
    elif mode == "I;16":
        path = folder / "gray16.png"
        Image.fromarray((np.asarray(base.convert("L")).astype(np.uint16) * 257)).save(path)
    elif mode in ("I", "F"):
        path = folder / f"{mode}.tif"
        base.convert("L").convert(mode).save(path)
    elif mode == "CMYK":
        path = folder / "cmyk.jpg"
        base.convert("CMYK").save(path, quality=95)
    else:
        path = folder / f"{mode}.png"
        base.convert(mode).save(path)
    return path


MODES = {"1": None, "L": None, "LA": "L", "P": None, "P+transparency": "P", "RGBA": "RGBA", "CMYK": None,
         "I;16": None, "I": None, "F": None, "RGB": None}


@pytest.mark.parametrize("mode", list(MODES))
def test_every_mode_reads_as_rgb_with_alpha_kept(tmp_path, mode):
    photo = read_photo(_save_in_mode(tmp_path, mode))
    assert photo.mode == mode.split("+")[0]
    assert photo.rgb.mode == "RGB" and photo.size == (40, 24)
    has_alpha = mode in ("LA", "RGBA", "P+transparency")
    assert (photo.alpha is not None) == has_alpha
    if has_alpha:
        assert photo.alpha.mode == "L" and photo.alpha.size == photo.size


def test_p_transparency_alpha_marks_the_transparent_index(tmp_path):
    image = Image.new("P", (20, 20), 1)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.paste(0, (0, 0, 10, 20))
    image.save(tmp_path / "p.png", transparency=0)
    alpha = np.asarray(read_photo(tmp_path / "p.png").alpha)
    assert (alpha[:, :10] == 0).all() and (alpha[:, 10:] == 255).all()


def test_wide_gray_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257, 32896, 65535] * 4] * 16, dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "gray16.png")
    rgb = np.asarray(read_photo(tmp_path / "gray16.png").rgb)
    assert rgb[0, :4, 0].tolist() == [0, 1, 128, 255]
    assert (rgb[..., 0] == rgb[..., 2]).all()
    Image.fromarray(values.astype(np.float32) / 65535).save(tmp_path / "float.tif")
    assert np.asarray(read_photo(tmp_path / "float.tif").rgb)[0, :4, 0].tolist() == [0, 1, 128, 255]
    Image.fromarray(values.astype(np.int32)).save(tmp_path / "int32.tif")
    assert np.asarray(read_photo(tmp_path / "int32.tif").rgb)[0, :4, 0].tolist() == [0, 1, 128, 255]


def test_float_tiff_out_of_range_is_refused(tmp_path):
    Image.fromarray(np.full((16, 16), -3.0, np.float32)).save(tmp_path / "depth.tif")
    with pytest.raises(PhotoError) as error:
        read_photo(tmp_path / "depth.tif")
    assert_one_line(error, "depth.tif", "-3", "8- or 16-bit")


# --- photo_from_any -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("array, alpha", [
    (np.full((20, 30), 200, np.uint8), False),
    (np.full((20, 30, 3), 65535, np.uint16), False),
    (np.full((20, 30, 4), 0.5, np.float32), True),
    (np.full((20, 30, 3), 1.0, np.float64), False),
])
def test_photo_from_array(array, alpha):
    photo = photo_from_any(array)
    assert photo.rgb.mode == "RGB" and photo.size == (30, 20)
    assert (photo.alpha is not None) == alpha
    expected = {np.dtype(np.uint8): 200, np.dtype(np.uint16): 255}.get(array.dtype, round(float(array.flat[0]) * 255))
    assert photo.rgb.getpixel((0, 0)) == (expected,) * 3


@pytest.mark.parametrize("array, reason", [
    (np.full((20, 30), 2.0, np.float32), "[0, 1]"),
    (np.full((20, 30, 2), 10, np.uint8), "shape"),
    (np.full((20, 30, 3), 10, np.int64), "dtype"),
    (np.full((8, 30, 3), 10, np.uint8), "16 px"),
])
def test_photo_from_bad_array(array, reason):
    with pytest.raises(PhotoError) as error:
        photo_from_any(array)
    assert_one_line(error, "array", reason)


def test_photo_from_path_image_and_photo(tmp_path):
    gradient((40, 24), "RGBA").save(tmp_path / "a.png")
    from_path = photo_from_any(str(tmp_path / "a.png"))
    assert from_path.alpha is not None
    from_pil = photo_from_any(Image.open(tmp_path / "a.png"))
    assert from_pil.mode == "RGBA"
    assert np.array_equal(np.asarray(from_pil.rgb), np.asarray(from_path.rgb))
    assert photo_from_any(from_path) is from_path
    with pytest.raises(PhotoError) as error:
        photo_from_any(42)
    assert_one_line(error, "int", "path")


# --- sizes ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(512, 512), (640, 480), (480, 640), (1000, 333), (17, 16), (4000, 3000), (250, 999)])
def test_model_size_keeps_aspect_on_multiples_of_8(size):
    w, h = model_size(size)
    assert w % 8 == 0 and h % 8 == 0
    assert min(w, h) == 512
    assert abs(w / h - size[0] / size[1]) <= 8 / min(w, h) * (w / h)


def test_model_size_other_native_and_floor():
    assert model_size((100, 50), native=64, factor=16) == (128, 64)
    assert model_size((1000, 10), native=4, factor=8) == (80, 8)  # capped by area; short side rounds up to one factor


@pytest.mark.parametrize("size", [(10000, 1000), (1000, 10000), (33, 999), (6000, 1000)])
def test_a_panorama_is_capped_at_four_times_the_native_area(size):
    w, h = model_size(size)
    assert w * h <= 4 * 512 * 512 * 1.03 and w % 8 == 0 and h % 8 == 0
    assert abs(w / h - size[0] / size[1]) <= 0.05 * (w / h)
    assert model_size((5120, 512)) == (3240, 320)  # 10:1: not 5120 x 512


def test_resize_round_trip_and_finish_keeps_size_and_alpha():
    rgba = gradient((50, 30), "RGBA")
    rgba.putalpha(Image.fromarray(np.tile(np.arange(50, dtype=np.uint8) * 5, (30, 1)), "L"))
    photo = photo_from_any(rgba)
    model = to_model(photo, native=64)
    assert model.size == model_size((50, 30), native=64) and model.mode == "RGB"
    assert from_model(model, photo.size).size == (50, 30)
    out = finish(model, photo)
    assert out.mode == "RGBA" and out.size == (50, 30)
    assert np.array_equal(np.asarray(out.getchannel("A")), np.asarray(photo.alpha))
    assert finish(model, photo_from_any(gradient((50, 30)))).mode == "RGB"


# --- writing ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, fmt, mode", [
    ("a.png", "PNG", "RGBA"), ("a.jpg", "JPEG", "RGB"), ("a.JPEG", "JPEG", "RGB"),
    ("a.webp", "WEBP", "RGBA"), ("a.bmp", "BMP", "RGB"), ("a.tif", "TIFF", "RGBA"), ("a.tiff", "TIFF", "RGBA"),
])
def test_write_format_by_extension(tmp_path, name, fmt, mode):
    image = gradient((32, 32))
    image.putalpha(128)
    path = write_image(image, tmp_path / "deep" / "er" / name)
    assert path == tmp_path / "deep" / "er" / name
    with Image.open(path) as written:
        assert written.format == fmt and written.mode == mode and written.size == (32, 32)
        if mode == "RGBA":
            assert written.getpixel((5, 5))[3] == 128
    assert files_in(tmp_path) == [f"deep/er/{name}"]  # no temp file left behind
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


@pytest.mark.parametrize("name, shown", [("a.gif", "'.gif'"), ("noext", "no extension")])
def test_write_unknown_extension_lists_valid_ones(tmp_path, name, shown):
    with pytest.raises(PhotoError) as error:
        write_image(gradient(), tmp_path / name)
    assert_one_line(error, name, shown, ".png, .jpg, .jpeg, .webp, .bmp, .tif, .tiff")
    assert files_in(tmp_path) == []


def test_failed_save_leaves_no_output_and_no_temp_file(tmp_path, monkeypatch):
    def failing_save(self, fp, *args, **kwargs):
        fp.write(b"half an image")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(PhotoError) as error:
        write_image(gradient(), tmp_path / "out" / "result.png")
    assert_one_line(error, "result.png", "No space left on device")
    assert files_in(tmp_path) == []


def test_interrupted_save_leaves_no_temp_file(tmp_path, monkeypatch):
    def interrupted_save(self, fp, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        write_image(gradient(), tmp_path / "result.png")
    assert files_in(tmp_path) == []


def test_failed_save_keeps_the_previous_output(tmp_path, monkeypatch):
    out = tmp_path / "result.png"
    out.write_bytes(b"previous")
    monkeypatch.setattr(Image.Image, "save", lambda self, fp, *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(PhotoError):
        write_image(gradient(), out, overwrite=True)
    assert out.read_bytes() == b"previous" and files_in(tmp_path) == ["result.png"]


def test_never_overwrites_an_input(tmp_path):
    source = tmp_path / "photos" / "cat.png"
    source.parent.mkdir()
    gradient().save(source)
    before = source.read_bytes()
    (tmp_path / "link.png").symlink_to(source)
    os.link(source, tmp_path / "hard.png")
    for target in (source, tmp_path / "photos" / ".." / "photos" / "cat.png", tmp_path / "link.png",
                   tmp_path / "hard.png"):
        with pytest.raises(PhotoError) as error:
            write_image(gradient(), target, overwrite=True, inputs=[str(source)])
        assert_one_line(error, str(target), "would overwrite the input", "cat.png")
    assert source.read_bytes() == before
    assert files_in(tmp_path) == ["hard.png", "link.png", "photos/cat.png"]


def test_existing_output_needs_overwrite(tmp_path):
    out = tmp_path / "result.png"
    out.write_bytes(b"earlier run")
    with pytest.raises(PhotoError) as error:
        write_image(gradient(), out)
    assert_one_line(error, "result.png", "already exists", "--overwrite")
    assert out.read_bytes() == b"earlier run"
    write_image(gradient(), out, overwrite=True)
    assert Image.open(out).size == (40, 24) and files_in(tmp_path) == ["result.png"]


def test_output_onto_a_folder_is_refused(tmp_path):
    (tmp_path / "result.png").mkdir()
    with pytest.raises(PhotoError) as error:
        write_image(gradient(), tmp_path / "result.png", overwrite=True)
    assert_one_line(error, "result.png", "is a folder")


def test_output_path_for():
    assert output_path_for(Path("shots/IMG_1.JPG")) == Path("shots/IMG_1.edited.png")
    assert output_path_for("a.b.tiff") == Path("a.b.edited.png")


def test_grey_with_alpha_round_trip_through_files_keeps_mode_and_alpha(tmp_path):
    gradient((40, 24), "LA").save(tmp_path / "in.png")
    edit_copy(tmp_path / "in.png", tmp_path / "out.png")
    original = Image.open(tmp_path / "in.png")
    with Image.open(tmp_path / "out.png") as out:
        assert out.mode == "LA" and out.size == (40, 24)
        assert np.array_equal(np.asarray(out.getchannel("A")), np.asarray(original.getchannel("A")))


# --- finding images -----------------------------------------------------------------------------------------------


def _tree(root: Path, names: list[str]) -> None:
    """Files (placeholder bytes: find_images goes by name) and, for names ending in '/', empty folders."""
    for name in names:
        if name.endswith("/"):
            (root / name).mkdir(parents=True, exist_ok=True)
            continue
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x")


def test_find_images_mirrors_subfolders_and_skips_nested_output(tmp_path):
    photos = tmp_path / "photos"
    _tree(photos, ["b.jpg", "a.PNG", "notes.txt", "sub/z.webp", "sub/deeper/c.TIFF", "edited/a.png",
                   "edited/sub/z.png", ".cache/x.jpg", "._b.jpg", "empty/"])
    single = tmp_path / "single.bmp"
    single.write_bytes(b"x")
    found = find_images([photos, single], exclude=photos / "edited")
    assert [(f.relative_to(tmp_path).as_posix(), r.as_posix()) for f, r in found] == [
        ("photos/a.PNG", "a.PNG"),
        ("photos/b.jpg", "b.jpg"),
        ("photos/sub/z.webp", "sub/z.webp"),
        ("photos/sub/deeper/c.TIFF", "sub/deeper/c.TIFF"),
        ("single.bmp", "single.bmp"),
    ]
    assert Path("edited/sub/z.png") in [r for _, r in find_images([photos], exclude=tmp_path / "elsewhere")]
    assert find_images([photos, photos / "b.jpg"], exclude=photos / "edited") == found[:4]  # named twice, kept once
    assert find_images([photos / "sub", photos / "edited"], exclude=photos / "edited")[0][1] == Path("z.webp")


def test_find_images_errors(tmp_path):
    _tree(tmp_path, ["empty/notes.txt", "a/x.jpg", "b/x.jpg", "out/y.jpg"])
    with pytest.raises(PhotoError) as error:
        find_images([tmp_path / "empty"])
    assert_one_line(error, "empty", "no images found", ".jpg")
    with pytest.raises(PhotoError) as error:
        find_images([tmp_path / "nowhere"])
    assert_one_line(error, "nowhere", "no such file or folder")
    with pytest.raises(PhotoError) as error:
        find_images([tmp_path / "a", tmp_path / "b"])
    assert_one_line(error, "x.jpg", "clash")
    with pytest.raises(PhotoError) as error:
        find_images([tmp_path / "out"], exclude=tmp_path / "out")  # input folder given as output folder too
    assert_one_line(error, "out", "inside the output folder", "choose an output folder")
    assert find_images([]) == []


# --- faithful outputs: the input's mode and metadata --------------------------------------------------------------


@pytest.mark.parametrize("mode, name, written", [
    ("L", "out.png", "L"), ("L", "out.jpg", "L"), ("LA", "out.png", "LA"), ("CMYK", "out.jpg", "CMYK"),
    ("CMYK", "out.tif", "CMYK"), ("CMYK", "out.png", "RGB"), ("I;16", "out.png", "I;16"), ("I;16", "out.jpg", "L"),
    ("P", "out.png", "RGB"), ("RGBA", "out.png", "RGBA"), ("RGB", "out.png", "RGB"), ("I", "out.tif", "I"), ("I", "out.png", "L"),
])
def test_the_output_keeps_the_input_mode_where_the_format_holds_it(tmp_path, mode, name, written):
    source = _save_in_mode(tmp_path, mode)
    photo = read_photo(source)
    assert finish(to_model(photo, native=64), photo).mode == {"P": "RGB"}.get(mode, mode)
    write_image(finish(to_model(photo, native=64), photo), tmp_path / name)
    with Image.open(tmp_path / name) as out:
        assert out.mode.replace("I;16B", "I;16") == written and out.size == (40, 24)


def test_a_32_bit_tiff_of_16_bit_values_comes_back_as_one(tmp_path):
    values = (np.arange(40 * 24, dtype=np.int32).reshape(24, 40) * 60) % 65536
    Image.fromarray(values, "I").save(tmp_path / "deep.tif")
    photo = read_photo(tmp_path / "deep.tif")
    mask = np.zeros((24, 40), np.float32)
    mask[5:15, 10:30] = 1.0
    write_image(finish(Image.new("RGB", photo.size, (128, 128, 128)), photo, mask), tmp_path / "out.tif")
    with Image.open(tmp_path / "out.tif") as out:
        assert out.mode == "I"
        pixels = np.asarray(out)
    assert np.array_equal(pixels[mask == 0], values[mask == 0]) and (pixels[mask == 1] == 128 * 257).all()


@pytest.mark.parametrize("mode", ["L", "CMYK", "I;16", "I"])
def test_outside_the_mask_the_input_pixels_in_its_own_mode(tmp_path, mode):
    source = _save_in_mode(tmp_path, mode)
    photo = read_photo(source)
    mask = np.zeros((24, 40), np.float32)
    mask[5:15, 10:30] = 1.0
    edited = Image.new("RGB", photo.size, (250, 10, 10))
    out = np.asarray(finish(edited, photo, mask))
    original = np.asarray(Image.open(source))
    assert np.array_equal(out[mask == 0], original[mask == 0])
    assert not np.array_equal(out[mask == 1], original[mask == 1])


def _photo_with_metadata(path: Path) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # turned: the output is upright, so its orientation must say 1
    exif[0x010F] = "ACME Camera"
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    gradient((64, 32)).save(path, exif=exif, icc_profile=icc, dpi=(300, 300), quality=95)
    return icc


@pytest.mark.parametrize("name", ["out.png", "out.jpg", "out.webp", "out.tif"])
def test_metadata_is_kept_with_the_orientation_reset(tmp_path, name):
    icc = _photo_with_metadata(tmp_path / "in.jpg")
    photo = read_photo(tmp_path / "in.jpg")
    write_image(finish(to_model(photo, native=64), photo), tmp_path / name)
    with Image.open(tmp_path / name) as out:
        assert out.size == (32, 64)  # upright
        exif = out.getexif()
        assert exif.get(0x010F) == "ACME Camera" and exif.get(0x0112, 1) == 1
        assert out.info.get("icc_profile") == icc
        if name != "out.webp":
            assert tuple(round(float(v)) for v in out.info["dpi"]) == (300, 300)


def test_strip_metadata_writes_none(tmp_path):
    _photo_with_metadata(tmp_path / "in.jpg")
    photo = read_photo(tmp_path / "in.jpg")
    write_image(finish(to_model(photo, native=64), photo), tmp_path / "out.jpg", strip_metadata=True)
    with Image.open(tmp_path / "out.jpg") as out:
        assert not len(out.getexif()) and "icc_profile" not in out.info and "dpi" not in out.info


def test_a_grey_array_comes_back_grey():
    photo = photo_from_any(np.full((20, 30), 200, np.uint8))
    assert finish(to_model(photo, native=64), photo).mode == "L"
