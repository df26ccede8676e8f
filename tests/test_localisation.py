"""Which object a removal takes: the target's attention kept where the presence check places the target (every
instance, no look-alike), and a photo without the target left alone (issue 32; README, "Which object")."""

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from conftest import SCENES, TOYWORLD_MODEL
from editor.photos.photo_io import photo_from_any
from editor.removal.masks import MaskConfig, attention_region, instance_count
from unwant.presence.rivals import nearest_rivals, unknown_words

SIZE = (64, 64)
# held-out scenes (benchmarks/toyworld/sets.py) where the strongest blob fails: one of two instances left, a look-alike taken
TWINS, LOOKALIKE = 1, 2


def two_blobs(left: float, right: float) -> np.ndarray:
    """An 8 x 8 attention map with a blob on the left and one on the right, of these strengths."""
    attention = np.zeros((8, 8), np.float32)
    attention[3:5, 1:3], attention[3:5, 5:7] = left, right
    return attention


def test_the_posterior_keeps_every_blob_it_places_the_target_in_and_drops_the_look_alike():
    attention = two_blobs(1.0, 0.6)
    right_only = np.zeros((8, 8), np.float32)
    right_only[:, 4:] = 0.9
    kept = attention_region(attention, SIZE, MaskConfig(), posterior=right_only)
    assert kept[:, :32].sum() == 0 and kept[:, 32:].sum() > 0  # the weaker blob, because the target is there
    both = attention_region(attention, SIZE, MaskConfig(), posterior=np.full((8, 8), 0.9, np.float32))
    assert both[:, :32].sum() > 0 and both[:, 32:].sum() > 0
    alone = attention_region(attention, SIZE, MaskConfig())  # no check: the strongest blob alone, as before
    assert alone[:, :32].sum() > 0 and alone[:, 32:].sum() == 0


def test_a_look_alike_is_judged_by_its_own_core_not_the_edge_it_turns_to_the_target():
    """The posterior spills a few pixels from the target onto a near look-alike's edge: the look-alike's core decides."""
    posterior = np.full((8, 8), 0.2, np.float32)
    posterior[:, :5] = 0.9  # the target (left) and the near edge of the look-alike (right)
    near_edge = cv2.resize(posterior, SIZE[::-1], interpolation=cv2.INTER_LINEAR)[32:, 36:44]
    assert near_edge.max() > 0.5  # by its best pixel, the look-alike would pass
    kept = attention_region(two_blobs(1.0, 0.6), SIZE, MaskConfig(), posterior=posterior)
    assert kept[:, :32].sum() > 0 and kept[:, 32:].sum() == 0


def test_with_no_cell_confirmed_the_strongest_blob_is_taken():
    region = attention_region(two_blobs(1.0, 0.6), SIZE, MaskConfig(), posterior=np.full((8, 8), 0.1, np.float32))
    assert region[:, :32].sum() > 0 and region[:, 32:].sum() == 0


def test_instances_are_the_attention_blobs_kept():
    both = np.full((8, 8), 0.9, np.float32)
    assert instance_count(two_blobs(1.0, 0.6), SIZE, MaskConfig(), posterior=both) == 2
    assert instance_count(two_blobs(1.0, 0.6), SIZE, MaskConfig()) == 1  # no check: the strongest blob alone
    assert instance_count(np.zeros((8, 8), np.float32), SIZE, MaskConfig(), posterior=both) == 0


def test_what_a_target_is_worn_on_is_no_rival_of_it():
    """A face shares every cell with the sunglasses on it: judged against it, the sunglasses never win (world 2)."""
    from unwant.presence.rivals import _shares_a_place

    assert _shares_a_place("face", "sunglasses") and _shares_a_place("Sunglasses", "face")  # either way round
    assert _shares_a_place("car", "license plate") and not _shares_a_place("glasses", "sunglasses")  # look-alikes stay
    assert not _shares_a_place("dog", "sunglasses")


@pytest.mark.parametrize("bad", [{"draws": 0}, {"place_draws": 1.5}, {"pool": 4}, {"place_pool": 0}])
def test_a_bad_presence_setting_is_named_in_one_line(bad):
    from unwant.presence import PresenceConfig
    from unwant.sd.errors import UnwantError

    with pytest.raises(UnwantError, match=f"presence {next(iter(bad)).replace('_', ' ')} must be"):
        PresenceConfig(**bad)


def test_words_outside_a_vocabulary_are_named():
    vocabulary = ["red circle", "blue square"]
    assert unknown_words("cat", vocabulary) == ["cat"]
    assert unknown_words("Red", vocabulary) == [] and unknown_words("purple circle", vocabulary) == ["purple"]


needs_toy = pytest.mark.skipif(not (TOYWORLD_MODEL / "model_index.json").exists(), reason="toy-world model not trained")


@pytest.fixture(scope="module")
def toy(toy_pipe):
    from editor import Editor

    return Editor(toy_pipe, "toyworld")


@needs_toy
def test_a_category_target_is_not_judged_against_its_own_kinds(toy):
    rivals = nearest_rivals(toy.pipe, "red", toy.checks.vocabulary, 6, "a {name}")
    assert len(rivals) == 6 and not any("red" in name.split() for name in rivals)


def detected(image) -> list[str]:
    from benchmarks.toyworld.detector import detect

    return sorted(d.name for d in detect(np.asarray(image.convert("RGB"))))


@needs_toy
def test_both_instances_go_and_the_other_object_stays(toy):
    from benchmarks.toyworld.sets import twin_scenes
    from benchmarks.toyworld.world import render

    scenes, targets = twin_scenes(TWINS + 1)
    scene, target = scenes[TWINS], targets[TWINS]
    result = toy.remove(render(scene), target, preset="fast", progress=False)
    assert detected(result.image) == sorted(o.name for o in scene.objects if o.name != target)
    assert result.instances == 2 and result.presence[target].present
    # before: the strongest blob alone, one of the two left
    before = toy.remove(render(scene), target, preset="fast", progress=False, mask=MaskConfig(threshold=0.3, target_posterior=None), force=True)
    assert detected(before.image).count(target) == 1 and before.instances == 1


@needs_toy
def test_the_target_goes_and_its_look_alikes_stay(toy):
    from benchmarks.toyworld.sets import lookalike_scenes
    from benchmarks.toyworld.world import render

    scenes, targets = lookalike_scenes(LOOKALIKE + 1)
    scene, target = scenes[LOOKALIKE], targets[LOOKALIKE]
    result = toy.remove(render(scene), target, preset="fast", progress=False)
    assert detected(result.image) == sorted(o.name for o in scene.objects if o.name != target) and result.instances == 1
    before = toy.remove(render(scene), target, preset="fast", progress=False, mask=MaskConfig(threshold=0.3, target_posterior=None),
                        attention_factor=2, force=True)
    assert target in detected(before.image)  # the 8 x 8 maps' strongest blob was a look-alike


@needs_toy
def test_a_photo_without_the_target_is_left_alone_unless_forced(toy):
    image = Image.open(SCENES / "scene-01.png")  # a yellow circle, a blue square, a green circle
    result = toy.remove(image, "red triangle", preset="fast", progress=False)
    assert result.absent and result.found is False and result.instances == 0
    assert not result.presence["red triangle"].present
    assert np.array_equal(np.asarray(result.image.convert("RGB")), np.asarray(image.convert("RGB")))
    assert set(result.timings) == {"encode", "look"}  # the photo encoded for the check; nothing ran after it
    forced = toy.remove(image, "red triangle", preset="fast", progress=False, force=True)
    assert not forced.absent and forced.found


@needs_toy
def test_a_photo_to_edit_gets_its_second_draw_added_not_a_new_check(toy):
    """With a one-draw gate (`PresenceConfig(draws=1)`, 28 rows), a photo to edit adds the second draw (28 more) for the
    mask's place: the same place as two draws read at once; a photo left alone pays 28."""
    from unwant.presence import PresenceConfig, presence

    image = Image.open(SCENES / "scene-04.png")  # a green triangle and a blue circle
    quick = PresenceConfig(draws=1)
    result = toy.remove(image, "blue circle", preset="fast", steps=4, progress=False, presence=quick)
    check = result.presence["blue circle"]
    assert check.present and check.draws == 2 and check.unet_calls.rows == 56
    z0, _ = toy.encode_photo(photo_from_any(image))
    at_once = presence(toy.pipe, z0, "blue circle", check.rivals, PresenceConfig(draws=2))
    assert torch.allclose(check.place, at_once.place, atol=1e-5)
    assert check.score == toy.presence(image, "blue circle", config=quick).score  # the score is still the gate's
    absent = toy.remove(image, "red triangle", preset="fast", steps=4, progress=False, presence=quick)
    assert absent.absent and absent.presence["red triangle"].unet_calls.rows == 28  # left alone: no second draw


@needs_toy
def test_a_batch_reuses_the_check_it_made_first(toy):
    from unwant.sd.calls import UNetCallCounter

    image = Image.open(SCENES / "scene-01.png")
    first = toy.presence(image, "blue square")
    with UNetCallCounter(toy.pipe.unet) as calls:
        again = toy.presence(image, "blue square")
    assert calls.rows == 0 and again.posterior is first.posterior and again.score == first.score


@needs_toy
def test_the_command_line_names_the_word_the_model_does_not_know(tmp_path):
    import cli

    out = tmp_path / "out.png"
    result = CliRunner().invoke(cli.main, [str(SCENES / "scene-01.png"), "--remove", "purple circle", "--model", "toyworld",
                                           "-o", str(out), "--preset", "fast", "--quiet"])
    assert result.exit_code != 0 and not out.exists()
    line = result.output.strip().splitlines()[-1]
    assert "left as it is" in line and "'purple'" in line and "--edit-all" in line


def test_a_tiny_real_config_model_counts_instances_and_places_the_target(tiny_pipe):
    from editor import Editor

    editor = Editor(tiny_pipe)
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    result = editor.remove(image, "glasses", preset="fast", steps=3, progress=False, force=True)
    check = result.presence["glasses"]
    assert check.posterior.shape == (16, 16) and 0 <= float(check.posterior.min()) <= float(check.posterior.max()) <= 1
    assert isinstance(result.instances, int) and (result.instances >= 1) == result.found


@needs_toy
def test_the_presence_threshold_moves_a_single_edits_gate(tmp_path):
    import cli

    out = tmp_path / "out.png"
    args = [str(SCENES / "scene-01.png"), "--remove", "blue square", "--model", "toyworld", "-o", str(out), "--preset", "fast",
            "--steps", "4", "--quiet"]
    assert CliRunner().invoke(cli.main, args).exit_code == 0 and out.exists()
    refused = CliRunner().invoke(cli.main, [*args, "--presence-threshold", "1", "--overwrite"])  # no score is above 1
    assert refused.exit_code == 2 and "the target seems absent (presence 'blue square'" in refused.output
