"""Dataset sanitization on the toy model: the target looked for first, removed only where it is, looked for again."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from PIL import Image

from benchmarks.toyworld.detector import detect
from conftest import SCENES
from editor import Editor
from editor.photos.photo_io import photo_from_any
from editor.result import EditResult
from editor.dataset.sanitize import sanitize

TARGET = "blue circle"
# the shipped scenes with and without a blue circle (samples/toyworld/captions.json)
WITH_TARGET = ["scene-03.png", "scene-04.png", "scene-05.png"]
WITHOUT_TARGET = ["scene-01.png", "scene-02.png", "scene-06.png"]
FAST = ("--model", "toyworld", "--preset", "fast", "--steps", "10", "--quiet")


@pytest.fixture(scope="module")
def toy(toy_pipe):
    return Editor(toy_pipe, "toyworld")


def lines_of(report) -> dict[str, dict]:
    return {entry["input"].rsplit("/", 1)[-1]: entry for entry in map(json.loads, report.read_text().splitlines())}


def run(*args):
    from cli import main

    return CliRunner().invoke(main, [str(a) for a in args])


def test_presence_tells_the_sample_scenes_with_the_target_from_those_without(toy):
    checks = {name: toy.presence(Image.open(SCENES / name), TARGET) for name in WITH_TARGET + WITHOUT_TARGET}
    assert {name for name, check in checks.items() if check.present} == set(WITH_TARGET)
    assert all(check.threshold == 0.55 for check in checks.values())
    assert len(checks["scene-01.png"].rivals) == 6 and TARGET not in checks["scene-01.png"].rivals
    # measured on one 64 px scene: 4 noise levels x 2 draws x 7 names = 56 UNet rows, against 100 for a plain 50-step image
    assert checks["scene-01.png"].unet_calls.rows == 56


def test_a_batch_edits_only_where_the_target_is_and_copies_the_rest_byte_for_byte(tmp_path):
    out = tmp_path / "out"
    result = run(SCENES, "-o", out, "--remove", TARGET, *FAST)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[-1].startswith("ok 3, check 0, absent 3, not found 0, skipped 0, failed 0; seconds per photo p50 ")
    lines = lines_of(out / "report.jsonl")
    for name in WITHOUT_TARGET:  # not edited: the input's own bytes, a score below the threshold, no residual
        entry = lines[name]
        assert entry["status"] == "absent" and entry["presence"][TARGET] < entry["threshold"] and entry["residual"] is None
        assert (out / name).read_bytes() == (SCENES / name).read_bytes()
    for name in WITH_TARGET:  # edited, and the check after editing finds the target gone, as the exact detector does
        entry = lines[name]
        assert entry["status"] == "ok" and entry["presence"][TARGET] > 0.55 > entry["residual"][TARGET], entry
        assert TARGET not in [o.name for o in detect(np.asarray(Image.open(out / name).convert("RGB")))]
        assert (out / name).read_bytes() != (SCENES / name).read_bytes()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {"ok": 3, "check": 0, "absent": 3, "not-found": 0, "skipped": 0, "error": 0} and summary["to_check"] == []
    assert 0 < summary["seconds_p50"] <= summary["seconds_p95"]

    with pytest.MonkeyPatch.context() as patch:  # nothing may load the model
        patch.setattr("editor.loading.ModelSpec.load", lambda self: pytest.fail("the model was loaded"))
        again = run(SCENES, "-o", out, "--remove", TARGET, *FAST)
    assert again.exit_code == 0 and "nothing to do: all 6 photos are already done" in again.stderr


def test_without_copies_the_absent_photos_are_reported_only(tmp_path):
    out = tmp_path / "out"
    assert run(SCENES, "-o", out, "--remove", TARGET, *FAST, "--no-copy-unchanged").exit_code == 0
    lines = lines_of(out / "report.jsonl")
    assert all(lines[name]["status"] == "absent" and lines[name]["output"] is None for name in WITHOUT_TARGET)
    assert sorted(p.name for p in out.glob("*.png")) == WITH_TARGET
    again = run(SCENES, "-o", out, "--remove", TARGET, *FAST)  # the absent ones are done: the report says so
    assert again.exit_code == 0 and "nothing to do" in again.stderr


def test_edit_all_edits_every_photo(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("scene-01.png", "scene-04.png"):
        shutil.copy(SCENES / name, inputs / name)
    out = tmp_path / "out"
    assert run(inputs, "-o", out, "--remove", TARGET, *FAST, "--edit-all").exit_code == 0
    lines = lines_of(out / "report.jsonl")
    assert {name: entry["status"] for name, entry in lines.items()} == {"scene-01.png": "ok", "scene-04.png": "ok"}
    assert lines["scene-01.png"]["presence"] is None  # not looked for before
    assert lines["scene-01.png"]["residual"][TARGET] < 0.55  # still looked for afterwards


def test_a_target_the_edit_left_is_flagged_for_review(toy):
    """An edit that leaves the photo as it was (a failed removal) must come back as "check", not "ok"."""
    photo = photo_from_any(Image.open(SCENES / "scene-04.png"))

    def no_op(photos, targets, caption=None):
        return [EditResult(photo.rgb.copy(), "a blue circle", targets, None, 10, 7.5) for photo in photos]

    [outcome] = sanitize(toy, [photo], [TARGET, "red square"], no_op)
    assert outcome.status == "check" and outcome.result is not None
    assert set(outcome.presence) == {TARGET, "red square"} and outcome.presence["red square"] < 0.55
    assert set(outcome.residual) == {TARGET} and outcome.residual[TARGET] == outcome.presence[TARGET] > 0.55  # same pixels


def _edit_masking(where: np.ndarray):
    """An edit that changes nothing and says it masked `where` (bool h x w)."""
    def edit(photos, targets, caption=None):
        return [EditResult(p.rgb.copy(), "", targets, None, 10, 7.5, mask=Image.fromarray(where.astype(np.uint8) * 255)) for p in photos]
    return edit


def test_a_flagged_photo_says_why(toy):
    """Issue 32's item 6: the report says whether the target survived in the removed place, or the mask was elsewhere."""
    photo = photo_from_any(Image.open(SCENES / "scene-04.png"))
    pixels = np.asarray(photo.rgb).astype(int)
    blue = np.abs(pixels - (40, 80, 220)).sum(-1) < 60  # the blue circle's own pixels
    green = np.abs(pixels - (40, 170, 60)).sum(-1) < 60  # the green triangle's: a look-alike taken instead
    assert blue.sum() > 100 and green.sum() > 100
    [kept_in_place] = sanitize(toy, [photo], [TARGET], _edit_masking(blue))
    assert kept_in_place.status == "check"
    assert kept_in_place.why.startswith(f"'{TARGET}' still seems present (") and " where it was removed (about " in kept_in_place.why
    [taken_instead] = sanitize(toy, [photo], [TARGET], _edit_masking(green))
    assert "the mask and the target's best cells disagree" in taken_instead.why
    ys, xs = np.nonzero(blue)  # the place named is the blue circle's, within a cell or two (16 x 16 cells)
    across, down = (int(n) for n in taken_instead.why.split("found it about ")[1].split("% down")[0].replace("% across,", "").split())
    assert abs(across - 100 * xs.mean() / blue.shape[1]) < 10 and abs(down - 100 * ys.mean() / blue.shape[0]) < 10


def test_the_check_list_is_said_and_kept(tmp_path, monkeypatch):
    """A photo whose target survives is named at the end of the run and listed in summary.json."""
    out = tmp_path / "out"
    monkeypatch.setattr(Editor, "remove_batch", lambda self, photos, targets, **options: [EditResult(p.rgb.copy(), "", [], None, 1, 7.5) for p in photos])
    result = run(SCENES / "scene-04.png", SCENES / "scene-01.png", "-o", out, "--remove", TARGET, *FAST)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[-2:] == [f"to check (1: the target may still be there; all listed in {out / 'summary.json'}):",
                                               f"  {out / 'scene-04.png'}"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["check"] == 1 and summary["counts"]["absent"] == 1 and summary["to_check"] == [str(out / "scene-04.png")]
    # why, as far as the checks tell: here the edit gave no mask at all
    assert lines_of(out / "report.jsonl")["scene-04.png"]["message"] == f"'{TARGET}' still seems present (0.99; present above 0.55): look at the photo"


def test_photos_side_by_side_in_the_unet_give_the_pixels_of_one_at_a_time(toy):
    """--batch-size: several photos of one size per UNet forward; a photo of another size goes in a batch of its own."""
    photos = [Image.open(SCENES / name) for name in sorted(WITH_TARGET + WITHOUT_TARGET)]
    photos.insert(2, photos[0].resize((96, 64)))  # another model size: its own batch
    together = toy.remove_batch(photos, TARGET, batch_size=4, preset="fast", steps=10, progress=False)
    alone = [toy.remove(photo, TARGET, preset="fast", steps=10, progress=False, force=True) for photo in photos]
    for batched, single in zip(together, alone):
        assert batched.image.tobytes() == single.image.tobytes() and batched.mask.tobytes() == single.mask.tobytes()
        # each photo's share of the shared forwards: as many forwards as alone (so they were shared), as many rows
        assert batched.unet_calls == single.unet_calls
    assert toy.remove_batch([], TARGET) == []


def test_the_presence_threshold_is_the_users_to_set(tmp_path):
    out = tmp_path / "out"
    result = run(SCENES, "-o", out, "--remove", TARGET, *FAST, "--presence-threshold", "1")  # no score is above 1
    assert result.exit_code == 0 and result.stderr.splitlines()[-1].startswith("ok 0, check 0, absent 6,")
    assert {entry["threshold"] for entry in lines_of(out / "report.jsonl").values()} == {1.0}
    refused = run(SCENES, "-o", tmp_path / "x", "--remove", TARGET, *FAST, "--presence-threshold", "1.5")
    assert refused.exit_code == 2 and "presence threshold must be a number from 0 to 1 (0.55 by default), not 1.5" in refused.stderr
