"""The benchmarks run end to end (on the tiny model, a couple of samples): their tables cannot silently rot."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks import clean_rows, quality, quality_rows
from benchmarks.toyworld.sets import object_pairs, removal_scenes
from editor import Editor

ROOT = Path(__file__).resolve().parents[1]


def test_quality_sections_produce_rows(tiny_pipe):
    editor = Editor(tiny_pipe, "tiny")
    rows = quality_rows.fidelity_rows(editor, 2, 2) + quality_rows.generation_rows(editor, 1, 3)
    rows += quality_rows.reconstruction_rows(editor, 1, ["direct"]) + quality_rows.removal_rows(editor, 1, ["direct"])
    rows += quality_rows.preset_rows(editor, 1) + quality_rows.position_rows(editor, 1)
    rows += clean_rows.clean_rows(editor, 1, ["fast"]) + clean_rows.order_rows(editor, 1, 3)
    assert {r.section for r in rows} == {"fidelity", "generation", "reconstruction", "removal", "clean", "order"}
    clean = [r.method for r in rows if r.section == "clean"]
    assert clean[0] == "fast, no caption" and "fast, caption" in clean and len(clean) == 2 + 2 * (len(clean_rows.ABLATIONS) + 1)
    removal = [r.method for r in rows if r.section == "removal"]
    assert len(removal) == 3 + 4 + 3  # with blend, without, negative-prompt baseline; each of 3 presets, fast uncaptioned; position
    assert removal[3:] == ["preset quality", "preset fast", "preset reference", 'preset fast, no caption ("a {target}")',
                           "preset fast, target first in the caption",
                           "preset fast, target first, paper's SWR rows (target + [EOT] only)",
                           "preset fast, target last in the caption"]
    table = quality.markdown(rows)
    assert table.count("\n") == len(rows) + 1


def test_ito_ablation_rows_and_table(tiny_pipe, tmp_path, capsys):
    import json
    from dataclasses import asdict

    from benchmarks import ito_ablation

    editor = Editor(tiny_pipe, "tiny")
    rows = ito_ablation.generation_rows(editor, 1, 3) + ito_ablation.removal_rows(editor, 1, ["no", "yes"])
    methods = list(ito_ablation.METHODS)
    names = [f"{order}, {m}" for order in ('Y first: "a Y and a X"', 'Y last: "a X and a Y"') for m in methods]
    for caption in ("no caption", "caption"):
        names += [f"{caption}, {m}" for m in methods] + [f"{caption}, {methods[1]}"]  # the rows, then the paired count
    assert [r.method for r in rows] == names
    paired = [r for r in rows if isinstance(r, ito_ablation.PairedRow)]
    assert len(paired) == 2 and all(r.against == methods[0] and 0 <= r.gained + r.lost <= r.scenes == 1 for r in paired)
    assert all(r.seconds > 0 for r in rows if not isinstance(r, ito_ablation.PairedRow))
    attention = ito_ablation.attention_rows(editor, 1, 5)  # 5 steps: one ITO step, [1, 2)
    (row,) = attention
    assert row.method == methods[1] and row.ito_steps == 1 and row.embedding_moved > 0
    assert row.reference_loss_after < row.reference_loss_before  # ITO lowers the loss it is given
    rows += attention
    path = tmp_path / "rows.json"
    path.write_text(json.dumps({"rows": [asdict(r) for r in rows]}))
    capsys.readouterr()  # the rows' progress lines
    ito_ablation.main(["--table", str(path)])
    table = capsys.readouterr().out
    assert table.count("| Y first") == 2 and table.count("| caption, ") == 3 and table.count("\n") == len(rows) + 11


def test_background_scores_look_only_outside_the_box():
    scene = removal_scenes(1)[0]
    target = scene.objects[0].name
    from benchmarks.toyworld.world import render

    original = render(scene)
    edited = original.copy()
    x0, y0, x1, y1 = scene.objects[0].box
    edited[y0:y1, x0:x1] = 0  # change only inside the target's box
    psnr, ssim = quality_rows.background_scores(original, edited, quality_rows._outside_box_mask(scene, target))
    assert (psnr, ssim) == (float("inf"), 1.0)  # the box margin (4 px) covers the SSIM window's reach (3 px)


def test_sets_are_seeded_and_well_formed():
    assert object_pairs(5) == object_pairs(5)
    for x, y in object_pairs(30):
        assert x.split()[0] != y.split()[0]
    scenes = removal_scenes(10)
    assert all(2 <= len(s.objects) <= 3 for s in scenes) and removal_scenes(10) == scenes


def test_realsize_and_gpu_benchmarks_run_at_tiny_size(tmp_path):
    import json

    from benchmarks import gpu, realsize

    realsize.main(["--tiny", "--models", "sd21", "--steps", "2", "--extrapolate-to", "3", "--threads", "1", "--json", str(tmp_path / "r.json")])
    (row,) = json.loads((tmp_path / "r.json").read_text())["rows"]
    assert row["attention_map"] == "4x4" and set(row["presets"]) == {"reference", "fast"}
    assert set(row["presets"]["reference"]["stage_peak_rss_gb"]) == {"look", "encode", "invert", "suppress", "decode", "fill"}
    assert row["reference_extrapolated_calls"]["backwards"] > 0 and row["reference_extrapolated_seconds"] >= 0
    # SDXL at another working size than its own, as its real-size row is measured
    realsize.main(["--tiny", "--models", "sdxl", "--size", "96", "--steps", "2", "--extrapolate-to", "3", "--threads", "1", "--json", str(tmp_path / "x.json")])
    (row,) = json.loads((tmp_path / "x.json").read_text())["rows"]
    assert (row["pixels"], row["attention_map"]) == (96, "3x3") and row["presets"]["reference"]["unet_calls"]["backwards"] > 0
    gpu.main(["--tiny", "--device", "cpu", "--dtype", "float32", "--steps", "2", "--models", "sd15", "--json", str(tmp_path / "g.json")])
    runs = [r["run"] for r in json.loads((tmp_path / "g.json").read_text())["rows"]]
    assert runs == ["generate", "preset reference", "preset quality", "preset fast", "preset fast + attention-slicing", "preset fast + vae-slicing", "preset fast + vae-tiling"]


def test_real_configs_read_their_maps_where_the_reference_does():
    # the real-size UNets, built on the meta device (no memory, no weights): 16 x 16 maps at 512 px, 24 x 24 at 768
    import torch
    from diffusers import UNet2DConditionModel

    from benchmarks.real_configs import load_config
    from suppression.attention import default_attention_factor, recorded_layers

    for name, size, layers in (("sd15", 16, 10), ("sd21", 24, 10)):
        with torch.device("meta"):
            unet = UNet2DConditionModel.from_config(load_config(name, "unet"))
        factor = default_attention_factor(unet)
        assert unet.config.sample_size // factor == size
        # down_blocks.2 (2 transformers) and up_blocks.1 (3), self- and cross-attention each
        assert len(recorded_layers(unet, factor)) == layers
        assert 850e6 < sum(p.numel() for p in unet.parameters()) < 870e6


def test_every_speed_removal_row_names_a_preset_and_a_fill():
    from benchmarks import speed
    from editor.removal.fill import FILLS
    from editor.presets import PRESETS

    rows = [r for r in speed.ROWS if r.startswith("removal: preset")]
    settings = [speed.removal_settings(r) for r in rows]
    assert all(preset in PRESETS and fill in FILLS for preset, fill in settings)
    assert {preset for preset, _ in settings} == set(PRESETS) and ("reference", "model") in settings


def test_speed_fails_with_the_childs_error_instead_of_waiting(tmp_path):
    import argparse

    import pytest

    from benchmarks import speed

    args = argparse.Namespace(model=str(tmp_path / "no-model"), device="cpu", dtype="float32", repeats=1, steps=2)
    with pytest.raises(SystemExit, match=r"(?s)row 'inversion: ddim' failed:.*ModelLoadError: .*no-model"):
        speed.measure("inversion: ddim", args)


@pytest.mark.parametrize("name", ["quality", "speed", "realsize", "gpu"])
def test_benchmark_help_answers_without_loading_torch(name):
    """`--help` lists the choices and stays light: torch, diffusers and the model are loaded only to measure."""
    code = (f"import sys\nfrom benchmarks import {name}\ntry:\n    {name}.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('LOADED', sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 0 and run.stderr == "", run.stderr
    assert "LOADED []" in run.stdout and "--steps" in run.stdout


def test_pixel_scores_see_a_remnant_and_collateral():
    from benchmarks.toyworld.world import Scene, render, render_background

    scene = removal_scenes(1)[0]
    target = scene.objects[0].name
    untouched = render(scene)
    assert quality_rows.pixel_scores(scene, target, untouched) == (1.0, 0.0)
    without = render(Scene(scene.top, scene.bottom, scene.objects[1:]))
    assert quality_rows.pixel_scores(scene, target, without) == (0.0, 0.0)
    assert quality_rows.pixel_scores(scene, target, render_background(scene)) == (0.0, 1.0)


def test_row_names_with_a_comma_can_be_chosen():
    import argparse

    from benchmarks.options import choice_list
    from benchmarks.speed import ROWS

    parse = choice_list(ROWS, "row")
    both = "removal: preset fast, fill model (the suppressed branch runs),removal: preset fast"
    assert parse(both) == ["removal: preset fast, fill model (the suppressed branch runs)", "removal: preset fast"]
    with pytest.raises(argparse.ArgumentTypeError, match="unknown row 'fill'"):
        parse("removal: preset fast,fill")


def test_sdxl_pooled_benchmark_sees_swr_take_the_target_out():
    from benchmarks import sdxl_pooled

    rows = {row["pooled"]: row for row in sdxl_pooled.measure(4)}
    assert rows["keep"]["norm_vs_keep"] == 1.0 and rows["re-encoded"]["cosine_with_the_rest"] == pytest.approx(1.0)
    # the toy world's trained encoder: the prompt's pooled vector is mostly its last object, SWR's keeps almost nothing
    assert rows["keep"]["cosine_with_target"] > 0.5 and abs(rows["swr"]["cosine_with_target"]) < 0.1


def test_fill_rows_score_each_variant_against_the_truth(tiny_pipe):
    from benchmarks import fills
    from benchmarks.regions import psnr_where, seam_band

    rows = fills.fill_rows(Editor(tiny_pipe, "tiny"), 1, ["surroundings", "repaint+seam"], "fast", (False,))
    assert [(r["fill"], r["caption"], r["scenes"]) for r in rows] == [("surroundings", False, 1), ("repaint+seam", False, 1)]
    assert all(r["seconds"] > 0 for r in rows)
    mask = np.zeros((20, 20), np.uint8)
    mask[5:15, 5:15] = 255
    band = seam_band(mask, 3)
    assert band[10, 2] and band[10, 7] and not band[10, 10] and not band[0, 0]  # both sides of the edge, not the middle
    truth = np.full((20, 20, 3), 100, np.uint8)
    assert psnr_where(truth, truth, band) == 100.0 and np.isnan(psnr_where(truth, truth, np.zeros((20, 20), bool)))
