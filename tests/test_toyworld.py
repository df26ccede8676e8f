"""The toy world's renderer and detector: the contract other tools depend on."""

import numpy as np
import pytest

from benchmarks.toyworld.detector import detect
from benchmarks.toyworld.world import CANVAS, COLOURS, MIN_GAP, SceneObject, Scene, object_mask, render, render_background, sample_scene


@pytest.fixture(scope="module")
def scenes():
    rng = np.random.default_rng(123)
    return [sample_scene(rng) for _ in range(300)]


def test_detector_finds_exactly_the_rendered_objects(scenes):
    for scene in scenes:
        assert sorted(d.name for d in detect(render(scene))) == sorted(o.name for o in scene.objects), scene


def test_scenes_follow_the_world_rules(scenes):
    counts = set()
    for scene in scenes:
        counts.add(len(scene.objects))
        assert len({o.colour for o in scene.objects}) == len(scene.objects)
        for obj in scene.objects:
            assert 7 <= obj.r <= 12
            x0, y0, x1, y1 = obj.box
            assert 0 <= x0 and 0 <= y0 and x1 <= CANVAS and y1 <= CANVAS
        for a in scene.objects:
            for b in scene.objects:
                if a is not b:
                    ax0, ay0, ax1, ay1 = a.box
                    bx0, by0, bx1, by1 = b.box
                    gap = max(bx0 - ax1, ax0 - bx1, by0 - ay1, ay0 - by1)
                    assert gap >= MIN_GAP
        assert all(170 <= v <= 250 for v in scene.top + scene.bottom)
        words = scene.caption.split()
        assert not {"without", "no", "not"} & set(words)
    assert counts == {1, 2, 3}


def test_caption_lists_objects_in_order():
    scene = Scene((200, 200, 200), (180, 180, 180), (SceneObject("yellow", "triangle", 15, 15, 8), SceneObject("red", "circle", 45, 45, 9)))
    assert scene.caption == "a yellow triangle and a red circle"


def test_shapes_have_their_fill_ratios():
    for shape, ratio in {"circle": np.pi / 4, "square": 1.0, "triangle": 0.5}.items():
        mask = object_mask(SceneObject("red", shape, 32, 32, 12))
        ys, xs = np.nonzero(mask)
        box = (xs.max() - xs.min() + 1) * (ys.max() - ys.min() + 1)
        assert abs(mask.sum() / box - ratio) < 0.08, shape


def test_background_is_a_vertical_gradient():
    scene = Scene((170, 200, 250), (250, 180, 170), ())
    image = render_background(scene)
    assert image.shape == (CANVAS, CANVAS, 3) and image.dtype == np.uint8
    assert tuple(image[0, 0]) == (170, 200, 250) and tuple(image[-1, -1]) == (250, 180, 170)
    assert (image == image[:, :1]).all()  # constant along each row


def test_detector_ignores_small_and_far_colours():
    image = np.full((64, 64, 3), 220, np.uint8)
    image[5:9, 5:9] = COLOURS["red"]  # 16 px < 25 px
    image[30:50, 30:50] = (120, 120, 120)  # grey: no palette colour within 60
    assert detect(image) == []
    image[30:50, 30:50] = np.array(COLOURS["blue"]) + 20  # within distance 60
    assert [d.name for d in detect(image)] == ["blue square"]


# -- token grounding (training) -------------------------------------------------------------------------------------

def test_word_positions_point_at_the_colour_and_shape_tokens():
    from benchmarks.toyworld.architecture import make_tokenizer
    from benchmarks.toyworld.grounding import word_positions

    tokenizer = make_tokenizer()
    rng = np.random.default_rng(3)
    for _ in range(20):
        scene = sample_scene(rng)
        tokens = tokenizer.convert_ids_to_tokens(tokenizer(scene.caption).input_ids)
        for obj, (colour, shape) in zip(scene.objects, word_positions(scene)):
            assert (tokens[colour], tokens[shape]) == (f"{obj.colour}</w>", f"{obj.shape}</w>")


def test_grounding_masks_cover_each_object_at_latent_resolution():
    from benchmarks.toyworld.grounding import grounding_targets

    scenes = [sample_scene(np.random.default_rng(s)) for s in range(5)]
    positions, masks = grounding_targets(scenes)
    for scene, pos, mask in zip(scenes, positions, masks):
        n = len(scene.objects)
        assert (pos[n:] == -1).all() and (pos[:n] >= 2).all()
        assert (mask[n:] == 0).all()
        for obj, m in zip(scene.objects, mask[:n].float()):
            assert abs(m.sum().item() * 16 - object_mask(obj).sum()) < 1.0  # each latent cell covers 4 x 4 pixels
            ys, xs = np.nonzero(object_mask(obj))
            cells = np.arange(16) * 4 + 1.5  # pixel coordinates of each cell's centre
            weights = m.numpy()
            centre = ((weights.sum(1) * cells).sum() / weights.sum(), (weights.sum(0) * cells).sum() / weights.sum())
            assert abs(centre[0] - ys.mean()) < 2 and abs(centre[1] - xs.mean()) < 2


def test_grounding_loss_rewards_attention_inside_the_object():
    import torch
    from benchmarks.toyworld.grounding import grounding_targets, token_grounding_loss

    scenes = [sample_scene(np.random.default_rng(s), n_objects=2) for s in range(4)]
    positions, masks = grounding_targets(scenes)
    keep = torch.ones(4, dtype=torch.bool)
    uniform = torch.full((4, 256, 77), 1 / 77)
    inside = uniform.clone()
    for n, pos in enumerate(positions):
        for i in range(2):
            for p in pos[i]:
                inside[n, :, p] = (masks[n, i].flatten() == 1).float()  # all of the word's mass inside its object
    assert token_grounding_loss([inside], positions, masks, keep).item() < 1e-6
    loss_uniform = token_grounding_loss([uniform], positions, masks, keep).item()
    assert 0.5 < loss_uniform < 1.0
    assert token_grounding_loss([uniform], positions, masks, torch.zeros(4, dtype=torch.bool)).item() == 0.0


def test_eot_block_starts_at_each_captions_end_token():
    from benchmarks.toyworld.architecture import make_tokenizer
    from benchmarks.toyworld.train import eot_block

    ids = make_tokenizer()(["a red circle", "a red circle and a blue square", ""], padding="max_length", max_length=77, return_tensors="pt").input_ids
    block = eot_block(ids)
    assert block.sum(1).tolist() == [77 - 4, 77 - 8, 77 - 1]  # [SOT] + 3 words; [SOT] + 7 words; [SOT] alone
    assert not block[:, 0].any() and block[:, -1].all()
