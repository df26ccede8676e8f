"""UNet call counts of generation and of each removal preset (counts, not times: those are in benchmarks/speed.py)."""

import logging

import numpy as np
import pytest
import torch

from editor import Editor
from editor.presets import PRESETS
from suppression.config import SuppressionConfig


def expected_sampling(steps: int, config: SuppressionConfig) -> tuple[int, int, int]:
    """(forwards, rows, backwards) of the two-branch loop with guidance > 1.

    Before tau one forward serves both branches; in the ITO window the original branch's forward, N early-stopped
    forwards with gradient, then the suppressed branch's forward; after it both branches share one forward."""
    a, b = config.steps_window(steps)
    n = config.ito_iterations if config.optimize else 0
    ito_steps = b - a if config.optimize else 0
    plain = steps - a - ito_steps
    forwards = a + ito_steps * (2 + n) + plain
    rows = 2 * a + ito_steps * (4 + n) + 4 * plain
    return forwards, rows, ito_steps * n


def repaint_steps(steps: int) -> int:
    """The repaint's share of the steps: it starts REPAINT_STRENGTH of the way down."""
    from editor.removal.repaint import REPAINT_STRENGTH

    return steps - int(round((1 - REPAINT_STRENGTH) * steps))


@pytest.fixture(scope="module")
def editor(tiny_pipe):
    return Editor(tiny_pipe, "tiny")


@pytest.mark.parametrize("optimize", [True, False])
def test_generation_counts(editor, optimize):
    result = editor.generate("a red circle and a blue square", remove="blue square", seed=0, steps=10, optimize=optimize, progress=False)
    calls = result.unet_calls
    assert (calls.forwards, calls.rows, calls.backwards) == expected_sampling(10, SuppressionConfig(optimize=optimize))


def test_plain_generation_is_one_forward_a_step(editor):
    calls = editor.generate("a red circle", seed=0, steps=10, progress=False).unet_calls
    assert (calls.forwards, calls.rows, calls.backwards) == (10, 20, 0)


@pytest.mark.parametrize("name", ["fast", "quality"])
def test_direct_inversion_preset_counts(editor, name):
    image = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)
    preset = PRESETS[name]
    assert preset.inversion == "direct"
    editor.forget_last_photo()
    result = editor.remove(image, "blue square", prompt="a red circle and a blue square", preset=name, progress=False, force=True)
    # direct inversion: one conditional forward per step to build the pivots; with the default fill no suppressed
    # branch runs: the loop is one conditional forward a step, for the targets' attention (the snap discards any
    # prediction); the repaint, one unguided forward for each of its steps
    fill = repaint_steps(preset.steps)
    calls = result.unet_calls - result.presence["blue square"].unet_calls  # the check before it: tests/test_localisation.py
    assert (calls.forwards, calls.rows, calls.backwards) == (2 * preset.steps + fill, 2 * preset.steps + fill, 0)
    assert fill == preset.steps // 2
    assert result.attention is not None and result.suppressed_attention is None


@pytest.mark.parametrize("name", ["fast", "quality"])  # SWR alone, and SWR + ITO
@pytest.mark.parametrize("fill, blend", [("model", True), ("repaint", False)])
def test_the_suppressed_branch_runs_when_its_pixels_are_the_output(editor, name, fill, blend):
    image = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)
    preset = PRESETS[name]
    result = editor.remove(image, "blue square", prompt="a red circle and a blue square", preset=name, fill=fill, blend=blend, progress=False, force=True)
    forwards, rows, backwards = expected_sampling(preset.steps, preset.suppression)
    calls = result.unet_calls - result.presence["blue square"].unet_calls
    assert (calls.forwards, calls.rows, calls.backwards) == (forwards + preset.steps, rows + preset.steps, backwards)
    assert result.suppressed_attention is not None


def test_the_original_branch_and_its_maps_do_not_depend_on_the_suppressed_branch(editor):
    """What the default fill reads (the original branch's latents and target maps) is the same whether the suppressed
    branch runs or not: skipping it changes nothing but the cost."""
    from editor.removal.sampler import Plan, run_branches
    from inversion import invert
    from unwant.sd.text import encode_prompt
    from suppression.tokens import locate_tokens

    prompt = "a red circle and a blue square"
    z0 = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    cond = encode_prompt(editor.pipe, prompt)
    inverted = invert(editor.pipe, z0, cond, method="direct", steps=6, progress=False)
    layout = locate_tokens(editor.pipe.tokenizer, prompt, ["blue square"])
    runs = [run_branches(editor.pipe, inverted.x_T, Plan.from_inversion(inverted, cond, layout=layout, suppress=suppress), progress=False)
            for suppress in (False, True)]
    assert torch.equal(runs[0].original, runs[1].original)
    # the maps come from a UNet batch of 2 rows without the suppressed branch and of 4 with it: bit for bit on some CPUs,
    # a few float32 ulps apart on others (measured here, an AMD EPYC: 4.6e-7 relative at most)
    torch.testing.assert_close(runs[0].target_maps, runs[1].target_maps, rtol=2e-6, atol=0)
    assert runs[0].suppressed_maps is None and not torch.equal(runs[1].suppressed, runs[1].original)


def test_reference_preset_counts_are_bounded(editor):
    name = "reference"
    image = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)
    preset = PRESETS[name]
    assert preset.inversion == "null-text"
    steps = 10  # the preset's settings at fewer steps, to keep the test fast
    editor.forget_last_photo()
    result = editor.remove(image, "blue square", prompt="a red circle and a blue square", preset=name, steps=steps, progress=False, force=True)
    inner = preset.null_text_iterations
    inversion = (result.unet_calls - result.presence["blue square"].unet_calls).forwards - steps - repaint_steps(steps)
    # null-text: T pivots, then per step one conditional forward, at most `inner` optimisation forwards and one final step
    assert 2 * steps <= inversion <= steps * (3 + inner)
    assert steps <= result.unet_calls.backwards <= steps * inner  # at least one gradient forward per null-text step


def test_a_reused_inversion_still_counts(editor):
    image = (np.random.default_rng(1).random((32, 32, 3)) * 255).astype(np.uint8)
    first = editor.remove(image, "blue square", prompt="a red circle and a blue square", preset="fast", progress=False, force=True)
    again = editor.remove(image, "blue square", prompt="a red circle and a blue square", preset="fast", progress=False, force=True)
    assert again.unet_calls == first.unet_calls  # the reused inversion's and the reused branches' calls included
    assert again.timings["suppress"] == first.timings["suppress"]
    other_fill = editor.remove(image, "blue square", prompt="a red circle and a blue square", preset="fast", progress=False, force=True, fill="surroundings")
    assert other_fill.unet_calls.forwards == first.unet_calls.forwards - repaint_steps(PRESETS["fast"].steps)
    assert np.array_equal(np.asarray(first.image), np.asarray(again.image))


def test_an_explicit_empty_target_list_turns_negation_reading_off(editor):
    auto = editor.generate("a red circle without a blue square", seed=0, steps=4, progress=False)
    plain = editor.generate("a red circle without a blue square", remove=[], seed=0, steps=4, progress=False)
    assert auto.targets == ["blue square"] and plain.targets == []
    assert plain.unet_calls.backwards == 0 and auto.unet_calls.backwards > 0


def test_a_target_before_other_words_is_warned_about_once_with_the_papers_rows(editor, caplog):
    image = np.full((64, 64, 3), 200, np.uint8)
    with caplog.at_level(logging.WARNING, logger="unwant"):
        editor.remove(image, "red circle", prompt="a red circle and a blue square", preset="fast", steps=2, progress=False, force=True)
        assert not caplog.records  # by default SWR covers the words after the target: nothing to warn about
        for _ in range(2):
            editor.remove(image, "red circle", prompt="a red circle and a blue square", preset="fast", steps=2, progress=False, force=True,
                          suppress_words_after=False)
        editor.remove(image, "blue square", prompt="a red circle and a blue square", preset="fast", steps=2, progress=False, force=True,
                      suppress_words_after=False)
    notes = [r.getMessage() for r in caplog.records if "end of the prompt" in r.getMessage()]
    assert len(notes) == 1 and "'and a blue square'" in notes[0]
