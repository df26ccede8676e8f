"""The dataset batch on a local Ray cluster (CPU, 2 actors): the same files, bytes and report as one process, through
an actor that dies mid-run."""

from __future__ import annotations

import functools
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import SCENES

ray = pytest.importorskip("ray", reason="the Ray tests need the [ray] extra (.ci/run installs it)")

TARGET = "blue circle"
ARGS = ("--remove", TARGET, "--model", "toyworld", "--preset", "fast", "--steps", "10", "--quiet")
ON_RAY = ("--batch-size", "2")  # two photos per UNet forward on each actor: the same bytes as one at a time
# what may differ between two runs of the same batch: the clock
TIMINGS = {"seconds", "seconds_total", "check_seconds"}


def files_under(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix == ".png"}


def report_without_timings(folder: Path, inputs: Path) -> list[dict]:
    """The report's lines with the clock taken out, paths relative to their folders, sorted: equal up to timings and order."""
    lines = []
    for entry in map(json.loads, (folder / "report.jsonl").read_text().splitlines()):
        entry = {k: v for k, v in entry.items() if k not in TIMINGS}
        entry["input"] = Path(entry["input"]).relative_to(inputs).as_posix()
        entry["output"] = entry["output"] and Path(entry["output"]).relative_to(folder).as_posix()
        lines.append(entry)
    return sorted(lines, key=lambda e: e["input"])


def dying_once(make_processor, marker: str, victim: str):
    """The real per-photo step, except that the first actor to reach `victim` dies (os._exit: no cleanup runs)."""
    editor, process = make_processor()

    def process_or_die(sources: list[Path]):
        if victim in [source.name for source in sources] and not os.path.exists(marker):
            Path(marker).touch()
            os._exit(1)
        return process(sources)

    return editor, process_or_die


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """8 scenes: the six shipped ones and two of them again in a subfolder (to see the tree mirrored)."""
    folder = tmp_path_factory.mktemp("dataset")
    for name in sorted(p.name for p in SCENES.glob("*.png")):
        shutil.copy(SCENES / name, folder / name)
    (folder / "sub").mkdir()
    for name in ("scene-03.png", "scene-06.png"):
        shutil.copy(SCENES / name, folder / "sub" / name)
    return folder


def test_a_ray_batch_equals_the_local_batch_through_an_actor_death(dataset, tmp_path):
    import cli
    from editor.dataset.folder import load_and_bind
    from editor.dataset.ray_batch import run_ray_batch
    from editor.loading import ModelSpec

    local, on_ray = tmp_path / "local", tmp_path / "ray"
    result = CliRunner().invoke(cli.main, [str(dataset), "-o", str(local), *ARGS])
    assert result.exit_code == 0, result.output

    # the same options the CLI would pass, parsed by the CLI itself
    options = cli.main.make_context("edit", [str(dataset), "-o", str(on_ray), *ARGS, *ON_RAY]).params
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    marker = tmp_path / "died"
    settings, spec = cli._settings(options, folder=True), ModelSpec(options["model"])
    processor = functools.partial(dying_once, functools.partial(load_and_bind, spec, settings), str(marker), "scene-04.png")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        summary = run_ray_batch([dataset], on_ray, processor, actors=2, batch_size=2, quiet=True, settings=settings.recorded(spec))
    finally:
        ray.shutdown()
    assert marker.exists()  # an actor did die, and its photo was done again by the restarted one
    assert dict(summary.counts) == {"ok": 4, "absent": 4} and summary.ok

    assert files_under(on_ray) == files_under(local) and len(files_under(local)) == 8
    assert report_without_timings(on_ray, dataset) == report_without_timings(local, dataset)  # one line per photo

    # a rerun does nothing, without starting Ray: every photo is done
    again = run_ray_batch([dataset], on_ray, processor, actors=2, quiet=True)
    assert dict(again.counts) == {"skipped": 8} and not ray.is_initialized()


def test_ray_missing_is_one_line_naming_the_extra(dataset, tmp_path, monkeypatch):
    import cli

    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    result = CliRunner().invoke(cli.main, [str(dataset), "-o", str(tmp_path / "out"), *ARGS, "--ray"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == ['error: --ray needs Ray Data, which is not installed (import of ray halted; None in sys.modules): pip install "unwant[ray]"']
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, message", [
    (("--ray-actors", "2"), "error: --ray-actors is for a batch on Ray: add --ray"),
    (("--ray",), "error: --ray spreads a batch over a cluster: give a folder or several photos"),
])
def test_ray_options_out_of_place_are_refused(tmp_path, args, message):
    import cli

    result = CliRunner().invoke(cli.main, [str(SCENES / "scene-01.png"), *ARGS, *args])
    assert result.exit_code == 2 and result.stderr.splitlines() == [message]
