"""Measured behaviour on the shipped toy-world model: asked objects drawn, the unwanted one suppressed in generation,
photos reconstructed by inversion, and an object removed from rendered photos while the rest stays.

The counts asserted are the ones measured on these seeded samples (threads 1, CPU): a change that moves any of them
shows here, and the new value is a decision to record, not a tolerance to widen.
"""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from benchmarks.toyworld.sets import object_pairs, removal_scenes
from conftest import TOYWORLD_MODEL
from benchmarks.toyworld.detector import detect
from benchmarks.toyworld.world import object_mask, render, sample_scene

pytestmark = pytest.mark.skipif(not (TOYWORLD_MODEL / "model_index.json").exists(), reason="toy-world model not trained")

STEPS = 30  # fewer than the default 50 to keep the suite fast; the benchmark uses 50


def names(image) -> list[str]:
    return [d.name for d in detect(np.asarray(image.convert("RGB")))]


@pytest.fixture(scope="module")
def toy(toy_pipe):
    from editor import Editor

    return Editor(toy_pipe, "toyworld")


def test_the_shipped_model_is_small_safetensors_and_loads_offline(monkeypatch):
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel

    files = [f for f in TOYWORLD_MODEL.rglob("*") if f.is_file()]
    assert sum(f.stat().st_size for f in files) < 30 * 2**20
    assert not [f for f in files if f.suffix in (".bin", ".ckpt", ".pt")]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pipe = StableDiffusionPipeline.from_pretrained(TOYWORLD_MODEL, safety_checker=None, requires_safety_checker=False)
    assert isinstance(pipe.unet, UNet2DConditionModel)
    ids = pipe.tokenizer("a red circle", padding="max_length", max_length=77).input_ids
    assert ids[:5] == [49406, 320, 736, 7117, 49407] and ids[-1] == 49407  # real CLIP ids, SD 1.x padding


def test_generation_draws_the_asked_object(toy):
    prompts = ["a red circle", "a blue square", "a yellow triangle", "a green circle"]
    found = [names(toy.generate(p, seed=i, steps=STEPS, progress=False).image) for i, p in enumerate(prompts)]
    hits = sum(p.removeprefix("a ") in f for p, f in zip(prompts, found))
    assert hits == 4, found  # measured: every one of the four


def test_suppression_removes_the_unwanted_object_in_generation(toy):
    pairs = object_pairs(8)
    plain = suppressed = kept = 0
    for seed, (x, y) in enumerate(pairs):
        prompt = f"a {x} and a {y}"
        plain += y in names(toy.generate(prompt, seed=seed, steps=STEPS, progress=False).image)
        found = names(toy.generate(prompt, remove=y, seed=seed, steps=STEPS, progress=False).image)
        suppressed += y in found
        kept += x.split()[0] in " ".join(found)  # the wanted colour is still drawn
    # measured: Y drawn in 8 of 8 plain, in 1 of 8 suppressed; the wanted colour kept in 8 of 8
    assert (plain, suppressed, kept) == (8, 1, 8)


def test_inversions_reconstruct_as_measured_and_ddim_is_clearly_worse(toy):
    from test_shipped_models import vae_round_trip_psnr

    scenes = removal_scenes(3, seed=11)
    ceiling = [vae_round_trip_psnr(toy, Image.fromarray(render(s))) for s in scenes]
    psnr = {m: [toy.reconstruct(render(s), prompt=s.caption, inversion=m, steps=STEPS, progress=False).psnr for s in scenes]
            for m in ("negative-prompt", "ddim")}
    # measured (30 steps): VAE 27.84 / 25.31 / 24.51 dB; negative-prompt 24.56 / 24.04 / 24.25; plain DDIM at guidance
    # 7.5 drifts: 19.83 / 20.95 / 15.22. Direct inversion equals the VAE by construction (tests/test_shipped_models.py).
    # 0.05 dB: float32 sums in another order move a value by a few thousandths; a changed inversion moves it by tenths
    assert ceiling == pytest.approx([27.84, 25.31, 24.51], abs=0.01)
    assert psnr["negative-prompt"] == pytest.approx([24.56, 24.04, 24.25], abs=0.05)
    assert psnr["ddim"] == pytest.approx([19.83, 20.95, 15.22], abs=0.05)


def test_remove_through_the_api_returns_a_full_result(toy):
    scene = removal_scenes(1, seed=11)[0]
    image = Image.fromarray(render(scene)).convert("RGBA")
    result = toy.remove(image, scene.objects[0].name, prompt=scene.caption, preset="fast", progress=False)
    assert result.image.size == image.size and result.image.mode == "RGBA"
    # the mask covers the object (and its feathered edge), not the picture: between its area and four times it
    area = float(object_mask(scene.objects[0]).mean())
    assert result.mask.size == image.size and area < result.mask_fraction < 4 * area
    assert result.attention.shape == (16, 16) and result.inversion == "direct"  # the latent's own size (README, "Which object")
    assert set(result.timings) == {"look", "encode", "invert", "suppress", "decode", "fill"} and result.instances == 1


def removal_scores(scenes, targets, images: list[Image.Image]) -> tuple[int, int, int]:
    """Scenes with the target gone, with every other object kept, with exactly the other objects (nothing drawn in)."""
    arrays = [np.asarray(im.convert("RGB")) for im in images]
    found = [[d.name for d in detect(a)] for a in arrays]
    absent = sum(t not in f for t, f in zip(targets, found))
    kept = sum(all(o.name in f for o in s.objects if o.name != t) for s, t, f in zip(scenes, targets, found))
    exact = sum(sorted(f) == sorted(o.name for o in s.objects if o.name != t) for s, t, f in zip(scenes, targets, found))
    return absent, kept, exact


def remove_with_captions(toy, scenes, targets, **options) -> list:
    """Each scene's target removed with the fast preset, the scene's caption as the prompt: the EditResults."""
    return [toy.remove(render(s), t, prompt=s.caption, preset="fast", progress=False, **options) for s, t in zip(scenes, targets)]


def assert_outside_the_mask_is_the_input(scenes, results) -> None:
    """The blend keeps every pixel outside the mask the input's own, bit for bit."""
    for scene, result in zip(scenes, results):
        outside = np.asarray(result.mask) == 0
        assert outside.mean() > 0.3, outside.mean()
        assert np.array_equal(np.asarray(result.image.convert("RGB"))[outside], render(scene)[outside])


def test_removal_takes_the_object_away_and_keeps_the_rest(toy):
    scenes = removal_scenes(6, seed=31)
    targets = [scene.objects[-1].name for scene in scenes]
    results = remove_with_captions(toy, scenes, targets)
    scores = removal_scores(scenes, targets, [r.image for r in results])
    assert scores == (6, 6, 6)  # measured: every target gone, every other object kept, nothing drawn in
    assert_outside_the_mask_is_the_input(scenes, results)


PAPERS = 2  # of the 4 target-first removals below, the paper's SWR rows (target + [EOT]) only: measured again when the
# seam became a Poisson blend from the fill (1 before)
MEASURED_SAMPLE_EXACT = 14  # of the 16 removals below (threads 1, CPU); no caption: see README, Limits


def test_every_object_of_every_sample_scene_is_removed_cleanly_with_no_caption(toy):
    """The shipped scenes (samples/toyworld), each object in turn, as a new user would: the default preset, no caption.
    Asserted at one scene below the count measured, as the clean-removal issue asks."""
    from conftest import SCENES

    removals = exact = 0
    for path in sorted(SCENES.glob("scene-*.png")):
        photo = Image.open(path).convert("RGB")
        present = names(photo)
        for target in present:
            found = names(toy.remove(photo, target, progress=False).image)
            removals += 1
            exact += sorted(found) == sorted(n for n in present if n != target)
    assert removals == 16
    assert exact >= MEASURED_SAMPLE_EXACT - 1


def test_a_target_first_in_the_caption_is_removed_through_the_words_after_it(toy):
    """Seen in the suppressed branch's own pixels (fill="model"): the default fill paints the mask from the
    surroundings, whatever the suppression did."""
    scenes = removal_scenes(4)  # the first 4 of the benchmark's scenes
    targets = [scene.objects[0].name for scene in scenes]  # the causal encoder carries it into every later word
    results = remove_with_captions(toy, scenes, targets, fill="model")
    absent, kept, _ = removal_scores(scenes, targets, [r.image for r in results])
    papers_rows = remove_with_captions(toy, scenes, targets, fill="model", suppress_words_after=False)  # target + [EOT] rows only
    papers_absent, _, _ = removal_scores(scenes, targets, [r.image for r in papers_rows])
    assert (absent, kept) == (4, 4)  # measured
    assert_outside_the_mask_is_the_input(scenes, results)
    assert papers_absent == PAPERS


def test_default_preset_removes_through_the_cli(tmp_path):
    from cli import main

    scene = removal_scenes(1, seed=47)[0]
    target = scene.objects[-1].name  # last in the caption, as in the README's quick start
    Image.fromarray(render(scene)).save(tmp_path / "scene.png")
    result = CliRunner().invoke(main, [str(tmp_path / "scene.png"), "--remove", target, "--prompt", scene.caption,
                                       "--model", "toyworld", "--quiet", "--report", str(tmp_path / "report.json"),
                                       "--save-mask", str(tmp_path / "mask.png")])
    assert result.exit_code == 0, result.output
    edited = Image.open(tmp_path / "scene.edited.png")
    assert removal_scores([scene], [target], [edited]) == (1, 1, 1), names(edited)
    mask = np.asarray(Image.open(tmp_path / "mask.png")) == 0
    assert mask.mean() > 0.3 and np.array_equal(np.asarray(edited.convert("RGB"))[mask], render(scene)[mask])
    assert json.loads((tmp_path / "report.json").read_text())["inversion"] == "direct"


def test_batch_through_the_cli_with_a_corrupt_file(toy, tmp_path):
    from cli import main

    inputs = tmp_path / "in"
    (inputs / "sub").mkdir(parents=True)
    target = "red circle"
    scenes = scenes_with(target, 4)
    for i, scene in enumerate(scenes):
        Image.fromarray(render(scene)).save(inputs / ("sub" if i % 2 else ".") / f"scene{i}.png")
    (inputs / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    result = CliRunner().invoke(
        # --edit-all: this is about the batch's files and pixels; which photos the check lets through, tests/test_sanitize.py
        main, [str(inputs), "--remove", target, "--model", "toyworld", "-o", str(tmp_path / "out"), "--preset", "fast", "--quiet", "--edit-all"]
    )
    assert result.exit_code == 1, result.output
    lines = [json.loads(line) for line in (tmp_path / "out" / "report.jsonl").read_text().splitlines()]
    assert len(lines) == 5
    errors = [entry for entry in lines if entry["status"] == "error"]
    assert len(errors) == 1 and errors[0]["input"].endswith("broken.png") and errors[0]["message"]
    outputs = sorted((tmp_path / "out").rglob("*.png"))
    assert len(outputs) == 4 and (tmp_path / "out" / "sub").is_dir()
    for entry in lines:
        if entry["status"] == "ok":
            assert Image.open(entry["output"]).size == (64, 64)
            assert entry["targets"] == [target] and entry["prompt"] == "a red circle" and entry["model"] == "toyworld"
    edited = [Image.open(tmp_path / "out" / ("sub" if i % 2 else ".") / f"scene{i}.png") for i in range(4)]
    # measured: every red circle gone, every other object kept, nothing drawn in, though the prompt names only the target
    assert removal_scores(scenes, [target] * 4, edited) == (4, 4, 4)
    for i in (0, 1):  # a batch file is exactly what the API makes of it
        alone = toy.remove(render(scenes[i]), target, preset="fast", progress=False).image
        assert np.array_equal(np.asarray(edited[i].convert("RGB")), np.asarray(alone.convert("RGB")))


def scenes_with(target: str, count: int, seed: int = 5):
    """Seeded two- and three-object scenes that all contain `target`."""
    rng = np.random.default_rng(seed)
    scenes = []
    while len(scenes) < count:
        scene = sample_scene(rng, n_objects=int(rng.integers(2, 4)))
        if target in [o.name for o in scene.objects]:
            scenes.append(scene)
    return scenes
