"""The removed object's mask and the blends: shapes, the feathered border, and pixels outside the mask kept bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from editor.masks import MaskConfig, binary_mask, feathered_mask, latent_mask, pixel_blend, work_size


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
