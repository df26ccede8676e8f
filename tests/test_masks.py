"""The removed object's mask and the blends: shapes, the feathered border, and pixels outside the mask kept bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from editor.removal.masks import (MaskConfig, attention_region, binary_mask, feathered_mask, latent_mask, object_attention, pixel_blend,
                          snapped_mask, work_size)


def peaked_map() -> np.ndarray:
    attention = np.zeros((16, 16), np.float32)
    attention[4:7, 5:9] = 1.0  # the object, rows 4-6 and columns 5-8 of 16
    return attention


def test_work_size_keeps_the_aspect_and_never_grows():
    assert work_size((3000, 4000), 512) == (512, 683)
    assert work_size((300, 400), 512) == (300, 400)


def test_binary_mask_thresholds_then_dilates():
    config = MaskConfig(threshold=0.5, dilation=0.0)
    mask = binary_mask(peaked_map(), (160, 160), config)
    assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 1}
    rows, cols = np.nonzero(mask)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == pytest.approx((40, 69, 50, 89), abs=5)
    dilated = binary_mask(peaked_map(), (160, 160), MaskConfig(threshold=0.5, dilation=0.05))
    assert dilated.sum() > mask.sum() and np.all(dilated[mask == 1] == 1)


def test_feathered_mask_covers_the_object_and_fades_outwards():
    soft = feathered_mask(peaked_map(), (160, 160), MaskConfig())
    hard = binary_mask(peaked_map(), (160, 160), MaskConfig())
    assert soft.dtype == np.float32 and 0.0 <= soft.min() and soft.max() <= 1.0
    assert np.all(soft[hard == 1] == 1.0)  # the object stays covered
    border = (soft > 0) & (soft < 1)
    assert border.any() and not (border & (hard == 1)).any()


def test_a_12_megapixel_mask_is_the_small_one_upsampled():
    big = feathered_mask(peaked_map(), (3000, 4000), MaskConfig())
    small = feathered_mask(peaked_map(), (300, 400), MaskConfig())
    assert big.shape == (3000, 4000)
    assert big[::10, ::10].mean() == pytest.approx(small.mean(), abs=0.01)


def test_pixel_blend_keeps_the_outside_bit_for_bit():
    g = np.random.default_rng(0)
    original = g.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    edited = g.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    mask = feathered_mask(peaked_map(), (120, 160), MaskConfig())
    out = pixel_blend(original, edited, mask)
    assert np.array_equal(out[mask == 0], original[mask == 0])
    assert np.array_equal(out[mask == 1], edited[mask == 1])
    half = (mask > 0.4) & (mask < 0.6)
    expected = np.round(0.5 * edited[half].astype(float) + 0.5 * original[half])
    assert np.abs(out[half].astype(float) - expected).max() <= 0.1 * 255 + 1
    assert np.array_equal(pixel_blend(original, edited, np.zeros((120, 160), np.float32)), original)


def test_latent_mask_is_a_broadcastable_binary_tensor():
    import torch

    mask = latent_mask(torch.from_numpy(peaked_map()), (16, 16), MaskConfig(dilation=0.0))
    assert mask.shape == (1, 1, 16, 16) and set(mask.unique().tolist()) == {0.0, 1.0}
    assert mask[0, 0, 5, 6] == 1 and mask[0, 0, 12, 12] == 0


def test_a_12_megapixel_removal_keeps_every_pixel_outside_the_mask(toy_pipe):
    # a phone photo's size: the toy scene upscaled to 4000 x 3000, with per-pixel noise so no two pixels are alike
    import json

    from PIL import Image

    from conftest import SCENES
    from editor import Editor

    scenes = SCENES
    caption = json.loads((scenes / "captions.json").read_text())["scene-01.png"]
    scene = np.asarray(Image.open(scenes / "scene-01.png").convert("RGB").resize((4000, 3000), Image.NEAREST))
    noise = np.random.default_rng(1).integers(-3, 4, scene.shape)
    photo = np.clip(scene.astype(int) + noise, 0, 255).astype(np.uint8)
    result = Editor(toy_pipe).remove(photo, "blue square", prompt=caption, preset="fast", steps=10, progress=False)
    image, mask = np.asarray(result.image), np.asarray(result.mask)
    assert image.shape == photo.shape and mask.shape == photo.shape[:2]
    outside = mask == 0
    assert 0.3 < outside.mean() < 0.95
    assert np.array_equal(image[outside], photo[outside])
    assert not np.array_equal(image[~outside], photo[~outside])


def square_on_gradient(size: int = 160) -> tuple[np.ndarray, np.ndarray]:
    """A red square (rows and columns 50-89) and a red disk far right, on a grey gradient: image and the square's mask."""
    image = np.repeat(np.linspace(120, 220, size)[:, None, None], size, 1).repeat(3, 2).astype(np.uint8)
    square = np.zeros((size, size), bool)
    square[50:90, 50:90] = True
    yy, xx = np.mgrid[:size, :size]
    image[square] = (220, 40, 40)
    image[(yy - 70) ** 2 + (xx - 135) ** 2 <= 15**2] = (220, 40, 40)
    return image, square


def round_blob_over_the_square() -> np.ndarray:
    """Attention as a 16 x 16 model gives it: a round blob short of the square's corners, and a weaker one on the disk."""
    yy, xx = np.mgrid[:16, :16] + 0.5
    return (np.exp(-((yy - 7) ** 2 + (xx - 7) ** 2) / 3.0) + 0.6 * np.exp(-((yy - 7) ** 2 + (xx - 13.5) ** 2) / 2.0)).astype(np.float32)


def test_attention_region_keeps_the_strongest_blob_only():
    region = attention_region(round_blob_over_the_square(), (160, 160), MaskConfig())
    assert region[70, 70] == 1 and region[70, 135] == 0  # the look-alike the words also attend to is left out
    both = attention_region(round_blob_over_the_square(), (160, 160), MaskConfig(peak_share=0.5))
    assert both[70, 135] == 1


def test_the_snapped_mask_follows_the_object_to_its_corners_and_stops_at_its_edge():
    image, square = square_on_gradient()
    config = MaskConfig()
    blob = binary_mask(round_blob_over_the_square(), (160, 160), MaskConfig(dilation=0.0))
    assert not blob[50, 50] and not blob[89, 89]  # the attention alone misses the corners
    mask = snapped_mask(image, round_blob_over_the_square(), config).astype(bool)
    edge = int(round(config.edge * 160))
    grown = np.zeros_like(square)
    grown[50 - edge : 90 + edge, 50 - edge : 90 + edge] = True
    assert mask[square].all()  # every pixel of the square, its corners included
    assert not mask[~grown].any()  # nothing beyond its edge margin: not the disk, not the background


def test_a_flat_image_falls_back_to_the_attention_blob():
    flat = np.full((160, 160, 3), 128, np.uint8)
    mask = snapped_mask(flat, round_blob_over_the_square(), MaskConfig())
    assert np.array_equal(mask, binary_mask(round_blob_over_the_square(), (160, 160), MaskConfig()))


def test_object_attention_is_where_every_word_of_the_object_attends():
    import torch

    from suppression.tokens import TokenLayout

    red = torch.tensor([[1.0, 1.0], [0.0, 0.0]])  # "red": the red car (top left) and a red wall (top right)
    car = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # "car": the red car and a blue car (bottom left)
    layout = TokenLayout(length=5, max_length=77, target_positions=(2, 3), target_objects=(((2,), (3,)),))
    assert torch.equal(object_attention(torch.stack([red, car]), layout), torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
    two = TokenLayout(length=5, max_length=77, target_positions=(2, 3), target_objects=(((2,),), ((3,),)))
    weak_car = 0.5 * car  # two targets: each as strong as the strongest, so one threshold keeps both
    assert torch.equal(object_attention(torch.stack([red, weak_car]), two), torch.tensor([[1.0, 1.0], [1.0, 0.0]]))
