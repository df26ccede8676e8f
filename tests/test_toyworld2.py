"""World 2's renderer, detector and grounding targets: the contract held-out checks depend on."""

import collections
from dataclasses import replace

import numpy as np
import pytest

from benchmarks.toyworld2 import detect, expected_names, render, render_without, sample_scene, without
from benchmarks.toyworld2.palette import EYE_WHITE, SHADOW_DARKNESS, SKINS
from benchmarks.toyworld2.world import (
    BACKGROUNDS, CANVAS, Background, Face, Scene, Shape, face_parts, render_background, shadow_mask, shape_mask,
)


@pytest.fixture(scope="module")
def scenes():
    rng = np.random.default_rng(123)
    return [sample_scene(rng) for _ in range(400)]


def test_detector_finds_exactly_what_was_drawn(scenes):
    for scene in scenes:
        assert detect(render(scene)) == expected_names(scene), scene.caption


def test_detector_sees_each_thing_gone_in_render_without(scenes):
    for scene in scenes:
        for name in set(scene.names):
            assert detect(render_without(scene, name)) == expected_names(without(scene, name)), (scene.caption, name)


def test_the_world_has_every_kind_of_thing(scenes):
    names = collections.Counter(n for s in scenes for n in s.names)
    assert {"face", "glasses", "sunglasses", "hat", "red circle", "blue square", "yellow triangle"} <= set(names)
    assert {s.background.kind for s in scenes} == set(BACKGROUNDS)
    assert any(s.background.horizon for s in scenes) and any(len(s.faces) == 2 for s in scenes)
    assert not any("glasses" in f.accessories and "sunglasses" in f.accessories for s in scenes for f in s.faces)
    named = np.mean([s.name_background for s in scenes])
    assert 0.4 < named < 0.6


def test_captions_describe_only_what_is_there(scenes):
    for scene in scenes:
        words = scene.caption.split()
        assert not {"without", "no", "not"} & set(words)
        for name in scene.names:
            assert name in scene.caption


def test_caption_names_things_and_background_in_order():
    face = Face(20, 30, 14, SKINS[0], ("sunglasses", "hat"))
    shape = Shape("red", "circle", 50, 50, 6)
    scene = Scene(Background("stripes", (120, 120, 200), (90, 90, 150), period=8), (face, shape), name_background=True)
    assert scene.caption == "a face with sunglasses and a hat and a red circle on stripes"
    assert scene.names == ("face", "sunglasses", "hat", "red circle")


def _face_scene(*accessories: str, kind: str = "stripes") -> Scene:
    return Scene(Background(kind, (120, 120, 200), (90, 90, 150), period=8, angle=45), (Face(32, 36, 16, SKINS[1], accessories),))


def test_render_without_sunglasses_draws_the_eyes_under_them():
    scene = _face_scene("sunglasses")
    before, after = render(scene), render_without(scene, "sunglasses")
    lenses = face_parts(scene.faces[0])["sunglasses"]
    eyes = face_parts(scene.faces[0])["eyes"] & ~face_parts(scene.faces[0])["pupils"]
    assert "eyes" not in detect(before) and detect(after) == ["eyes", "face"]
    assert (after[eyes] == EYE_WHITE).all() and (before[eyes] != EYE_WHITE).all()
    assert (before[~lenses] == after[~lenses]).all()  # only what the lenses covered changes


def test_render_without_a_hat_continues_the_head_and_the_stripes():
    scene = _face_scene("hat")
    after = render_without(scene, "hat")
    parts = face_parts(scene.faces[0])
    under = parts["hat"]
    head = under & parts["face"] & ~parts["eyes"]
    assert head.any() and (under & ~parts["face"]).any()
    assert (after[head] == scene.faces[0].skin).all()
    background = render_background(scene.background)
    assert (after[under & ~parts["face"]] == background[under & ~parts["face"]]).all()
    assert len({tuple(c) for c in background[under & ~parts["face"]]}) == 2  # both stripe colours run under the hat


def test_a_shape_on_the_ground_casts_a_shadow_that_goes_with_it():
    background = Background("plain", (120, 120, 200), (90, 90, 150), horizon=46, ground=(160, 200, 120))
    shape = Shape("yellow", "square", 20, 46 - 8, 8, shadow_side=1)
    scene = Scene(background, (shape,))
    image, gone = render(scene), render_without(scene, "yellow square")
    shade = shadow_mask(shape, 46)
    assert shade.sum() > 40 and not (shade & shape_mask(shape)).any()
    assert (image[shade] == np.round(np.array(background.ground) * SHADOW_DARKNESS)).all()
    assert (gone[shade] == background.ground).all() and detect(gone) == []
    assert detect(image) == ["shadow", "yellow square"]


def test_glasses_rims_leave_the_eyes_visible():
    scene = _face_scene("glasses", kind="checks")
    parts = face_parts(scene.faces[0])
    assert not (parts["glasses"] & parts["eyes"]).any()
    assert detect(render(scene)) == ["eyes", "face", "glasses"]


def test_without_refuses_a_name_the_scene_lacks():
    with pytest.raises(ValueError, match="not in the scene; it has face, hat"):
        without(_face_scene("hat"), "glasses")


def test_every_background_kind_renders_in_its_two_colours():
    for kind in BACKGROUNDS:
        image = render_background(Background(kind, (120, 120, 200), (90, 90, 150), period=8, angle=45, seed=3))
        assert image.shape == (CANVAS, CANVAS, 3) and image.dtype == np.uint8
        low, high = np.array((90, 90, 150)), np.array((120, 120, 200))
        assert ((image >= low - 1) & (image <= high + 1)).all(), kind
        if kind != "plain":
            assert image.reshape(-1, 3).std(0).max() > 5, kind


def test_grounding_targets_point_at_the_words_that_name_each_thing(scenes):
    from benchmarks.toyworld.architecture import make_tokenizer
    from benchmarks.toyworld2.grounding import grounding_targets

    tokenizer = make_tokenizer()
    positions, masks = grounding_targets(scenes[:40])
    for scene, pos, mask in zip(scenes[:40], positions, masks):
        ids = tokenizer(scene.caption).input_ids
        words = [tokenizer.decode([ids[p]]).strip() for p in pos[:, 0].tolist() if p >= 0]
        expected = [w for t in scene.things for w in (t.names if isinstance(t, Face) else (t.colour, t.shape))]
        assert words == expected
        used = pos[:, 0] >= 0
        assert (mask[used].float().flatten(1).sum(1) > 0).all() and (mask[~used] == 0).all()


# -- removal cases and how a removal is judged ----------------------------------------------------------------------


@pytest.mark.parametrize("task", ["sunglasses", "glasses", "hat", "texture", "shadow", "two-glasses"])
def test_the_truth_scores_perfectly_and_the_untouched_photo_fails(task):
    from benchmarks.toyworld2.cases import judge, removal_cases

    for case in removal_cases(task, 5):
        perfect, untouched = judge(case, case.truth), judge(case, render(case.scene))
        assert perfect["gone"] == perfect["kept"] == perfect["exact"] == 1.0 and perfect["hole_psnr"] == 100.0
        assert untouched["gone"] == 0.0 and untouched["exact"] == 0.0 and untouched["outside_psnr"] == 100.0
        if task in ("sunglasses", "glasses", "two-glasses"):
            assert perfect["eyes"] == 1.0
        if task == "sunglasses":
            assert untouched["eyes"] == 0.0  # the lenses hide the eyes
        if task == "hat":
            assert perfect["outline_iou"] == 1.0 and untouched["outline_iou"] == 0.0
        if task == "shadow":
            assert perfect["both_gone"] == 1.0 and untouched["shadow_gone"] == 0.0
        if task == "texture":
            assert case.scene.background.kind in ("stripes", "checks", "noise") and perfect["hole_detail"] == 1.0
        if task == "two-glasses":  # one pair of two removed is not a removal
            assert case.scene.names.count("glasses") == 2 and case.target == "glasses"
            faces = [t for t in case.scene.things if "glasses" in getattr(t, "accessories", ())]
            bare = replace(faces[0], accessories=tuple(a for a in faces[0].accessories if a != "glasses"))
            one_left = replace(case.scene, things=tuple(bare if t is faces[0] else t for t in case.scene.things))
            assert judge(case, render(one_left))["gone"] == 0.0


def test_a_fill_from_the_surroundings_is_caught_where_it_paints_skin_over_the_eyes():
    """What the world is for: sunglasses filled with the face's skin are gone, and so are the eyes."""
    from benchmarks.toyworld2.cases import judge, removal_cases

    case = removal_cases("sunglasses", 1)[0]
    face = case.scene.faces[0]
    smeared = render(case.scene).copy()
    smeared[face_parts(face)["sunglasses"]] = face.skin
    scores = judge(case, smeared)
    assert scores["gone"] == 1.0 and scores["eyes"] == 0.0 and scores["exact"] == 0.0 and scores["hole_psnr"] < 20


def test_a_smear_over_a_texture_is_caught_by_its_missing_detail():
    """What PSNR cannot see: the hole painted with the texture's mean colour loses its gradients."""
    from benchmarks.toyworld2.cases import hole, judge, removal_cases

    for case in removal_cases("texture", 4):
        where = hole(case)
        smeared = case.truth.copy()
        smeared[where] = case.truth[where].mean(axis=0).round().astype(np.uint8)
        assert judge(case, smeared)["hole_detail"] < 0.6


def test_removal_cases_are_seeded_and_fit_their_task():
    from benchmarks.toyworld2.cases import removal_cases

    first, again = removal_cases("shadow", 8), removal_cases("shadow", 8)
    assert [c.scene for c in first] == [c.scene for c in again]
    assert all(c.scene.background.horizon and c.target in c.scene.names for c in first)
    assert [c.scene for c in removal_cases("shadow", 8, seed=1)] != [c.scene for c in first]
