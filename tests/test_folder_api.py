"""The folder and file API (`edit_folder`, `edit_file`): what the command line runs, callable from Python with the same
outputs, report and resume."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

import cli
from conftest import SCENES
from editor import EditSettings, Editor, ModelSpec, edit_file, edit_folder
from unwant.sd.errors import UnwantError

TARGET = "blue circle"
PHOTOS = ["scene-01.png", "scene-04.png"]  # without the target, with it (samples/toyworld/captions.json)
SETTINGS = dict(preset="fast", steps=10)


@pytest.fixture(scope="module")
def toy(toy_pipe):
    return Editor(toy_pipe, "toyworld")


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in PHOTOS:
        shutil.copy(SCENES / name, folder / name)
    return folder


def without_timings(report) -> list[dict]:
    drop = ("seconds", "seconds_total", "check_seconds", "output", "input")
    return [{k: v for k, v in json.loads(line).items() if k not in drop} for line in report.read_text().splitlines()]


def test_edit_folder_writes_what_the_command_line_writes(toy, photos, tmp_path):
    summary = edit_folder(toy, photos, tmp_path / "api", TARGET, progress=False, **SETTINGS)
    assert dict(summary.counts) == {"ok": 1, "absent": 1} and summary.ok and summary.folder_to_check == []
    result = CliRunner().invoke(cli.main, [str(photos), "-o", str(tmp_path / "cli"), "--remove", TARGET, "--model", "toyworld",
                                           "--preset", "fast", "--steps", "10", "--quiet"])
    assert result.exit_code == 0, result.output
    for name in ("scene-01.png", "scene-04.png", "summary.json"):
        api, command = (tmp_path / "api" / name).read_bytes(), (tmp_path / "cli" / name).read_bytes()
        assert api == command or name == "summary.json"  # the summary's seconds differ
    assert without_timings(tmp_path / "api" / "report.jsonl") == without_timings(tmp_path / "cli" / "report.jsonl")
    assert (tmp_path / "api" / "scene-01.png").read_bytes() == (photos / "scene-01.png").read_bytes()  # copied, not edited


def test_a_finished_folder_is_not_loaded_again_and_other_settings_are_refused(toy, photos, tmp_path, monkeypatch):
    out = tmp_path / "out"
    edit_folder(toy, photos, out, TARGET, progress=False, **SETTINGS)
    monkeypatch.setattr(ModelSpec, "load", lambda self: pytest.fail("the model was loaded"))
    again = edit_folder(ModelSpec("toyworld"), [photos], out, [TARGET], progress=False, **SETTINGS)
    assert again.done_earlier == 2 and not again.counts
    with pytest.raises(UnwantError, match="were made with .*steps 10 .*now 12"):
        edit_folder(ModelSpec("toyworld"), photos, out, TARGET, progress=False, preset="fast", steps=12)


@pytest.mark.parametrize("settings, message", [
    (dict(presence_threshold=2.0), "presence threshold"),
    (dict(guidance=-1.0), "from 0 to 50"),
    (dict(batch_size=0), "batch_size must be a whole number"),
    (dict(fill="blur"), "fill must be one of"),
])
def test_bad_settings_are_refused_before_the_model_loads(photos, tmp_path, monkeypatch, settings, message):
    monkeypatch.setattr(ModelSpec, "load", lambda self: pytest.fail("the model was loaded"))
    with pytest.raises(UnwantError, match=message):
        edit_folder("toyworld", photos, tmp_path / "out", TARGET, progress=False, **settings)
    assert not (tmp_path / "out").exists()


def test_edit_file_writes_the_edit_and_never_an_input(toy, tmp_path):
    source = tmp_path / "scene-04.png"
    shutil.copy(SCENES / "scene-04.png", source)
    result, written = edit_file(toy, source, tmp_path / "out.png", EditSettings(remove=TARGET, **SETTINGS), progress=False)
    assert written == tmp_path / "out.png" and written.exists() and result.targets == [TARGET]
    with pytest.raises(UnwantError, match="would overwrite the input"):
        edit_file(toy, source, source, EditSettings(remove=TARGET, **SETTINGS), progress=False, overwrite=True)
    assert source.read_bytes() == (SCENES / "scene-04.png").read_bytes()


def test_an_editor_knows_how_to_load_itself_again(toy_pipe):
    editor = Editor.from_pretrained("toyworld", device="cpu", dtype="float32")
    assert editor.spec == ModelSpec("toyworld", device="cpu", dtype="float32")


@pytest.fixture
def nothing_located(monkeypatch):
    """The removal's mask comes out empty, as when the attention finds nothing to snap to."""
    monkeypatch.setattr("editor.editor.feathered_mask", lambda attention, size, config, image=None, posterior=None: np.zeros(size, np.float32))


def test_a_single_edit_that_locates_nothing_fails_in_one_line_and_writes_nothing(nothing_located, tmp_path):
    source = tmp_path / "scene-04.png"
    shutil.copy(SCENES / "scene-04.png", source)
    result = CliRunner().invoke(cli.main, [str(source), "--remove", TARGET, "--model", "toyworld", "--preset", "fast", "--steps", "4",
                                           "-o", str(tmp_path / "out.png"), "--quiet"])
    assert result.exit_code == 2 and not (tmp_path / "out.png").exists()
    assert result.stderr.splitlines() == [f"error: could not find '{TARGET}' in {source}; try --prompt with a caption, or a lower --mask-threshold"]


def test_a_batch_says_not_found_copies_nothing_and_lists_the_photo_to_check(toy, nothing_located, photos, tmp_path):
    out = tmp_path / "out"
    summary = edit_folder(toy, photos, out, TARGET, progress=False, **SETTINGS)
    assert dict(summary.counts) == {"not-found": 1, "absent": 1} and summary.ok
    assert not (out / "scene-04.png").exists() and (out / "scene-01.png").exists()  # the photo without the target: copied
    assert summary.folder_to_check == [str(photos / "scene-04.png")]
    assert "not found 1" in summary.line()
    again = edit_folder(toy, photos, out, TARGET, progress=False, **SETTINGS)
    assert again.done_earlier == 2
