"""Per-photo captions a dataset already has (editor/dataset/captions.py), and a batch that uses them."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from conftest import SCENES, TOYWORLD_MODEL
from editor.dataset.captions import caption_for
from unwant.sd.errors import UnwantError


def photo_in(folder, name="a.png"):
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_bytes(b"")
    return path


def test_a_txt_beside_the_photo_comes_first(tmp_path):
    photo = photo_in(tmp_path)
    (tmp_path / "captions.json").write_text(json.dumps({"a.png": "from the folder"}))
    assert caption_for(photo) == ("from the folder", tmp_path / "captions.json")
    (tmp_path / "a.txt").write_text("a red circle\n")
    assert caption_for(photo) == ("a red circle", tmp_path / "a.txt")


@pytest.mark.parametrize("name, text", [
    ("metadata.jsonl", '{"file_name": "a.png", "text": "a blue square"}\n{"file_name": "b.png", "text": "x"}\n'),
    ("captions.csv", "file_name,caption\nb.png,x\na.png,a blue square\n"),
    ("captions.json", '{"a.png": "a blue square"}'),
])
def test_folder_files_pair_names_with_captions(tmp_path, name, text):
    photo = photo_in(tmp_path)
    (tmp_path / name).write_text(text)
    assert caption_for(photo) == ("a blue square", tmp_path / name)
    assert caption_for(photo_in(tmp_path, "c.png")) == (None, None)  # not listed: no caption


def test_a_broken_captions_file_is_named_with_what_it_needs(tmp_path):
    photo = photo_in(tmp_path)
    (tmp_path / "metadata.jsonl").write_text('{"image": "a.png"}\n')
    with pytest.raises(UnwantError, match=r"metadata.jsonl: cannot read its captions .* caption \(caption or text or prompt\)"):
        caption_for(photo)


@pytest.mark.skipif(not (TOYWORLD_MODEL / "model_index.json").exists(), reason="toy-world model not trained")
def test_a_batch_uses_each_photos_caption_and_says_which(tmp_path):
    from cli import main

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("scene-03.png", "scene-04.png"):  # both hold a blue circle (samples/toyworld/captions.json)
        shutil.copy(SCENES / name, folder / name)
    (folder / "scene-03.txt").write_text("a blue circle and a yellow square and a green circle")
    (folder / "scene-04.txt").write_text("a green triangle")  # names no blue circle: the batch's own prompt is used
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [str(folder), "-o", str(out), "--remove", "blue circle", "--model", "toyworld",
                                       "--preset", "fast", "--steps", "10", "--quiet"])
    assert result.exit_code == 0, result.output
    lines = {json.loads(line)["input"].rsplit("/", 1)[-1]: json.loads(line) for line in (out / "report.jsonl").read_text().splitlines()}
    assert lines["scene-03.png"]["prompt"] == "a blue circle and a yellow square and a green circle"
    assert lines["scene-03.png"]["caption_from"] == str(folder / "scene-03.txt")
    assert lines["scene-04.png"]["prompt"] == "a blue circle" and "caption_from" not in lines["scene-04.png"]
    assert all(entry["instances"] == 1 for entry in lines.values())


def test_no_captions_keeps_the_batchs_prompt(tmp_path):
    from editor.dataset.folder import FolderSettings, own_caption

    photo = photo_in(tmp_path)
    (tmp_path / "a.txt").write_text("a blue square")
    no_editor = None  # the settings decide before any caption is read or checked against the model's tokenizer
    assert own_caption(no_editor, photo, FolderSettings(remove=("blue square",), captions=False)) == (None, None)
    assert own_caption(no_editor, photo, FolderSettings(remove=("blue square",), prompt="a blue square")) == (None, None)
