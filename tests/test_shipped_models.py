"""Every Stable Diffusion configuration users have, as shipped: each real scheduler (SD 1.5's PNDM, SD 2.1's v-prediction
DDIM, fine-tunes' DPM-Solver++ Karras, Euler ancestral, UniPC, SDXL's Euler), SD 2.x's "!" padding and linear
projections, SDXL's two text encoders and pooled embedding, built
tiny from the published configs (benchmarks/configs) through generate, remove, reconstruct and the command line."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio

import cli
from benchmarks.real_configs import MODELS, build_pipeline, scheduler_of
from editor import Editor
from editor.removal.masks import MaskConfig
from editor.photos.photo_io import finish, from_model, photo_from_any
from unwant.sd.calls import UNetCallCounter
from unwant.sd.ddim import DDIM

PROMPT, TARGET = "a red circle and a blue square", "blue square"
STEPS = 4
_editors: dict[str, Editor] = {}


def editor_for(name: str) -> Editor:
    if name not in _editors:
        _editors[name] = Editor(build_pipeline(name, tiny=True))
    return _editors[name]


def photo(size=(160, 128)) -> Image.Image:
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.full((h, w, 3), 128, np.uint8)
    rgb[(x - w // 4) ** 2 + (y - h // 3) ** 2 < (min(w, h) // 5) ** 2] = (220, 30, 30)
    rgb[(x > w // 2) & (x < w - 4) & (y > h // 2) & (y < h - 4)] = (30, 30, 220)
    return Image.fromarray(rgb)


def vae_round_trip_psnr(editor: Editor, image: Image.Image) -> float:
    """The best any inversion can do: the photo through the VAE and back, at the photo's size."""
    p = photo_from_any(image)
    z0, _ = editor.encode_photo(p)
    back = finish(from_model(editor.decode(z0), p.size), p)
    return float(peak_signal_noise_ratio(np.asarray(image), np.asarray(back.convert("RGB")), data_range=255))


def test_the_matrix_ships_what_the_checkpoints_ship():
    expected = {"sd15": "PNDMScheduler", "sd21-base": "PNDMScheduler", "sd21": "DDIMScheduler", "finetune-dpmpp-2m-karras": "DPMSolverMultistepScheduler",
                "finetune-euler-ancestral": "EulerAncestralDiscreteScheduler", "finetune-unipc": "UniPCMultistepScheduler",
                "sdxl": "EulerDiscreteScheduler"}
    assert {name: type(scheduler_of(name)).__name__ for name in MODELS} == expected
    pipes = {name: editor_for(name).pipe for name in MODELS}
    assert {n for n, p in pipes.items() if p.tokenizer.pad_token == "!"} == {"sd21-base", "sd21"}
    assert {n for n, p in pipes.items() if getattr(p, "tokenizer_2", None) is not None and p.tokenizer_2.pad_token == "!"} == {"sdxl"}
    assert {n for n, p in pipes.items() if p.scheduler.config.prediction_type == "v_prediction"} == {"sd21"}
    assert {n for n, p in pipes.items() if p.unet.config.use_linear_projection} == {"sd21-base", "sd21", "sdxl"}
    assert {n for n, p in pipes.items() if p.unet.config.addition_embed_type == "text_time"} == {"sdxl"}


@pytest.mark.parametrize("name", MODELS)
def test_ddim_has_exactly_the_steps_asked_for(name):
    # SD 1.5's own PNDM gives 6 timesteps for 5 steps (one repeated); DDIM from its config gives 5, and inversion
    # visits the same ones upwards
    shipped = editor_for(name).pipe.scheduler
    ddim = DDIM(shipped.config, 5)
    assert len(ddim.timesteps) == 5 and len(set(ddim.timesteps.tolist())) == 5
    assert ddim.inverse.timesteps.tolist() == ddim.timesteps.flip(0).tolist()
    assert ddim.sampler.config.clip_sample is False  # latents are not images in [-1, 1]
    assert ddim.prediction_type == shipped.config.prediction_type


@pytest.mark.parametrize("name", MODELS)
def test_generate_runs_the_steps_asked_for(name):
    editor = editor_for(name)
    a = editor.generate(PROMPT, remove=TARGET, seed=3, steps=STEPS, progress=False)
    b = editor.generate(PROMPT, remove=TARGET, seed=3, steps=STEPS, progress=False)
    assert a.image.size == (editor.native_size, editor.native_size)
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
    # 4 steps, tau 20 % and ITO to 40 %: step 0 one guided forward shared by both branches; step 1 the original
    # branch, 10 ITO forwards (with gradient) and the suppressed branch; steps 2-3 one batched forward each
    assert (a.unet_calls.forwards, a.unet_calls.backwards) == (1 + 12 + 2, 10)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("preset", ["quality", "fast"])
def test_remove_keeps_everything_outside_the_mask(name, preset):
    editor = editor_for(name)
    image = photo()
    # random weights attend almost evenly (SDXL's maps average 50 layers: flatter still), so the mask's threshold is
    # the median of the target's own map, which leaves part of the photo outside; the second call reuses the loop
    first = editor.remove(image, TARGET, prompt=PROMPT, preset=preset, steps=STEPS, progress=False, force=True)
    median = float(np.median(first.attention / first.attention.max()))
    mask = MaskConfig(threshold=median, dilation=0.02)
    result = editor.remove(image, TARGET, prompt=PROMPT, preset=preset, steps=STEPS, mask=mask, progress=False, force=True)
    assert result.image.size == image.size and result.steps == STEPS
    outside = np.asarray(result.mask) == 0
    assert outside.mean() > 0.05
    assert np.array_equal(np.asarray(result.image)[outside], np.asarray(image)[outside])


def test_direct_inversion_is_the_vae_round_trip_by_construction():
    """The one test of this invariant: each step snaps the latent onto the inversion's pivot, so the resampled photo is
    the VAE's round trip whatever the model (elsewhere, tests assert what a scheduler or a model changes)."""
    editor = editor_for("sd15")
    result = editor.reconstruct(photo(), prompt=PROMPT, inversion="direct", steps=STEPS, progress=False)
    assert result.psnr == pytest.approx(vae_round_trip_psnr(editor, photo()), abs=0.01)


@pytest.mark.parametrize("name", MODELS)
def test_direct_inversion_costs_one_forward_a_step_each_way(name):
    result = editor_for(name).reconstruct(photo(), prompt=PROMPT, inversion="direct", steps=STEPS, progress=False)
    # exactly STEPS forwards to invert and STEPS to resample, all conditional only: the snap puts each resampled latent
    # on its pivot whatever the guided prediction would say, so the unconditional row would buy nothing
    assert (result.unet_calls.forwards, result.unet_calls.rows) == (2 * STEPS, 2 * STEPS)


# PSNR (dB) of each inversion on `photo()`, 4 steps, measured. The tiny models have random weights, so these say nothing of
# quality (their VAE's own round trip is 12.9 dB; SDXL's 12.4): they pin each inversion's arithmetic under each shipped
# scheduler. Checkpoints whose schedulers come to the same DDIM agree (SD 1.5 and DPM++; Euler ancestral and UniPC),
# the others differ. 0.05 dB: float32 sums in another order move a value by thousandths; a changed step, by tenths.
MEASURED_INVERSIONS = {
    "sd15": {"null-text": 12.411, "negative-prompt": 12.371, "ddim": 12.384},
    "sd21-base": {"null-text": 12.631, "negative-prompt": 12.796, "ddim": 12.526},
    "sd21": {"null-text": 12.813, "negative-prompt": 13.119, "ddim": 12.576},
    "finetune-dpmpp-2m-karras": {"null-text": 12.411, "negative-prompt": 12.371, "ddim": 12.384},
    "finetune-euler-ancestral": {"null-text": 12.494, "negative-prompt": 12.641, "ddim": 12.59},
    "finetune-unipc": {"null-text": 12.494, "negative-prompt": 12.641, "ddim": 12.59},
    "sdxl": {"null-text": 12.636, "negative-prompt": 12.707, "ddim": 12.404},
}


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("inversion", ["null-text", "negative-prompt", "ddim"])
def test_every_inversion_reconstructs_as_measured(name, inversion):
    image = photo()
    result = editor_for(name).reconstruct(image, prompt=PROMPT, inversion=inversion, steps=STEPS, progress=False)
    assert result.image.size == image.size and result.unet_calls.forwards >= 2 * STEPS
    assert result.psnr == pytest.approx(MEASURED_INVERSIONS[name][inversion], abs=0.05)


@pytest.mark.parametrize("name", MODELS)
def test_command_line_on_a_saved_folder(name, tmp_path):
    folder = tmp_path / name
    editor_for(name).pipe.save_pretrained(folder, safe_serialization=True)
    source = tmp_path / "photo.png"
    photo().save(source)
    runner = CliRunner()
    common = ["--model", str(folder), "--device", "cpu", "--steps", "3", "--quiet", "--edit-all"]  # random weights: no check
    removed = runner.invoke(cli.main, [str(source), "--remove", TARGET, "--prompt", PROMPT, "-o", str(tmp_path / "out.png"), *common])
    assert removed.exit_code == 0, removed.output
    assert Image.open(tmp_path / "out.png").size == (160, 128)
    fast = runner.invoke(cli.main, [str(source), "--remove", TARGET, "--preset", "fast", "-o", str(tmp_path / "fast.png"), *common])
    assert fast.exit_code == 0, fast.output
    generated = runner.invoke(cli.main, ["--prompt", f"a red circle without a {TARGET}", "-o", str(tmp_path / "gen.png"), *common])
    assert generated.exit_code == 0, generated.output
    assert "Traceback" not in removed.output + fast.output + generated.output


def test_float_timesteps_and_unit_noise_under_euler():
    # Euler ships float timesteps and init_noise_sigma ~14.6; the sampler is DDIM whatever the checkpoint ships, so
    # generation starts from unit-variance noise and the UNet sees DDIM's integer timesteps
    editor = Editor(build_pipeline("finetune-euler-ancestral", tiny=True))
    assert editor.pipe.scheduler.init_noise_sigma > 10
    seen = []
    hook = editor.pipe.unet.register_forward_pre_hook(lambda module, args, kwargs: seen.append((args[0].std().item(), args[1])), with_kwargs=True)
    try:
        editor.generate("a red circle", remove=[], seed=0, steps=3, progress=False)
    finally:
        hook.remove()
    first_std, first_t = seen[0]
    assert 0.8 < first_std < 1.2
    assert [int(t) for _, t in seen] == DDIM(editor.pipe.scheduler.config, 3).timesteps.tolist()


def test_counter_sees_every_unet_call():
    editor = editor_for("sd15")
    with UNetCallCounter(editor.pipe.unet) as calls:
        editor.generate(PROMPT, remove=[], seed=0, steps=2, progress=False)
    assert (calls.forwards, calls.rows) == (2, 4)


@pytest.mark.parametrize("steps", [1, 61, 103, 999, 1000])
def test_trailing_spacing_makes_exactly_the_steps_asked_for(steps):
    # diffusers' trailing arange gives steps + 1 values, the last -1, for 62 step counts between 1 and 1000
    ddim = DDIM(scheduler_of("finetune-unipc").config, steps)
    assert len(ddim.timesteps) == steps and int(ddim.timesteps.min()) >= 0 and int(ddim.timesteps.max()) == 999
    assert ddim.inverse.timesteps.tolist() == ddim.timesteps.flip(0).tolist()
    assert len(set(ddim.timesteps.tolist())) == steps


@pytest.mark.parametrize("name", MODELS)
def test_dataset_steps_run_on_every_shipped_configuration(name):
    """The presence check (noised with the shipped schedule, scored against the model's own prediction type) and
    photos side by side, on a photo larger than the model's size and one of another size."""
    editor = editor_for(name)
    check = editor.presence(photo(), TARGET)
    assert len(check.rivals) == 6 and check.unet_calls.rows == 4 * 7 * check.draws  # 4 levels x 7 names per draw read (a kept check may have 2)
    photos = [photo(), photo((160, 128)), photo((96, 64))]
    together = editor.remove_batch(photos, TARGET, prompt=PROMPT, steps=STEPS, batch_size=2, progress=False)
    alone = [editor.remove(p, TARGET, prompt=PROMPT, steps=STEPS, progress=False, force=True) for p in photos]
    assert [r.image.size for r in together] == [(160, 128), (160, 128), (96, 64)]
    for batched, single in zip(together, alone):
        assert np.array_equal(np.asarray(batched.image), np.asarray(single.image))
        assert batched.unet_calls == single.unet_calls  # the first two shared their forwards
