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
    for key, value in MEASURED_VAE.items():  # PSNRs to 0.05 dB: float rounding, not behaviour
        assert figures[key] == (pytest.approx(value, abs=0.05) if isinstance(value, dict) else value), key


# one removal per row: (task, fill) -> the judge's scores on the first two held-out scenes of the task, with captions,
# fast preset at 20 steps, the seam matched (the default, a Poisson blend from the fill); phase 2 of the model (TRAINING.md): the model's own fill now
# removes glasses with the eyes kept, sunglasses stay with its fill. With the mask's maps at 16 x 16 and every blob the
# presence check confirms (README, "Which object"), the surroundings fill takes the first scene's sunglasses and keeps
# the first glasses scene's face. force=True: world 2's check misses some accessories (README, Limits)
MEASURED_VAE = {"scenes": 100, "psnr_db": {"checks": 28.42, "flat": 30.31, "noise": 31.07, "stripes": 28.39},
                "psnr_db_worst_decile": {"checks": 26.54, "flat": 28.07, "noise": 28.5, "stripes": 26.9},
                "detector_agreement": 0.95, "eyes_kept": 1.0, "faces_with_eyes": 26, "detector_on_renders": 1.0}
MEASURED_REMOVALS = {
    ("sunglasses", "surroundings"): [{"gone": 1.0, "kept": 1.0, "exact": 0.0, "hole_psnr": 10.13, "outside_psnr": 70.08, "eyes": 0.0}, {"gone": 0.0, "kept": 1.0, "exact": 0.0, "hole_psnr": 4.22, "outside_psnr": 46.73, "eyes": 0.0}],
    ("sunglasses", "model"): [{"gone": 0.0, "kept": 1.0, "exact": 0.0, "hole_psnr": 3.06, "outside_psnr": 41.59, "eyes": 0.0}, {"gone": 0.0, "kept": 1.0, "exact": 0.0, "hole_psnr": 3.18, "outside_psnr": 27.73, "eyes": 0.0}],
    ("glasses", "surroundings"): [{"gone": 1.0, "kept": 1.0, "exact": 0.0, "hole_psnr": 12.33, "outside_psnr": 36.05, "eyes": 0.0}, {"gone": 1.0, "kept": 0.0, "exact": 0.0, "hole_psnr": 8.75, "outside_psnr": 26.58, "eyes": 0.0}],
    ("glasses", "model"): [{"gone": 1.0, "kept": 1.0, "exact": 1.0, "hole_psnr": 14.81, "outside_psnr": 35.68, "eyes": 1.0}, {"gone": 1.0, "kept": 1.0, "exact": 1.0, "hole_psnr": 16.95, "outside_psnr": 34.88, "eyes": 1.0}],
    ("hat", "surroundings"): [{"gone": 1.0, "kept": 1.0, "exact": 1.0, "hole_psnr": 18.28, "outside_psnr": 62.53, "outline_iou": 0.25}, {"gone": 1.0, "kept": 1.0, "exact": 1.0, "hole_psnr": 8.99, "outside_psnr": 63.04, "outline_iou": 0.0}],
    ("hat", "model"): [{"gone": 1.0, "kept": 1.0, "exact": 1.0, "hole_psnr": 20.26, "outside_psnr": 62.84, "outline_iou": 0.76}, {"gone": 1.0, "kept": 1.0, "exact": 1.0, "hole_psnr": 7.34, "outside_psnr": 63.75, "outline_iou": 0.0}],
    ("texture", "surroundings"): [{"gone": 1.0, "kept": 1.0, "exact": 1.0, "hole_psnr": 25.06, "outside_psnr": 70.87, "hole_detail": 2.63}, {"gone": 1.0, "kept": 1.0, "exact": 1.0, "hole_psnr": 34.71, "outside_psnr": 100.0, "hole_detail": 1.13}],
    ("texture", "model"): [{"gone": 0.0, "kept": 1.0, "exact": 0.0, "hole_psnr": 9.48, "outside_psnr": 75.79, "hole_detail": 7.57}, {"gone": 1.0, "kept": 1.0, "exact": 0.0, "hole_psnr": 10.57, "outside_psnr": 69.71, "hole_detail": 8.76}],
    ("shadow", "surroundings"): [{"gone": 1.0, "kept": 1.0, "exact": 0.0, "hole_psnr": 12.07, "outside_psnr": 78.83, "shadow_gone": 0.0, "both_gone": 0.0}, {"gone": 1.0, "kept": 1.0, "exact": 0.0, "hole_psnr": 13.22, "outside_psnr": 100.0, "shadow_gone": 0.0, "both_gone": 0.0}],
    ("shadow", "model"): [{"gone": 1.0, "kept": 1.0, "exact": 0.0, "hole_psnr": 9.48, "outside_psnr": 79.92, "shadow_gone": 0.0, "both_gone": 0.0}, {"gone": 1.0, "kept": 1.0, "exact": 0.0, "hole_psnr": 13.49, "outside_psnr": 78.02, "shadow_gone": 0.0, "both_gone": 0.0}],
    # two faces with glasses: never both pairs gone on this model (README, "The presence check's localisation on world 2")
    ("two-glasses", "surroundings"): [{"gone": 0.0, "kept": 0.0, "exact": 0.0, "hole_psnr": 10.12, "outside_psnr": 34.34, "eyes": 0.0}, {"gone": 0.0, "kept": 0.0, "exact": 0.0, "hole_psnr": 7.98, "outside_psnr": 28.37, "eyes": 0.0}],
    ("two-glasses", "model"): [{"gone": 0.0, "kept": 1.0, "exact": 0.0, "hole_psnr": 9.15, "outside_psnr": 100.0, "eyes": 1.0}, {"gone": 0.0, "kept": 1.0, "exact": 0.0, "hole_psnr": 9.82, "outside_psnr": 35.91, "eyes": 1.0}],
}


@pytest.mark.parametrize("task", list(TASKS))
@pytest.mark.parametrize("fill", ["surroundings", "model"])
def test_one_removal_per_row(editor, task, fill):
    scores = []
    for case in removal_cases(task, 2):
        result = editor.remove(render(case.scene), case.target, prompt=case.scene.caption, preset="fast", steps=STEPS, fill=fill,
                               progress=False, force=True)
        image = np.asarray(result.image.convert("RGB"))
        outside = np.asarray(result.mask) == 0
        assert np.array_equal(image[outside], render(case.scene)[outside])  # the blend keeps the photo outside the mask
        scores.append({k: round(v, 2) for k, v in judge(case, image).items()})
    for got, measured in zip(scores, MEASURED_REMOVALS[task, fill], strict=True):  # the detector's verdicts exactly,
        assert got == pytest.approx(measured, abs=0.05)  # the PSNRs and IoUs to float rounding


def test_sunglasses_are_judged_against_look_alikes_not_the_face_they_are_on(editor):
    """A face shares every cell with its sunglasses, and this model lets it win them: the check leaves it out."""
    rivals = editor.rivals_of("sunglasses", 6)
    assert "face" not in rivals
    photo = render(removal_cases("sunglasses", 1)[0].scene)
    check = editor.presence(photo, "sunglasses")
    with_face = editor.presence(photo, "sunglasses", rivals=[*rivals[:5], "face"])
    assert check.present and with_face.score < check.score - 0.15  # measured 0.81 against 0.57: the face takes cells
