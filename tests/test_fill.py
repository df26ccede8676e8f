"""What goes where the object was: the classical fill and the model's repaint of it."""

from __future__ import annotations

import numpy as np
import torch

from editor.removal.fill import fill_from_surroundings
from editor.removal.repaint import latent_hole, repaint
from test_masks import square_on_gradient


def test_fill_from_surroundings_paints_the_gradient_back_and_touches_nothing_else():
    image, square = square_on_gradient()
    background = np.repeat(np.linspace(120, 220, 160)[:, None, None], 160, 1).repeat(3, 2).astype(np.uint8)
    hole = np.zeros((160, 160), np.float32)
    hole[47:93, 47:93] = 1.0
    filled = fill_from_surroundings(image, hole)
    assert np.array_equal(filled[hole == 0], image[hole == 0])
    # Telea's fill is smooth, not linear: the gradient comes back within 17 levels at worst and 4.0 on average (OpenCV
    # 4.x, measured); the bounds leave room for another OpenCV's rounding, and stay far below the red square's distance
    # from the background (over 150 levels), so a fill that kept any of the square fails
    error = np.abs(filled[square].astype(int) - background[square])
    assert error.max() <= 20 and error.mean() <= 5
    big = np.kron(image, np.ones((20, 20, 1), np.uint8))  # 3200 x 3200: filled at work size, the same way
    big_filled = fill_from_surroundings(big, np.kron(hole, np.ones((20, 20), np.float32)))
    # the centre of a 920 px hole, the farthest from any known pixel: 26 levels off (measured), the same bound's room
    assert np.abs(big_filled[1400, 1400].astype(int) - background[70, 70]).max() <= 30


def test_latent_hole_covers_every_cell_the_mask_touches():
    mask = np.zeros((64, 64), np.float32)
    mask[20:22, 40:41] = 0.5  # two pixels of feather, in latent cell (2, 5) of 8 x 8
    hole = latent_hole(mask, (8, 8))
    assert hole.shape == (1, 1, 8, 8) and hole.sum() == 1 and hole[0, 0, 2, 5] == 1


def repaint_setup(tiny_pipe, steps: int = 6):
    from inversion import invert
    from unwant.sd.calls import UNetCallCounter
    from unwant.sd.text import encode_prompt

    generator = torch.Generator().manual_seed(0)
    z0 = torch.randn(1, 4, 16, 16, generator=generator)
    inverted = invert(tiny_pipe, z0, encode_prompt(tiny_pipe, "a red circle"), method="direct", steps=steps, progress=False)
    z_fill = torch.randn(1, 4, 16, 16, generator=generator)
    hole = torch.zeros(1, 1, 16, 16)
    hole[..., 4:9, 4:9] = 1
    return inverted, z_fill, hole, UNetCallCounter


def test_repaint_keeps_the_photo_outside_the_hole_and_runs_its_share_of_the_steps(tiny_pipe):
    inverted, z_fill, hole, counter = repaint_setup(tiny_pipe)
    with counter(tiny_pipe.unet) as calls:
        z = repaint(tiny_pipe, inverted, z_fill, hole, strength=0.5)
    assert calls.forwards == 3 and calls.rows == 3  # half of 6 steps, one unguided row each
    outside = hole.expand_as(z) == 0
    assert torch.equal(z[outside], inverted.latents[-1][outside])  # the photo's own z_0, exactly
    assert not torch.allclose(z[~outside], z_fill[~outside])  # the model changed the hole


def test_repaint_at_strength_zero_is_the_fill_itself(tiny_pipe):
    inverted, z_fill, hole, counter = repaint_setup(tiny_pipe)
    with counter(tiny_pipe.unet) as calls:
        z = repaint(tiny_pipe, inverted, z_fill, hole, strength=0.0)
    inside = hole.expand_as(z) == 1
    assert calls.forwards == 0 and torch.equal(z[inside], z_fill[inside])


def test_the_suppressed_repaint_is_guided_by_its_embedding_and_keeps_the_photo_outside(tiny_pipe):
    """fill="suppressed": the same repaint, each step a guided pair of rows on the suppressed embedding."""
    from unwant.sd.text import encode_prompt

    inverted, z_fill, hole, counter = repaint_setup(tiny_pipe)
    embedding = encode_prompt(tiny_pipe, "a red circle")
    with counter(tiny_pipe.unet) as calls:
        guided = repaint(tiny_pipe, inverted, z_fill, hole, strength=0.5, embedding=embedding, guidance=7.5)
    assert calls.forwards == 3 and calls.rows == 6  # half of 6 steps, unconditional and conditional rows each
    unguided = repaint(tiny_pipe, inverted, z_fill, hole, strength=0.5)
    other_seed = repaint(tiny_pipe, inverted, z_fill, hole, strength=0.5, seed=1, embedding=embedding, guidance=7.5)
    outside = hole.expand_as(guided) == 0
    assert torch.equal(guided[outside], inverted.latents[-1][outside])
    assert not torch.allclose(guided[~outside], unguided[~outside])  # the embedding and the guidance paint the hole
    assert not torch.allclose(guided[~outside], other_seed[~outside])  # and so does the seed of its noise


def test_the_seam_takes_the_fills_brightness_step_out_of_it():
    """A fill 12 levels darker than the photo over the latent hole (a few pixels wider than the mask: the VAE's error
    or the model's colour shift) steps down at the mask's edge. The step, known on the ring around the mask (the photo
    minus the fill there), is carried in, and the fill meets the photo again."""
    from editor.removal.seam import match_seam

    photo = np.repeat(np.linspace(60, 200, 96)[:, None, None], 80, 1).repeat(3, 2).astype(np.uint8)
    mask = np.zeros(photo.shape[:2], np.float32)
    mask[30:60, 20:50] = 1.0
    painted = photo.copy()
    painted[26:64, 16:54] -= 12  # the background painted right, 12 levels dark
    matched = match_seam(painted, photo, mask)
    inside = mask > 0
    assert np.abs(painted[inside].astype(int) - photo[inside]).mean() == 12
    assert np.abs(matched[inside].astype(int) - photo[inside]).max() <= 1  # rounding
    assert np.array_equal(matched[~inside], painted[~inside])  # outside, the blend takes the photo anyway
