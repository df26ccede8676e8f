"""The `edit` command end to end on the tiny model: generation, one photo, bad inputs, batches, Ctrl-C and resume."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import click
from click.testing import CliRunner
from PIL import Image

import cli

ROOT = Path(__file__).resolve().parents[1]
EDIT = Path(sys.executable).with_name("edit")
PROMPT = "a red circle and a blue square"
TARGET = "blue square"
UNCHECKED = ("--edit-all", "--no-verify")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """The tiny pipeline saved once as a diffusers folder, for --model."""
    from tiny_models import tiny_pipeline

    folder = tmp_path_factory.mktemp("tiny_model")
    tiny_pipeline().save_pretrained(folder, safe_serialization=True)
    return folder


@pytest.fixture
def edit(tiny_model):
    """Run `edit ARGS --model TINY --device cpu` in-process; returns click's Result."""

    def run(*args, model: bool = True):
        extra = ["--model", str(tiny_model), "--device", "cpu"] if model else []
        if model and "--remove" in args and "--edit-all" not in args:
            extra.append("--edit-all")  # random weights: the presence check means nothing (tests/test_localisation.py tests it)
        return CliRunner().invoke(cli.main, [str(a) for a in args] + extra)

    return run


def make_photo(path: Path, size=(48, 40), mode="RGB", **save) -> Path:
    """A red circle and a blue square on grey, saved in the format the suffix names."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.full((h, w, 3), 128, np.uint8)
    rgb[(x - w // 4) ** 2 + (y - h // 3) ** 2 < (min(w, h) // 5) ** 2] = (220, 30, 30)
    rgb[(x > w // 2) & (x < w - 4) & (y > h // 2) & (y < h - 4)] = (30, 30, 220)
    image = Image.fromarray(rgb, "RGB")
    if mode == "RGBA":
        image.putalpha(Image.fromarray(((x * 255) // max(w - 1, 1)).astype(np.uint8), "L"))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **save)
    return path


def files_in(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def report_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def removal(*args):
    return (*args, "--remove", TARGET, "--prompt", PROMPT, "--steps", 3)


# --- help, version, option lists ------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_answer(flag):
    done = subprocess.run([str(EDIT), flag], capture_output=True, text=True, timeout=120, env=ENV)
    assert done.returncode == 0, done.stderr
    assert ("--remove" in done.stdout) if flag == "--help" else done.stdout.startswith("unwant, version ")


def test_help_and_version_do_not_import_torch():
    code = (
        "import sys; from click.testing import CliRunner; import cli\n"
        "for flag in ('--help', '--version'):\n"
        "    assert CliRunner().invoke(cli.main, [flag]).exit_code == 0\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "assert 'diffusers' not in sys.modules, 'diffusers was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=ENV, cwd=ROOT)
    assert done.returncode == 0, done.stderr


def test_hard_coded_lists_match_the_library():
    from editor.removal.fill import FILLS
    from editor.loading import DEFAULT_MODEL
    from editor.memory import MEMORY_OPTIONS
    from editor.presets import PRESETS
    from inversion import METHODS

    assert cli.MEMORY_OPTIONS == list(MEMORY_OPTIONS)
    assert cli.FILLS == list(FILLS)
    assert set(cli.INVERSIONS) == set(METHODS)
    assert set(cli.PRESETS) == set(PRESETS)
    assert cli.DEFAULT_MODEL == DEFAULT_MODEL


def test_offload_on_a_cpu_is_one_error_line(edit, tmp_path):
    result = edit(*removal(make_photo(tmp_path / "p.png"), "--low-memory", "offload"))
    assert result.exit_code == 2 and error_lines(result) == ["error: offload moves models between the GPU and the CPU: it needs --device cuda"]


# --- generation -----------------------------------------------------------------------------------------------


def test_generation_native_size_and_same_seed_same_pixels(edit, tmp_path):
    for name in ("a.png", "b.png"):
        result = edit("--prompt", "a red circle", "-o", tmp_path / name, "--steps", 3, "--seed", 1, "--quiet")
        assert result.exit_code == 0, result.output
    a, b = Image.open(tmp_path / "a.png"), Image.open(tmp_path / "b.png")
    assert a.format == "PNG" and a.size == (32, 32)
    assert np.array_equal(np.asarray(a), np.asarray(b))


def test_generation_with_remove_and_attention_and_report(edit, tmp_path):
    result = edit("--prompt", PROMPT, "--remove", TARGET, "-o", tmp_path / "out.png", "--steps", 3, "--seed", 2,
                  "--save-attention", tmp_path / "att.png", "--report", tmp_path / "r.json", "--quiet")
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "out.png").size == (32, 32)
    attention = Image.open(tmp_path / "att.png")
    assert attention.width > attention.height > 0  # original | suppressed
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["input"] is None and report["targets"] == [TARGET] and report["seed"] == 2 and report["status"] == "ok"


def test_generation_reads_the_target_from_without(edit, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="unwant")
    result = edit("--prompt", "a red circle without a blue square", "-o", tmp_path / "out.png", "--steps", 3, "--seed", 1)
    assert result.exit_code == 0, result.output
    assert "removing 'blue square'" in caplog.text
    assert (tmp_path / "out.png").is_file()


def test_generation_save_attention_with_nothing_to_remove_fails(edit, tmp_path):
    result = edit("--prompt", "a red circle", "-o", tmp_path / "out.png", "--steps", 2, "--seed", 1,
                  "--save-attention", tmp_path / "att.png", "--quiet")
    assert result.exit_code != 0
    assert len(error_lines(result)) == 1 and "--save-attention" in error_lines(result)[0]
    assert files_in(tmp_path) == []


# --- one photo --------------------------------------------------------------------------------------------------


def test_one_photo_default_output_beside_the_input(edit, tmp_path):
    photo = make_photo(tmp_path / "photo.jpg", (48, 40))
    result = edit(*removal(photo), "--quiet")
    assert result.exit_code == 0, result.output
    out = Image.open(tmp_path / "photo.edited.png")
    assert out.format == "PNG" and out.size == (48, 40) and out.mode == "RGB"


def test_rgba_photo_keeps_its_alpha(edit, tmp_path):
    photo = make_photo(tmp_path / "photo.png", (40, 24), mode="RGBA")
    result = edit(*removal(photo), "--quiet")
    assert result.exit_code == 0, result.output
    out = Image.open(tmp_path / "photo.edited.png")
    assert out.mode == "RGBA" and out.size == (40, 24)
    assert np.array_equal(np.asarray(out.getchannel("A")), np.asarray(Image.open(photo).getchannel("A")))


def test_exif_rotated_photo_gives_the_upright_size(edit, tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    photo = make_photo(tmp_path / "photo.jpg", (48, 32), exif=exif)
    result = edit(*removal(photo), "--quiet")
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "photo.edited.png").size == (32, 48)


def test_mask_concat_and_report(edit, tmp_path):
    photo = make_photo(tmp_path / "photo.jpg", (48, 40))
    out, mask, report_path = tmp_path / "strip.png", tmp_path / "mask.png", tmp_path / "r.json"
    result = edit(*removal(photo), "-o", out, "--save-mask", mask, "--concat", "--report", report_path, "--quiet")
    assert result.exit_code == 0, result.output
    assert Image.open(mask).size == (48, 40)
    assert Image.open(out).size == (3 * 48 + 2 * 4, 40)  # input | mask | result, 4 px gaps
    report = json.loads(report_path.read_text())
    assert report["input"] == str(photo) and report["output"] == str(out) and report["status"] == "ok"
    assert report["sha256"] == hashlib.sha256(photo.read_bytes()).hexdigest()
    assert report["targets"] == [TARGET] and report["prompt"] == PROMPT
    assert report["model"] and report["device"] == "cpu" and report["dtype"] == "float32"
    assert report["seed"] is None and report["inversion"] == "direct" and report["steps"] == 3
    assert report["mask_fraction"] == pytest.approx(np.asarray(Image.open(mask), float).mean() / 255, abs=1e-6)  # the mask written
    assert set(report["seconds"]) >= {"encode", "invert", "decode"}
    assert all(isinstance(v, float) and v >= 0 for v in report["seconds"].values())


def test_reconstruct_prints_psnr(edit, tmp_path):
    photo = make_photo(tmp_path / "photo.png")
    result = edit(photo, "--reconstruct", "--inversion", "direct", "--steps", 3, "--quiet")
    assert result.exit_code == 0, result.output
    assert "reconstruction PSNR" in result.stdout and "(direct)" in result.stdout
    assert Image.open(tmp_path / "photo.edited.png").size == (48, 40)


def on_the_toy_model(edit, *args):
    """`edit ARGS` with the toy-world model at 10 steps: the tiny model's random attention is the same everywhere, so
    its mask covers the whole photo at any threshold."""
    # --edit-all: the drawn photo is no toy-world scene, and the toy model's check calls its blue square absent (0.38)
    return edit(*args, "--steps", 10, "--model", "toyworld", "--device", "cpu", "--edit-all", model=False)


def test_no_blend_returns_the_suppressed_branch_as_it_is(edit, tmp_path):
    photo = make_photo(tmp_path / "photo.png")
    original = np.asarray(Image.open(photo).convert("RGB"))
    for name, options in (("blend", []), ("raw", ["--no-blend"])):
        result = on_the_toy_model(edit, *removal(photo), *options, "--mask-threshold", "0.9", "-o", tmp_path / f"{name}.png",
                                  "--save-mask", tmp_path / f"{name}-mask.png", "--quiet")
        assert result.exit_code == 0, result.output
    mask = Image.open(tmp_path / "blend-mask.png")
    assert mask.mode == "L"  # the greyscale mask the API returns
    outside = np.asarray(mask) == 0
    assert outside.any()
    assert np.array_equal(np.asarray(Image.open(tmp_path / "blend.png"))[outside], original[outside])  # the input's own
    assert not np.array_equal(np.asarray(Image.open(tmp_path / "raw.png"))[outside], original[outside])  # repainted


def test_a_higher_mask_threshold_gives_a_smaller_mask(edit, tmp_path):
    photo = make_photo(tmp_path / "photo.png")
    area = {}
    for threshold in ("0.1", "0.9"):
        mask = tmp_path / f"mask-{threshold}.png"
        result = on_the_toy_model(edit, *removal(photo), "--mask-threshold", threshold, "-o", tmp_path / f"out-{threshold}.png",
                                  "--save-mask", mask, "--quiet")
        assert result.exit_code == 0, result.output
        area[threshold] = (np.asarray(Image.open(mask)) > 0).mean()
    assert area["0.9"] < area["0.1"]


def test_existing_output_needs_overwrite(edit, tmp_path):
    photo = make_photo(tmp_path / "photo.png")
    out = tmp_path / "out.png"
    out.write_bytes(b"keep me")
    result = edit(*removal(photo), "-o", out, "--quiet")
    assert result.exit_code != 0
    assert len(error_lines(result)) == 1 and "--overwrite" in error_lines(result)[0] and str(out) in result.stderr
    assert out.read_bytes() == b"keep me"
    result = edit(*removal(photo), "-o", out, "--overwrite", "--quiet")
    assert result.exit_code == 0, result.output
    assert Image.open(out).size == (48, 40)


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_output_onto_the_input_is_refused(edit, tmp_path, overwrite):
    photo = make_photo(tmp_path / "photo.png")
    before = photo.read_bytes()
    result = edit(*removal(photo), "-o", photo, *overwrite, "--quiet")
    assert result.exit_code != 0
    assert len(error_lines(result)) == 1 and "would overwrite the input" in error_lines(result)[0]
    assert photo.read_bytes() == before
    assert files_in(tmp_path) == ["photo.png"]


# --- bad inputs -------------------------------------------------------------------------------------------------


def _truncated_jpeg(path: Path) -> Path:
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path, quality=95)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def make_bad_input(case: str, folder: Path) -> Path:
    """The bad input named `case`, made in `folder`."""
    if case == "missing":
        return folder / "nothere.png"
    if case == "empty folder":
        (folder / "folder").mkdir()
        return folder / "folder"
    if case == "zero bytes":
        (folder / "empty.png").write_bytes(b"")
        return folder / "empty.png"
    if case == "corrupt":
        (folder / "bad.png").write_bytes(np.random.default_rng(1).bytes(500))
        return folder / "bad.png"
    if case == "truncated":
        return _truncated_jpeg(folder / "cut.jpg")
    if case == "gif":
        Image.new("RGB", (40, 40), "red").save(folder / "anim.gif")
        return folder / "anim.gif"
    if case == "text":
        (folder / "notes.txt").write_text("not a photo")
        return folder / "notes.txt"
    if case == "too small":
        return make_photo(folder / "small.png", (15, 40))
    if case == "too large":
        return make_photo(folder / "big.png", (64, 64))
    raise ValueError(case)


BAD_INPUTS = {  # case: (extra options, words the error line must hold besides the file name)
    "missing": ([], ["no such file"]),
    "empty folder": (["-o", "OUT"], ["no images found"]),
    "zero bytes": ([], ["empty"]),
    "corrupt": ([], ["not an image"]),
    "truncated": ([], ["truncated"]),
    "gif": ([], ["GIF", "not supported"]),
    "text": ([], ["not an image"]),
    "too small": ([], ["16 px"]),
    "too large": (["--max-megapixels", "0.001"], ["megapixels", "0.001"]),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_one_error_line_and_no_output(edit, tmp_path, case):
    extra, words = BAD_INPUTS[case]
    source = make_bad_input(case, tmp_path)
    before = files_in(tmp_path)
    extra = [tmp_path / "OUT" if option == "OUT" else option for option in extra]
    result = edit(*removal(source), *extra)
    assert result.exit_code != 0
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    assert source.name in lines[0]
    for word in words:
        assert word in lines[0]
    assert files_in(tmp_path) == before
    assert not (tmp_path / "OUT").exists()


def test_remove_is_required_for_a_photo(edit, tmp_path):
    photo = make_photo(tmp_path / "photo.png")
    result = edit(photo, "--steps", 2)
    assert result.exit_code != 0
    assert len(error_lines(result)) == 1 and "--remove" in error_lines(result)[0]
    assert files_in(tmp_path) == ["photo.png"]


def test_target_not_in_the_prompt_lists_its_words(edit, tmp_path):
    photo = make_photo(tmp_path / "photo.png")
    result = edit(photo, "--remove", "dog", "--prompt", PROMPT, "--steps", 2, "--quiet")
    assert result.exit_code != 0
    lines = error_lines(result)
    assert len(lines) == 1 and "'dog'" in lines[0]
    assert all(word in lines[0] for word in ("red", "circle", "blue", "square"))
    assert files_in(tmp_path) == ["photo.png"]


def test_unknown_inversion_lists_the_choices(edit, tmp_path):
    photo = make_photo(tmp_path / "photo.png")
    result = edit(*removal(photo), "--inversion", "magic")
    assert result.exit_code != 0
    assert "magic" in result.stderr
    assert all(name in result.stderr for name in cli.INVERSIONS)
    assert files_in(tmp_path) == ["photo.png"]


# --- batches ----------------------------------------------------------------------------------------------------


def _tree(folder: Path, count: int) -> list[Path]:
    """`count` photos spread over nested subfolders, in several formats and sizes."""
    places = ["", "a/", "a/b/", "c/"]
    suffixes = [".jpg", ".png", ".webp"]
    return [
        make_photo(folder / f"{places[i % len(places)]}p{i}{suffixes[i % len(suffixes)]}", (32 + 4 * (i % 3), 24 + 8 * (i % 2)))
        for i in range(count)
    ]


def batch(*args):
    """A batch's mechanics on the tiny model, whose presence scores mean nothing: every photo edited, none looked at again
    (the checks are tested on the toy model, tests/test_sanitize.py)."""
    return (*args, "--remove", TARGET, "--prompt", PROMPT, "--steps", 2, "--quiet", *UNCHECKED)


def test_batch_mirrors_reports_and_resumes(edit, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    photos = _tree(src, 10)
    corrupt = src / "a" / "broken.png"
    corrupt.write_bytes(np.random.default_rng(2).bytes(300))
    expected = {p: out / p.relative_to(src).with_suffix(".png") for p in photos}

    result = edit(*batch(src, "-o", out))
    assert result.exit_code == 1, result.output
    # --quiet: no progress bars, only the per-file error and the summary, both on stderr
    error, summary = result.stderr.splitlines()
    assert error.startswith(f"error: {corrupt}: not an image") and summary.startswith("ok 10, check 0, absent 0, not found 0, skipped 0, failed 1; seconds per photo p50 ")
    for photo, output in expected.items():
        assert Image.open(output).size == Image.open(photo).size
    assert sorted(files_in(out)) == sorted([o.relative_to(out).as_posix() for o in expected.values()] + ["report.jsonl", "summary.json"])
    lines = report_lines(out / "report.jsonl")
    assert len(lines) == 11
    by_input = {line["input"]: line for line in lines}
    assert {by_input[str(p)]["status"] for p in photos} == {"ok"}
    assert by_input[str(corrupt)]["status"] == "error" and "not an image" in by_input[str(corrupt)]["message"]
    assert all(by_input[str(p)]["output"] == str(o) for p, o in expected.items())

    # rerun: the outputs are skipped; the corrupt file still fails, so the exit code still says so
    result = edit(*batch(src, "-o", out))
    assert result.exit_code == 1, result.output
    assert "ok 0, check 0, absent 0, not found 0, skipped 10, failed 1" in result.stderr
    rerun = report_lines(out / "report.jsonl")[11:]
    assert sorted(line["status"] for line in rerun) == ["error"] + ["skipped"] * 10

    # exit 0 only when every file is ok or skipped
    corrupt.unlink()
    result = edit(*batch(src, "-o", out))
    assert result.exit_code == 0, result.output
    assert f"nothing to do: all 10 photos are already done in {out}" in result.stderr

    stamps = {o: o.stat().st_mtime_ns for o in expected.values()}
    result = edit(*batch(src, "-o", out, "--overwrite"))
    assert result.exit_code == 0, result.output
    assert "ok 10, check 0, absent 0, not found 0, skipped 0, failed 0" in result.stderr
    assert {line["status"] for line in report_lines(out / "report.jsonl")[-10:]} == {"ok"}
    assert all(Image.open(o).size == Image.open(p).size for p, o in expected.items())
    assert all(o.stat().st_mtime_ns >= stamps[o] for o in expected.values())


def test_output_folder_inside_the_input_is_not_read(edit, tmp_path):
    src = tmp_path / "in"
    _tree(src, 3)
    out = src / "edited"
    for expected in ("ok 3, check 0, absent 0, not found 0, skipped 0, failed 0", "nothing to do: all 3 photos are already done in"):
        result = edit(*batch(src, "-o", out))
        assert result.exit_code == 0, result.output
        assert expected in result.stderr
    assert not (out / "edited").exists()
    assert len(report_lines(out / "report.jsonl")) == 3


def test_several_files_are_a_batch(edit, tmp_path):
    a, b = make_photo(tmp_path / "a.jpg"), make_photo(tmp_path / "x" / "b.png", (40, 32))
    result = edit(*batch(a, b, "-o", tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "out" / "a.png").size == (48, 40)
    assert Image.open(tmp_path / "out" / "b.png").size == (40, 32)
    assert len(report_lines(tmp_path / "out" / "report.jsonl")) == 2


def test_batch_needs_an_output_folder(edit, tmp_path):
    a, b = make_photo(tmp_path / "a.jpg"), make_photo(tmp_path / "b.jpg")
    result = edit(*batch(a, b))
    assert result.exit_code != 0 and len(error_lines(result)) == 1 and "-o" in error_lines(result)[0]
    result = edit(*batch(a, b, "-o", tmp_path / "out.png"))
    assert result.exit_code != 0 and len(error_lines(result)) == 1 and "folder" in error_lines(result)[0]
    assert files_in(tmp_path) == ["a.jpg", "b.jpg"]


# --- Ctrl-C -------------------------------------------------------------------------------------------------------


def test_ctrl_c_finishes_the_current_file_and_a_rerun_resumes(edit, tiny_model, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    photos = [make_photo(src / f"p{i}.png", (48, 40)) for i in range(8)]
    args = [str(src), "-o", str(out), "--remove", TARGET, "--prompt", PROMPT, "--steps", "10", "--quiet", *UNCHECKED]
    process = subprocess.Popen(
        [str(EDIT), *args, "--model", str(tiny_model), "--device", "cpu"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=tmp_path,
    )
    try:
        report = out / "report.jsonl"
        deadline = time.monotonic() + 300
        while not (report.exists() and report.read_text().count("\n") >= 1):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the batch wrote no report line"
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode != 0, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr

    lines = report_lines(out / "report.jsonl")  # every line is whole JSON
    assert 1 <= len(lines) < len(photos) and {line["status"] for line in lines} == {"ok"}
    names = files_in(out)
    assert {"report.jsonl", "summary.json"} <= set(names)
    assert all(n in ("report.jsonl", "summary.json") or (n.endswith(".png") and not n.startswith(".")) for n in names)
    assert len(names) - 2 == len(lines)
    for name in names:
        if name.endswith(".png"):
            with Image.open(out / name) as image:
                image.load()

    result = edit(*args)  # the same command again
    assert result.exit_code == 0, result.output
    assert f"ok {len(photos) - len(lines)}, check 0, absent 0, not found 0, skipped {len(lines)}, failed 0" in result.stderr
    assert files_in(out) == sorted([f"p{i}.png" for i in range(8)] + ["report.jsonl", "summary.json"])


# --- arguments refused before any work -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--steps", "-3"], "error: --steps must be a whole number from 1 to 1000, not -3"),
        (["--steps", "0"], "error: --steps must be a whole number from 1 to 1000, not 0"),
        (["--guidance", "nan"], "error: guidance must be a number from 0 to 50 (7.5 is usual), not nan"),
        (["--guidance", "inf"], "error: guidance must be a number from 0 to 50 (7.5 is usual), not inf"),
        (["--seed", "99999999999999999999"], "error: seed must be a whole number from 0 to 18446744073709551615, not 99999999999999999999"),
        (["--device", "gpu0"], "error: unknown device 'gpu0': use cpu, cuda, cuda:N or mps (here: cpu)"),
        (["--device", "cuda"], "error: device 'cuda' is not visible to PyTorch"),
        (["-o", "{tmp}/afile/out.png"], "error: {tmp}/afile/out.png: cannot write there, {tmp}/afile is a file, not a folder"),
        (["-o", "/proc/out.png"], "error: /proc/out.png: cannot create files in /proc"),
        (["--save-mask", "{tmp}/afile/mask.png"], "error: {tmp}/afile/mask.png: cannot write there"),
    ],
)
def test_bad_arguments_are_one_line_before_the_model_loads(tmp_path, args, message):
    import torch

    if "cuda" in args and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    (tmp_path / "afile").write_text("a file where a folder should be")
    photo = make_photo(tmp_path / "p.png")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    # a model that does not exist: the argument must be refused before anyone looks for it
    result = CliRunner().invoke(cli.main, [str(photo), "--remove", TARGET, *args, "--model", str(tmp_path / "no-model")])
    assert result.exit_code == 2, result.output
    (line,) = error_lines(result)
    assert line.startswith(message.replace("{tmp}", str(tmp_path)))
    assert files_in(tmp_path) == ["afile", "p.png"]


def test_zero_steps_are_refused_by_the_api_too(tiny_model):
    from editor import Editor
    from unwant.sd.errors import UnwantError

    editor = Editor.from_pretrained(str(tiny_model), device="cpu")
    with pytest.raises(UnwantError, match="from 1 to 1000, not 0"):
        editor.remove(np.zeros((32, 32, 3), np.uint8), TARGET, prompt=PROMPT, steps=0)
    with pytest.raises(UnwantError, match="from 0 to 50"):
        editor.generate(PROMPT, guidance=float("nan"))


def test_an_unexpected_failure_is_one_line_unless_debug(edit, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("editor.files.edit_file", broken)
    photo = make_photo(tmp_path / "p.png")
    result = edit(*removal(photo))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert error_lines(result) == ["error: unexpected ZeroDivisionError: division by zero (rerun with --debug for the traceback, and please report it)"]
    debug = edit(*removal(photo), "--debug")
    assert isinstance(debug.exception, ZeroDivisionError)


# --- batch safety --------------------------------------------------------------------------------------------


def test_a_rerun_removes_what_killed_writes_left(edit, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    make_photo(src / "p0.png")
    (out / "sub").mkdir(parents=True)
    stale = [out / ".p0.png.k2j3h4.tmp", out / "sub" / ".x.jpg.abc_12.tmp"]
    for path in stale:
        path.write_bytes(b"half a file")
        os.utime(path, (time.time() - 120, time.time() - 120))  # a killed run's, two minutes ago
    live = out / ".p1.png.x9y8z7.tmp"  # another process writing there right now
    live.write_bytes(b"being written")
    (out / ".notes.tmp").write_text("not ours")
    result = edit(*batch(src, "-o", out))
    assert result.exit_code == 0, result.output
    assert not any(path.exists() for path in stale) and (out / ".notes.tmp").exists() and live.exists()
    assert files_in(out) == [".notes.tmp", ".p1.png.x9y8z7.tmp", "p0.png", "report.jsonl", "summary.json"]


def test_a_second_batch_on_the_same_folder_is_refused_before_loading(tmp_path):
    from editor.dataset.batch import output_folder_lock

    src, out = tmp_path / "in", tmp_path / "out"
    make_photo(src / "p0.png")
    with output_folder_lock(out):  # as a running batch holds it
        result = CliRunner().invoke(cli.main, [str(src), "-o", str(out), "--remove", TARGET, "--model", str(tmp_path / "no-model")])
    assert result.exit_code == 2
    assert error_lines(result) == [f"error: {out}: another unwant batch (pid {os.getpid()}) is writing there; wait for it to finish or choose another -o folder"]
    assert files_in(out) == []


def test_a_killed_batch_leaves_whole_files_and_lines_and_a_rerun_finishes(edit, tiny_model, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    photos = [make_photo(src / f"p{i}.png", (48, 40)) for i in range(6)]
    args = [str(src), "-o", str(out), "--remove", TARGET, "--prompt", PROMPT, "--steps", "10", "--quiet", *UNCHECKED]
    process = subprocess.Popen([str(EDIT), *args, "--model", str(tiny_model), "--device", "cpu"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 300
        while not ((out / "report.jsonl").exists() and (out / "report.jsonl").read_text().count("\n") >= 2):
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        process.kill()  # SIGKILL: no handler runs
        process.communicate()
    lines = report_lines(out / "report.jsonl")
    outputs = [n for n in files_in(out) if n.endswith(".png") and not n.startswith(".")]
    assert len(outputs) >= len(lines) >= 2
    for name in outputs:  # every output there is whole
        with Image.open(out / name) as image:
            image.load()
    result = edit(*args)
    assert result.exit_code == 0, result.output
    assert sorted(n for n in files_in(out) if not n.startswith(".")) == sorted([f"p{i}.png" for i in range(len(photos))] + ["report.jsonl", "summary.json"])
    assert {line["status"] for line in report_lines(out / "report.jsonl")} <= {"ok", "skipped"}


def test_metadata_is_kept_unless_stripped(edit, tmp_path):
    exif = Image.Exif()
    exif[0x010F] = "ACME Camera"
    exif[0x8825] = {2: (52.0, 31.0, 12.0)}  # GPS latitude
    photo = tmp_path / "p.jpg"
    Image.open(make_photo(tmp_path / "p.png")).save(photo, exif=exif, dpi=(240, 240))
    for name, flags in (("kept.png", []), ("stripped.png", ["--strip-metadata"])):
        result = edit(*removal(photo), "-o", tmp_path / name, *flags, "--quiet")
        assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "kept.png") as kept, Image.open(tmp_path / "stripped.png") as stripped:
        assert kept.getexif().get(0x010F) == "ACME Camera" and 0x8825 in kept.getexif()
        assert not len(stripped.getexif()) and "dpi" not in stripped.info


def test_a_finished_batch_says_so_without_loading_the_model(edit, tmp_path, monkeypatch):
    src, out = tmp_path / "in", tmp_path / "out"
    make_photo(src / "p0.png"), make_photo(src / "sub" / "p1.jpg")
    assert edit(*batch(src, "-o", out)).exit_code == 0
    # the same command again, and nothing may load the model
    monkeypatch.setattr("editor.loading.ModelSpec.load", lambda self: pytest.fail("the model was loaded"))
    again = edit(*batch(src, "-o", out))
    assert again.exit_code == 0, again.output
    assert f"nothing to do: all 2 photos are already done in {out} (--overwrite redoes them)" in again.stderr


def test_the_preset_that_runs_is_said_in_one_line(edit, tmp_path, caplog):
    photo = make_photo(tmp_path / "p.png")
    with caplog.at_level(logging.INFO, logger="unwant"):
        assert edit(*removal(photo)).exit_code == 0
        assert edit(*removal(photo), "--preset", "reference", "-o", tmp_path / "r.png").exit_code == 0
    assert "quality preset: direct inversion, 3 steps\n" in caplog.text + "\n"
    assert "reference preset: null-text inversion, 3 steps; on a CPU, --preset quality is about 5x faster" in caplog.text


@pytest.mark.parametrize("args, message", [
    (("--alpha", 0.5, "--no-optimize"), "error: --alpha and --no-optimize would change nothing: --fill repaint repaints unconditioned; "
                                        "use --fill model, or leave --alpha and --no-optimize out"),
    (("--guidance", 3), "error: --guidance would change nothing: --fill repaint repaints unconditioned; use --fill suppressed or "
                        "--fill model, or leave --guidance out"),
    (("--seed", 1, "--fill", "surroundings"), "error: --seed would change nothing: --fill surroundings paints from the pixels around "
                                              "the object, with no model; use --fill repaint or --fill suppressed, or leave --seed out"),
    (("--seed", 1, "--fill", "model"), "error: --seed would change nothing: --fill model takes the suppressed branch from the inversion's "
                                       "own noise; use --fill repaint or --fill suppressed, or leave --seed out"),
])
def test_an_option_the_fill_would_not_read_is_refused_before_the_model_loads(edit, tmp_path, monkeypatch, args, message):
    monkeypatch.setattr("editor.loading.ModelSpec.load", lambda self: pytest.fail("the model was loaded"))
    result = edit(*removal(make_photo(tmp_path / "p.png")), *args, "-o", tmp_path / "out.png")
    assert result.exit_code == 2 and result.stderr.splitlines() == [message]


@pytest.mark.parametrize("fill, first, second", [
    ("repaint", ("--seed", 1), ("--seed", 2)),
    ("suppressed", ("--seed", 1), ("--seed", 2)),
    ("suppressed", ("--guidance", 2), ("--guidance", 9)),
    ("suppressed", ("--alpha", 0.1), ("--alpha", 5)),
    ("model", ("--guidance", 2), ("--guidance", 9)),
    ("model", ("--alpha", 0.1), ("--alpha", 5)),
])
def test_an_option_the_fill_reads_changes_its_output(edit, tmp_path, fill, first, second):
    photo = make_photo(tmp_path / "p.png")
    outputs = []
    for i, option in enumerate((first, second)):
        result = edit(*removal(photo), "--fill", fill, *option, "-o", tmp_path / f"{i}.png", "--quiet")
        assert result.exit_code == 0, result.output
        outputs.append(np.asarray(Image.open(tmp_path / f"{i}.png")))
    assert not np.array_equal(*outputs)


def test_help_lists_every_option_once_in_sections():
    text = CliRunner().invoke(cli.main, ["--help"]).output
    titles = ["Input and output:", "Datasets (folders in, folders out):", "Removal and generation:", "Model and device:", "Advanced:", "Other:"]
    assert [line for line in text.splitlines() if line.endswith(":") and not line.startswith(" ")] == titles
    for param in cli.main.params:
        for flag in param.opts if isinstance(param, click.Option) else []:
            if flag.startswith("--"):
                assert text.count(f"{flag} ") + text.count(f"{flag}\n") >= 1, flag
    assert text.count("--strip-metadata") == 1 and text.count("--debug") == 1


def test_serve_without_gradio_names_the_extra(monkeypatch):
    import importlib.util

    import cli

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None if name == "gradio" else real(name, *args))
    result = CliRunner().invoke(cli.serve_command, ["--model", "toyworld"])
    assert result.exit_code == 2 and 'pip install "unwant[web]"' in result.output and "Traceback" not in result.output
