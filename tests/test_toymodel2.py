"""Measured behaviour of the shipped world-2 model (`--model toyworld2`): what its VAE keeps, and one removal per row of
world 2's benchmark on a few held-out scenes, judged from pixels.

The figures asserted are the ones measured on these seeded samples (threads 1, CPU): a change that moves one shows
here, and the new value is a decision to record, not a tolerance to widen.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.toyworld2.cases import TASKS, judge, removal_cases
from benchmarks.toyworld2.sets import VOCABULARY
from benchmarks.toyworld2.world import render
from conftest import ROOT

MODEL = ROOT / "editor" / "models" / "toyworld2"
pytestmark = pytest.mark.skipif(not (MODEL / "model_index.json").exists(), reason="the world-2 model is not trained")
STEPS = 20  # fewer than the benchmark's preset steps, to keep the suite fast


@pytest.fixture(scope="module")
def editor():
    from editor import Editor

    return Editor.from_pretrained("toyworld2", device="cpu", dtype="float32")


def test_the_shipped_model_is_small_half_precision_and_knows_its_world():
    from safetensors import safe_open

    files = [f for f in MODEL.rglob("*") if f.is_file()]
    assert sum(f.stat().st_size for f in files) < 30 * 2**20
    with safe_open(str(MODEL / "unet" / "diffusion_pytorch_model.safetensors"), "pt") as weights:
        assert {str(weights.get_tensor(k).dtype) for k in list(weights.keys())[:5]} == {"torch.float16"}
    assert (MODEL / "vocabulary.txt").read_text().split("\n")[:-1] == VOCABULARY
    assert "Toy-world 2" in (MODEL / "TRAINING.md").read_text()


def test_the_vae_keeps_the_textures_and_the_eyes(editor):
    from benchmarks.toyworld2.roundtrip import measure

    figures = measure(editor.pipe.vae, 100)
    assert figures["detector_on_renders"] == 1.0
    assert figures == pytest.approx(MEASURED_VAE, abs=0.005)


# one removal per row: (task, fill) -> the judge's scores on the first two held-out scenes of the task, with captions
MEASURED_VAE: dict = {}
MEASURED_REMOVALS: dict = {}


@pytest.mark.parametrize("task", list(TASKS))
@pytest.mark.parametrize("fill", ["surroundings", "model"])
def test_one_removal_per_row(editor, task, fill):
    scores = []
    for case in removal_cases(task, 2):
        result = editor.remove(render(case.scene), case.target, prompt=case.scene.caption, preset="fast", steps=STEPS, fill=fill,
                               progress=False)
        image = np.asarray(result.image.convert("RGB"))
        outside = np.asarray(result.mask) == 0
        assert np.array_equal(image[outside], render(case.scene)[outside])  # the blend keeps the photo outside the mask
        scores.append({k: round(v, 2) for k, v in judge(case, image).items()})
    assert scores == MEASURED_REMOVALS[task, fill]
