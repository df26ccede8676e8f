"""Nothing lost, nothing leaked: the probes of the reliability issue that once failed, each now a test."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import cli

PROMPT = "a red circle and a blue square"
FAST = ("--steps", "3", "--quiet", "--edit-all", "--no-verify")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, tiny_pipe) -> Path:
    folder = tmp_path_factory.mktemp("tiny_model")
    tiny_pipe.save_pretrained(folder, safe_serialization=True)
    return folder


@pytest.fixture
def edit(tiny_model):
    def run(*args):
        extra = ["--edit-all"] if "--remove" in args and "--edit-all" not in args else []  # random weights: no check
        return CliRunner().invoke(cli.main, [str(a) for a in args] + ["--model", str(tiny_model), "--device", "cpu", *extra])

    return run


@pytest.fixture
def no_model(monkeypatch):
    """Whatever runs now must be refused before the model loads."""
    monkeypatch.setattr("editor.loading.ModelSpec.load", lambda self: pytest.fail("the model was loaded"))


def photo(path: Path, exif: bool = False) -> Path:
    rgb = np.full((40, 48, 3), 128, np.uint8)
    rgb[10:20, 10:20] = (220, 30, 30)
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = {}
    if exif:
        tags = Image.Exif()
        tags[0x010F] = "PhoneMaker"
        tags.get_ifd(0x8825)[2] = (52.0, 22.0, 1.0)
        extra["exif"] = tags.tobytes()
    Image.fromarray(rgb).save(path, **extra)
    return path


def lines(report: Path) -> list[dict]:
    return [json.loads(line) for line in report.read_text().splitlines()]


# -- --report ------------------------------------------------------------------------------------------------------


def test_report_onto_the_input_is_refused_and_the_input_kept(edit, tmp_path, no_model):
    source = photo(tmp_path / "scene-01.png")
    before = source.read_bytes()
    result = edit(source, "--remove", "red square", "-o", tmp_path / "out.png", "--report", source)
    assert result.exit_code == 2 and "--report would replace the input" in result.stderr
    assert source.read_bytes() == before


@pytest.mark.parametrize("where", ["existing", "folder", "output"])
def test_report_onto_an_existing_file_a_folder_or_the_output_is_refused_before_any_work(edit, tmp_path, no_model, where):
    source = photo(tmp_path / "p.png")
    report = {"existing": tmp_path / "notes.json", "folder": tmp_path / "reports", "output": tmp_path / "out.png"}[where]
    if where == "existing":
        report.write_text("mine")
    elif where == "folder":
        report.mkdir()
    result = edit(source, "--remove", "red square", "-o", tmp_path / "out.png", "--report", report)
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    if where == "existing":
        assert report.read_text() == "mine"
    assert not list(tmp_path.glob(".*.tmp"))


def test_save_mask_onto_the_input_or_an_existing_file_is_refused_before_any_work(edit, tmp_path, no_model):
    source = photo(tmp_path / "p.png")
    (tmp_path / "mask.png").write_bytes(b"mine")
    for mask in (source, tmp_path / "mask.png", tmp_path / "mask.xyz"):
        result = edit(source, "--remove", "red square", "-o", tmp_path / "out.png", "--save-mask", mask)
        assert result.exit_code == 2, (mask, result.output)
    assert (tmp_path / "mask.png").read_bytes() == b"mine"


def test_report_written_with_overwrite_replaces_only_the_report(edit, tmp_path):
    source = photo(tmp_path / "p.png")
    report = tmp_path / "r.json"
    report.write_text("old")
    result = edit(source, "--remove", "red square", "--prompt", "a red square", "-o", tmp_path / "out.png", "--report", report,
                  "--overwrite", "--steps", "2", "--quiet")
    assert result.exit_code == 0, result.output
    assert json.loads(report.read_text())["input"] == str(source)


# -- batches --------------------------------------------------------------------------------------------------------


def test_strip_metadata_strips_the_copies_of_photos_without_the_target(edit, tmp_path, monkeypatch):
    src, out = tmp_path / "in", tmp_path / "out"
    photo(src / "a.jpg", exif=True)
    from editor.dataset.sanitize import Outcome

    monkeypatch.setattr("editor.dataset.folder.edit_photos", lambda editor, settings, sources: [Outcome("absent", None) for _ in sources])
    result = edit(src, "-o", out, "--remove", "red square", "--strip-metadata", "--steps", "2", "--quiet")
    assert result.exit_code == 0, result.output
    copy = Image.open(out / "a.jpg")
    assert not len(copy.getexif()) and not copy.info.get("icc_profile")
    assert np.array_equal(np.asarray(copy), np.asarray(Image.open(src / "a.jpg")))  # the same pixels, not re-encoded
    assert lines(out / "report.jsonl")[0]["status"] == "absent"


def test_a_rerun_with_another_target_is_refused_not_called_done(edit, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    photo(src / "a.png")
    assert edit(src, "-o", out, "--remove", "red square", *FAST).exit_code == 0
    again = edit(src, "-o", out, "--remove", "blue square", *FAST)
    assert again.exit_code == 2 and "were made with remove ['red square'] (now ['blue square'])" in again.stderr
    assert "nothing to do" not in again.stderr
    redo = edit(src, "-o", out, "--remove", "blue square", *FAST, "--overwrite")
    assert redo.exit_code == 0 and lines(out / "report.jsonl")[-1]["settings"]["remove"] == ["blue square"]


def test_two_photos_that_would_share_an_output_are_refused_before_any_work(edit, tmp_path, no_model):
    src = tmp_path / "in"
    photo(src / "x.jpg"), photo(src / "x.png")
    result = edit(src, "-o", tmp_path / "out", "--remove", "red square", *FAST)
    assert result.exit_code == 2 and "x.png" in result.stderr and "x.jpg" in result.stderr and "clash" in result.stderr
    assert not (tmp_path / "out" / "x.png").exists()


def test_a_photo_written_but_not_reported_by_a_killed_run_is_redone_and_reported(edit, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    photo(src / "a.png"), photo(src / "b.png")
    assert edit(src, "-o", out, "--remove", "red square", *FAST).exit_code == 0
    report = out / "report.jsonl"
    kept = [line for line in report.read_text().splitlines() if '"key": "b.png"' not in line]
    report.write_text("\n".join(kept) + "\n")  # b's output is there, its line is not: killed between the two
    again = edit(src, "-o", out, "--remove", "red square", *FAST)
    assert again.exit_code == 0, again.output
    latest = {entry["key"]: entry for entry in lines(report)}
    assert latest["b.png"]["status"] == "ok" and latest["a.png"]["status"] == "skipped"


def test_the_same_photo_spelled_another_way_is_one_photo(edit, tmp_path, monkeypatch):
    src, out = tmp_path / "in", tmp_path / "out"
    photo(src / "a.png")
    monkeypatch.chdir(tmp_path)
    assert edit(Path("in"), "-o", out, "--remove", "red square", *FAST).exit_code == 0
    again = edit(src.resolve(), "-o", out, "--remove", "red square", *FAST)
    assert again.exit_code == 0 and "nothing to do" in again.stderr


def test_an_output_folder_holding_someone_elses_file_keeps_it(edit, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    photo(src / "a.png")
    out.mkdir()
    (out / "a.png").write_bytes(b"not ours")
    result = edit(src, "-o", out, "--remove", "red square", *FAST)
    assert result.exit_code == 1 and "exists and no unwant batch wrote it" in result.stderr
    assert (out / "a.png").read_bytes() == b"not ours"
    os.remove(out / "a.png")


# -- numbers and words out of range: refused before the model loads ------------------------------------------------


@pytest.mark.parametrize("flag, value", [("--mask-threshold", "2"), ("--mask-threshold", "-1"), ("--mask-threshold", "nan"),
                                         ("--mask-threshold", "0"), ("--presence-threshold", "nan"), ("--presence-threshold", "1.5"),
                                         ("--alpha", "nan"), ("--alpha", "-50"), ("--guidance", "1e30"), ("--guidance", "nan"),
                                         ("--max-megapixels", "nan"), ("--max-megapixels", "-1"), ("--remove", "   ")])
def test_a_number_or_word_out_of_range_is_one_line_before_any_work(edit, tmp_path, no_model, flag, value):
    source = photo(tmp_path / "p.png")
    target = () if flag == "--remove" else ("--remove", "red square")
    result = edit(source, *target, flag, value, "-o", tmp_path / "out.png")
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1, result.output
    assert result.stderr.startswith("error: ") and not (tmp_path / "out.png").exists()


def test_a_negative_prompt_is_refused_for_a_removal_and_used_by_reconstruct(edit, tmp_path):
    source = photo(tmp_path / "p.png")
    refused = edit(source, "--remove", "red square", "--negative-prompt", "blur", "-o", tmp_path / "out.png")
    assert refused.exit_code == 2 and "--negative-prompt is for generation and --reconstruct" in refused.stderr
    plain, negative = tmp_path / "plain.png", tmp_path / "negative.png"
    common = ("--reconstruct", "--prompt", "a red square", "--inversion", "ddim", "--steps", "3", "--quiet")
    assert edit(source, *common, "-o", plain).exit_code == 0
    assert edit(source, *common, "--negative-prompt", "a blue square", "-o", negative).exit_code == 0
    assert not np.array_equal(np.asarray(Image.open(plain)), np.asarray(Image.open(negative)))


@pytest.mark.parametrize("call", [
    lambda e, p: e.remove(p, "red square", seed=-1), lambda e, p: e.remove(p, "red square", seed="abc"),
    lambda e, p: e.remove(p, 123), lambda e, p: e.remove(p, "red square", prompt=123), lambda e, p: e.generate(None),
    lambda e, p: e.generate("a red square", negative_prompt=5), lambda e, p: e.remove(p, ""),
    lambda e, p: e.remove(p, "red square", mask=__import__("editor.removal.masks").removal.masks.MaskConfig(threshold=float("nan"))),
    lambda e, p: e.remove(p, "red square", alpha=float("nan")), lambda e, p: e.remove(p, "red square", guidance=1e30),
])
def test_the_api_refuses_bad_arguments_with_its_own_one_line_error(tiny_pipe, call):
    from editor import Editor
    from unwant.sd.errors import UnwantError

    with pytest.raises(UnwantError) as error:
        call(Editor(tiny_pipe, "tiny"), np.full((40, 48, 3), 128, np.uint8))
    assert "\n" not in str(error.value)


# -- late refusals and odd files ------------------------------------------------------------------------------------


def test_clicks_own_refusals_are_one_line_too(edit):
    for args in (["--stepz", "3"], ["x.png", "--preset", "nope"]):
        result = edit(*args)
        assert result.exit_code == 2 and result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr


def test_a_file_name_too_long_for_the_disk_is_one_line_before_any_work(edit, tmp_path, no_model):
    source = photo(tmp_path / ("n" * 245 + ".png"))  # its default output, <stem>.edited.png, is 256 bytes
    result = edit(source, "--remove", "red square")
    assert result.exit_code == 2 and "over the 255 most disks allow" in result.stderr


def test_a_folder_named_like_a_photo_is_called_a_folder(edit, tmp_path, no_model):
    (tmp_path / "x.png").mkdir()
    photo(tmp_path / "x.png" / "a.png")
    result = edit(tmp_path / "x.png", "--remove", "red square")
    assert result.exit_code == 2 and "x.png: is a folder" in result.stderr


def test_a_link_in_a_loop_fails_alone_and_the_others_are_done(edit, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    photo(src / "a.png")
    os.symlink(src / "loop.png", src / "loop.png")
    result = edit(src, "-o", out, "--remove", "red square", *FAST)
    assert result.exit_code == 1, result.output
    status = {entry["key"]: entry for entry in lines(out / "report.jsonl")}
    assert status["a.png"]["status"] == "ok" and status["loop.png"]["status"] == "error"
    assert "loop" in status["loop.png"]["message"]


# -- leftovers of killed runs ---------------------------------------------------------------------------------------


def dead_pid() -> int:
    """The id of a process that has ended."""
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_killed_writes_temporary_goes_at_once_and_a_live_ones_stays(tmp_path):
    from editor.photos.writing import remove_stale_temporaries

    dead, live = tmp_path / f".a.png.{dead_pid()}_abc123.tmp", tmp_path / f".b.png.{os.getpid()}_abc123.tmp"
    other = tmp_path / ".notes.tmp"
    for path in (dead, live, other):
        path.write_bytes(b"x")
    assert remove_stale_temporaries(tmp_path) == 1
    assert not dead.exists() and live.exists() and other.exists()


def test_a_nothing_to_do_rerun_and_a_single_edit_clean_what_killed_runs_left(edit, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    photo(src / "a.png")
    assert edit(src, "-o", out, "--remove", "red square", *FAST).exit_code == 0
    left = out / f".a.png.{dead_pid()}_x1y2z3.tmp"
    left.write_bytes(b"half")
    again = edit(src, "-o", out, "--remove", "red square", *FAST)
    assert "nothing to do" in again.stderr and not left.exists()

    single = tmp_path / f".one.png.{dead_pid()}_x1y2z3.tmp"
    single.write_bytes(b"half")
    assert edit(src / "a.png", "--remove", "red square", "-o", tmp_path / "one.png", "--steps", "2", "--quiet").exit_code == 0
    assert not single.exists() and (tmp_path / "one.png").exists()


def test_a_killed_servers_uploads_are_removed_by_the_next_start(tmp_path, monkeypatch):
    import tempfile

    from unwant.web import server

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    killed, running = tmp_path / f"unwant-serve-{dead_pid()}-abc", tmp_path / f"unwant-serve-{os.getpid()}-abc"
    for folder in (killed, running):
        (folder / "uploads").mkdir(parents=True)
    server._remove_killed_servers_folders()
    assert not killed.exists() and running.exists()


def test_the_page_says_how_to_raise_its_own_megapixel_limit(tiny_pipe, tmp_path):
    from editor import Editor
    from unwant.sd.errors import UnwantError
    from unwant.web.handlers import remove_in_page

    upload = photo(tmp_path / "big.png")  # 48 x 40 = 0.00192 megapixels
    with pytest.raises(UnwantError, match=r"big.png: .* start it with unwant serve --max-megapixels 1$"):
        remove_in_page(Editor(tiny_pipe, "tiny"), str(upload), "red square", None, "fast", root=tmp_path / "r", max_megapixels=0.001)


def test_a_report_that_cannot_be_written_is_one_line_and_leaves_no_temporary(tmp_path, monkeypatch):
    import errno

    from editor.dataset.report import append_jsonl, write_json
    from unwant.sd.errors import UnwantError

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(UnwantError, match=r"r.json: could not write the report \(no space left on device\)"):
        write_json({"a": 1}, tmp_path / "r.json")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    append_jsonl({"residual": float("nan"), "scores": [float("inf"), 0.5]}, tmp_path / "report.jsonl")
    assert json.loads((tmp_path / "report.jsonl").read_text()) == {"residual": None, "scores": [None, 0.5]}


def test_a_bad_number_is_refused_before_torch_is_imported(tmp_path):
    import subprocess
    import sys

    probe = ("import sys, cli\n"
             "try:\n    cli.main(['x.png', '--remove', 'a', '--steps', '0'])\n"
             "except SystemExit as e:\n    print(e.code, 'torch' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(Path(cli.__file__).parents[1])})
    assert result.stdout.split() == ["2", "False"] and "--steps must be a whole number from 1 to 1000, not 0" in result.stderr


def test_an_output_that_is_a_hard_link_of_the_input_is_refused_before_any_work(edit, tmp_path, no_model):
    source = photo(tmp_path / "p.png")
    os.link(source, tmp_path / "same.png")
    before = source.read_bytes()
    result = edit(source, "--remove", "red square", "-o", tmp_path / "same.png", "--overwrite")
    assert result.exit_code == 2 and "would overwrite the input" in result.stderr and source.read_bytes() == before
