"""The web page's API (`unwant serve`, a subprocess on a free port), driven with gradio_client as a script would: the
result is the Python API's, bad input is one message, edits queue one at a time, a model that fails to load is said,
and the server leaves nothing behind."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from PIL import Image

from conftest import SCENES
from web_server import Server

gradio_client = pytest.importorskip("gradio_client", reason="the page's tests need the [web] extra (.ci/run installs it)")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.utils import Status  # noqa: E402

SCENE = SCENES / "scene-01.png"
CAPTION = json.loads((SCENES / "captions.json").read_text())["scene-01.png"]
TARGET, PRESET, STEPS = "blue square", "fast", 10


def removal(photo=SCENE, target=TARGET, caption=CAPTION, steps=STEPS) -> tuple:
    """The /remove endpoint's arguments: photo, targets, caption, preset, seed, steps, mask threshold, fill, inversion."""
    return handle_file(str(photo)), target, caption, PRESET, None, steps, 0.3, "repaint", "the preset's"


@pytest.fixture(scope="module")
def server(toy_server):
    return toy_server


@pytest.fixture
def client(server, tmp_path):
    return Client(server.url, verbose=False, download_files=str(tmp_path))


def test_the_page_gives_the_bytes_the_api_gives(client, toy_pipe, tmp_path):
    from editor import Editor
    from editor.photos.writing import write_image

    shown, mask, result, attention, download = client.predict(*removal(), api_name="/remove")
    expected = Editor(toy_pipe, "toyworld").remove(SCENE, TARGET, prompt=CAPTION, preset=PRESET, steps=STEPS, progress=False)
    assert np.array_equal(np.asarray(Image.open(download)), np.asarray(expected.image))
    assert open(download, "rb").read() == write_image(expected.image, tmp_path / "api.png").read_bytes()  # the same PNG file
    assert np.array_equal(np.asarray(Image.open(result).convert("RGB")), np.asarray(expected.image.convert("RGB")))  # shown losslessly
    assert np.array_equal(np.asarray(Image.open(mask).convert("L")), np.asarray(expected.mask))
    assert np.array_equal(np.asarray(Image.open(shown).convert("RGB")), np.asarray(Image.open(SCENE).convert("RGB")))
    assert Image.open(attention).size == (256, 256)


@pytest.mark.parametrize("case, message", [
    ("not an image", "README.md: not an image file"),
    ("target not in the caption", "'hat' is not in the prompt"),
    ("no target", "type what to remove"),
])
def test_bad_input_is_one_message(client, case, message):
    from pathlib import Path

    photo = Path(__file__).resolve().parents[1] / "README.md" if case == "not an image" else SCENE
    target = {"target not in the caption": "hat", "no target": " "}.get(case, TARGET)
    with pytest.raises(Exception, match=message) as caught:
        client.predict(*removal(photo, target), api_name="/remove")
    assert "Traceback" not in str(caught.value) and "--prompt" not in str(caught.value)


def test_edits_queue_one_at_a_time_and_all_finish(client):
    # the longer edit first, so that the other is queued behind it whatever the machine's speed: a removal submitted
    # first spends its first moments uploading, and a short generation could start and finish in that time
    first = client.submit("a red circle without a blue square", 7, 50, api_name="/generate")
    second = client.submit(*removal(), api_name="/remove")
    seen = []
    while not (first.done() and second.done()):
        seen.append((first.status().code, second.status().code))
        time.sleep(0.05)
    image, download, seed = first.result()
    assert len(second.result()) == 5 and seed == 7 and Image.open(download).size == (64, 64)
    assert Status.PROGRESS in {code for pair in seen for code in pair}  # the sampler's steps are reported while it runs
    # one waited in the queue while the other ran (the page shows the waiting one its place); which one runs first is
    # the server's to choose: under load the removal, submitted second, has been seen to start first
    running = {Status.PROGRESS, Status.PROCESSING}
    assert any((a in running and b == Status.IN_QUEUE) or (b in running and a == Status.IN_QUEUE) for a, b in seen)


def test_the_server_binds_this_machine_and_says_so(server):
    assert "at http://localhost:" in server.output() and "this machine only" in server.output()
    assert "Traceback" not in server.output()


def test_a_model_that_fails_to_load_is_said_on_the_page_and_nothing_is_left(tmp_path):
    broken = Server(str(tmp_path / "no-such-model"), tmp_path, "--max-upload-mb", "1")
    try:
        client = Client(broken.url, verbose=False, download_files=str(tmp_path / "downloads"))
        with pytest.raises(Exception, match="could not be loaded: .*no such file or folder"):
            client.predict(*removal(), api_name="/remove")  # an upload the server stored
        assert list(tmp_path.glob("unwant-serve-*/uploads/*"))
        large = tmp_path / "large.png"
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (800, 800, 3), dtype=np.uint8)).save(large)  # 1.9 MB
        with pytest.raises(Exception, match="(?i)maximum|too large|exceeds"):
            client.predict(*removal(large), api_name="/remove")
    finally:
        assert broken.stop() == 0
    assert not list(tmp_path.glob("unwant-serve-*"))  # the uploads went with the server
    assert "Traceback" not in broken.output()


def test_a_port_in_use_is_one_line(server):
    import subprocess
    import sys

    from web_server import ROOT

    taken = subprocess.run([sys.executable, "-m", "cli", "serve", "--model", "toyworld", "--port", str(server.port), "--device", "cpu", "--quiet"],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert taken.returncode == 2 and "Traceback" not in taken.stderr
    assert f"cannot listen on 127.0.0.1:{server.port}" in taken.stderr and "--port N" in taken.stderr
