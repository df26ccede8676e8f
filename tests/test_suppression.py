"""Suppression core on tiny models: token layout, SWR, negation, attention capture, ITO losses, the editor's loop."""

import numpy as np
import pytest
import torch
from diffusers import UNet2DConditionModel
from diffusers.models.attention_processor import AttnProcessor

from editor.editor import Editor
from unwant.sd.errors import UnwantError
from unwant.sd.text import encode_prompt
from unwant.sd.unet import model_output
from suppression.attention import (
    AttentionStore,
    RecordingAttnProcessor,
    StopForward,
    default_attention_factor,
    recorded_layers,
    recording_attention,
)
from suppression.config import SuppressionConfig
from suppression.ito import attention_loss, optimize_embedding
from suppression.negation import negated_targets
from suppression.swr import soft_weight, soft_weighted_regularization
from suppression.tokens import locate_tokens
from benchmarks.toyworld.architecture import make_tokenizer, make_unet

EOT, BANG = 49407, 0  # [EOT] and "!" (SD 2.x's padding) token ids
PROMPT = "a man with glasses"



@pytest.fixture(scope="module")
def sd1_tokenizer():
    return make_tokenizer()


@pytest.fixture(scope="module")
def sd2_tokenizer():
    return make_tokenizer("!")


def pieces(tokenizer, ids, positions):
    return [tokenizer.convert_ids_to_tokens(ids[p]) for p in positions]


def padded_ids(tokenizer, prompt):
    return tokenizer(prompt, padding="max_length", max_length=77, truncation=True).input_ids


# -- token location --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prompt, target, expected",
    [
        ("a man with eyeglasses", "eyeglasses", ["eye", "glasses</w>"]),
        ("a photo with a watermark", "watermark", ["water", "mark</w>"]),
        ("a man with glasses", "glasses", ["glasses</w>"]),
    ],
)
def test_every_bpe_piece_of_the_target_is_located(sd1_tokenizer, prompt, target, expected):
    layout = locate_tokens(sd1_tokenizer, prompt, target)
    ids = padded_ids(sd1_tokenizer, prompt)
    assert pieces(sd1_tokenizer, ids, layout.target_positions) == expected
    assert layout.target_positions == tuple(range(layout.length - 1 - len(expected), layout.length - 1))  # the last word


def test_matching_ignores_case(sd1_tokenizer):
    lower = locate_tokens(sd1_tokenizer, "a man with glasses", "glasses")
    assert locate_tokens(sd1_tokenizer, "A Man With GLASSES", "Glasses").target_positions == lower.target_positions
    assert locate_tokens(sd1_tokenizer, "a man with glasses", "GLASSES").target_positions == lower.target_positions == (4,)


def test_several_targets_and_their_kept_complement(sd1_tokenizer):
    prompt = "a man with eyeglasses and a watermark"
    layout = locate_tokens(sd1_tokenizer, prompt, ["eyeglasses", "watermark"])
    ids = padded_ids(sd1_tokenizer, prompt)
    assert pieces(sd1_tokenizer, ids, layout.target_positions) == ["eye", "glasses</w>", "water", "mark</w>"]
    assert pieces(sd1_tokenizer, ids, layout.kept_positions) == ["a</w>", "man</w>", "with</w>", "and</w>", "a</w>"]
    assert layout.word_positions == tuple(range(1, layout.length - 1))
    assert layout.suppressed_positions == layout.target_positions + layout.eot_positions
    assert not set(layout.kept_positions) & set(layout.suppressed_positions)
    assert 0 not in layout.suppressed_positions  # [SOT] is never touched
    # words after the first target have seen it through the causal encoder: "and a" between the two targets
    assert pieces(sd1_tokenizer, ids, layout.following_positions) == ["and</w>", "a</w>"]
    assert layout.swr_positions(words_after=False) == layout.suppressed_positions
    assert sorted(layout.swr_positions()) == list(range(layout.target_positions[0], 77))


def test_a_last_target_has_no_following_words(sd1_tokenizer):
    layout = locate_tokens(sd1_tokenizer, "a red circle and a blue square", "blue square")
    assert layout.following_positions == () and layout.swr_positions() == layout.suppressed_positions


def test_repeated_occurrences_are_all_located(sd1_tokenizer):
    prompt = "a hat on a chair and a hat on a table"
    layout = locate_tokens(sd1_tokenizer, prompt, "hat")
    ids = padded_ids(sd1_tokenizer, prompt)
    assert len(layout.target_positions) == 2
    assert pieces(sd1_tokenizer, ids, layout.target_positions) == ["hat</w>", "hat</w>"]


@pytest.mark.parametrize("which, pad", [("sd1", EOT), ("sd2", BANG)])
def test_eot_block_runs_from_n_minus_1_to_76(sd1_tokenizer, sd2_tokenizer, which, pad):
    tokenizer = sd1_tokenizer if which == "sd1" else sd2_tokenizer
    layout = locate_tokens(tokenizer, PROMPT, "glasses")
    n = len(tokenizer(PROMPT).input_ids)
    assert layout.length == n == 6
    assert layout.eot_positions == tuple(range(n - 1, 77))
    ids = padded_ids(tokenizer, PROMPT)
    assert ids[n - 1] == EOT  # the first [EOT] opens the block in both cases ...
    assert all(i == pad for i in ids[n:])  # ... and the padding (EOT for SD 1.x, "!" for SD 2.x) fills it


def test_missing_target_lists_the_prompt_words(sd1_tokenizer):
    with pytest.raises(UnwantError) as error:
        locate_tokens(sd1_tokenizer, "A man with glasses", "hat")
    message = str(error.value)
    assert "'hat'" in message
    assert "a, man, with, glasses" in message


def test_one_missing_target_of_several_is_an_error(sd1_tokenizer):
    with pytest.raises(UnwantError, match="'hat'"):
        locate_tokens(sd1_tokenizer, PROMPT, ["glasses", "hat"])


@pytest.mark.parametrize(
    "prompt, target, expected",
    [
        ("a man with eyeglasses", "glasses", ["eye", "glasses</w>"]),  # the compound, every piece of it
        ("a woman in sunglasses", "glasses", ["sunglasses</w>"]),  # one piece in CLIP's vocabulary, still matched
        ("a photo with a watermark", "mark", ["water", "mark</w>"]),  # a short target split off by the tokenizer
        ("a man with a wristwatch", "watch", ["wrist", "watch</w>"]),
        ("that chat about a hat", "hat", ["hat</w>"]),  # never inside "that" or "chat"
        ("a red circle and a blue square", "blue square", ["blue</w>", "square</w>"]),
    ],
)
def test_targets_match_whole_words_or_the_end_of_a_compound(sd1_tokenizer, prompt, target, expected):
    layout = locate_tokens(sd1_tokenizer, prompt, target)
    assert pieces(sd1_tokenizer, padded_ids(sd1_tokenizer, prompt), layout.target_positions) == expected
    # ITO keeps every other word: no piece of the compound is protected as a word to keep
    assert not set(layout.kept_positions) & set(layout.target_positions)


UNRELATED = {"that chat": "hat", "a string and a spring": "ring", "a glass of water": "glasses", "a woman wearing a dress": "ring",
             "a german shepherd": "man", "a content cat": "tent", "a boy in a tophat": "hat"}


@pytest.mark.parametrize("prompt", list(UNRELATED))
def test_a_target_is_never_found_inside_an_unrelated_word(sd1_tokenizer, prompt):
    # short targets end many words ("wea|ring", "ger|man", "con|tent"): only a tokenizer split makes them a compound
    target = UNRELATED[prompt]
    with pytest.raises(UnwantError, match="is not in the prompt"):
        locate_tokens(sd1_tokenizer, prompt, target)


LONG = "a photo of " + " and ".join(["a red circle next to a green square"] * 10)


def test_a_target_after_the_cut_is_refused_with_where_it_starts(sd1_tokenizer):
    prompt = LONG + " and a hat"
    with pytest.raises(UnwantError, match=r"too long: it has \d+ tokens and the text encoder reads 77, but 'hat' starts at token (\d+)") as error:
        locate_tokens(sd1_tokenizer, prompt, "hat")
    start = len(sd1_tokenizer(prompt).input_ids) - 2
    assert f"starts at token {start}:" in str(error.value) and start > 76


def test_a_target_before_the_cut_is_found_and_the_eot_block_is_the_last_row(sd1_tokenizer):
    layout = locate_tokens(sd1_tokenizer, "a hat and " + LONG, "hat")
    assert layout.target_positions == (2,) and layout.length == 77 and layout.eot_positions == (76,)


def test_a_long_prompt_warns_once_where_it_is_cut(caplog, tiny_pipe):
    editor = Editor(tiny_pipe)
    with caplog.at_level("WARNING", logger="unwant"):
        editor.generate(LONG, remove=[], seed=0, steps=1, progress=False)
        editor.generate(LONG, remove=[], seed=0, steps=1, progress=False)
    notes = [r.getMessage() for r in caplog.records if "text encoder reads 77" in r.getMessage()]
    assert len(notes) == 1
    assert "cut after token 75" in notes[0] and "green square'" in notes[0]


# -- soft-weighted regularization ------------------------------------------------------------------

POSITIONS = (4, 5, *range(10, 77))  # two target pieces and an [EOT] block


def embeddings(seed=0, d=16, batch=None):
    g = torch.Generator().manual_seed(seed)
    shape = (77, d) if batch is None else (batch, 77, d)
    return torch.randn(shape, generator=g) * 3


def block_singular_values(embeds, positions=POSITIONS):
    return torch.linalg.svdvals(embeds[..., list(positions), :].double())


@pytest.mark.parametrize(
    "prompt, targets, expected",
    [
        ("a man with glasses", ["glasses"], []),
        ("a man with glasses.", ["glasses"], []),  # punctuation is not a word
        ("a red circle and a blue square", ["red circle"], ["and", "a", "blue", "square"]),
        ("a Red Circle and a hat", ["red circle", "hat"], []),  # the last target ends the prompt
        ("a hat, a cat and a hat", ["hat"], []),  # its last occurrence counts
    ],
)
def test_words_after_the_target(prompt, targets, expected):
    from suppression.tokens import words_after

    assert words_after(prompt, targets) == expected


def test_soft_weight_formula():
    s = torch.tensor([0.5, 1.0, 4.0])
    assert torch.allclose(soft_weight(s, 1.0), s * torch.exp(-s))
    assert torch.equal(soft_weight(s, 0.0), s)


def test_swr_keeps_shape_dtype_and_leaves_other_rows_bitwise():
    c = embeddings()
    out = soft_weighted_regularization(c, POSITIONS, alpha=1.0)
    assert out.shape == c.shape and out.dtype == c.dtype
    others = [p for p in range(77) if p not in POSITIONS]
    assert torch.equal(out[others], c[others])
    assert not torch.allclose(out[list(POSITIONS)], c[list(POSITIONS)])
    assert torch.equal(c, embeddings())  # the input is not modified in place


def test_swr_alpha_zero_is_identity():
    c = embeddings()
    assert torch.allclose(soft_weighted_regularization(c, POSITIONS, alpha=0.0), c, atol=1e-4)


def test_larger_alpha_shrinks_singular_values_more():
    c = embeddings()
    spectra = [block_singular_values(soft_weighted_regularization(c, POSITIONS, a)) for a in (0.0, 0.01, 0.1, 1.0)]
    for weaker, stronger in zip(spectra, spectra[1:]):
        assert torch.all(stronger <= weaker + 1e-5)
        assert stronger.sum() < weaker.sum()
    original = block_singular_values(c)
    expected = torch.sort(soft_weight(original, 0.1), descending=True).values
    assert torch.allclose(spectra[2], expected, rtol=1e-4, atol=1e-4)


def test_negative_alpha_strengthens():
    c = embeddings()
    original = block_singular_values(c)
    grown = block_singular_values(soft_weighted_regularization(c, POSITIONS, alpha=-0.01))
    assert torch.all(grown >= original - 1e-5) and grown.sum() > original.sum()


def test_swr_does_not_increase_the_rank():
    g = torch.Generator().manual_seed(1)
    c = torch.randn(77, 16, generator=g)
    basis = torch.randn(2, 16, generator=g)
    c[list(POSITIONS)] = torch.randn(len(POSITIONS), 2, generator=g) @ basis  # a rank-2 block
    out = soft_weighted_regularization(c, POSITIONS, alpha=1.0)
    assert torch.linalg.matrix_rank(out[list(POSITIONS)].double(), atol=1e-4) <= 2


def test_swr_batched_matches_unbatched():
    c = embeddings(batch=2)
    both = soft_weighted_regularization(c, POSITIONS, 1.0)
    assert both.shape == (2, 77, 16)
    for row in range(2):
        single = soft_weighted_regularization(c[row], POSITIONS, 1.0)
        assert torch.allclose(both[row], single, atol=1e-5)
        assert torch.allclose(soft_weighted_regularization(c[row : row + 1], POSITIONS, 1.0)[0], single, atol=1e-5)


def test_swr_keeps_half_precision():
    c = embeddings().half()
    out = soft_weighted_regularization(c, POSITIONS, 1.0)
    assert out.dtype == torch.float16 and torch.isfinite(out).all()


# -- negation --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prompt, expected",
    [
        ("a man without glasses", ["glasses"]),
        ("a street with no cars", ["cars"]),
        ("a room, no people", ["people"]),
        ("without a hat", ["hat"]),
        ("A Man Without Glasses.", ["glasses"]),
        ("a man with glasses", []),
        ("a cat on a sofa", []),
    ],
)
def test_negated_targets(prompt, expected):
    assert negated_targets(prompt) == expected


# -- attention capture -----------------------------------------------------------------------------


def sd15_shaped_unet():
    torch.manual_seed(0)
    return UNet2DConditionModel(
        block_out_channels=(32, 64, 64, 64),
        layers_per_block=1,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        cross_attention_dim=8,
        attention_head_dim=2,
        norm_num_groups=8,
    )


def block_of(name):
    return ".".join(name.split(".")[:2])


def test_tiny_unet_records_its_coarsest_cross_attention(tiny_pipe):
    unet = tiny_pipe.unet
    assert default_attention_factor(unet) == 2
    layers = recorded_layers(unet, 2)
    assert {block_of(n) for n in layers} == {"down_blocks.1", "up_blocks.0"}  # the middle block is left out
    assert sum("attn2" in n for n in layers) == 3 and sum("attn1" in n for n in layers) == 3
    assert set(layers) <= set(unet.attn_processors)


def test_toyworld_unet_records_at_factor_2():
    torch.manual_seed(0)
    unet = make_unet(widths=(16, 32, 32))  # same layout as the shipped model, narrower: random weights are fine
    assert default_attention_factor(unet) == 2
    assert {block_of(n) for n in recorded_layers(unet, 2)} == {"down_blocks.1", "up_blocks.1"}


def test_sd15_shaped_unet_records_at_a_quarter_of_the_latent():
    unet = sd15_shaped_unet()
    assert default_attention_factor(unet) == 4
    layers = recorded_layers(unet, 4)
    assert {block_of(n) for n in layers} == {"down_blocks.2", "up_blocks.1"}
    assert sum("attn2" in n for n in layers) == 1 + 2  # one down attention, layers_per_block + 1 up attentions
    store = AttentionStore(layers)
    latent = torch.randn(1, 4, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad(), recording_attention(unet, store):
        unet(latent, 10, encoder_hidden_states=torch.randn(1, 77, 8)).sample
    assert store.cross().shape == (1, (32 // 4) ** 2, 77)
    assert store.self_attention().shape == (1, 64, 64)


def unet_inputs(batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 4, 16, 16, generator=g), torch.randn(batch, 77, 8, generator=g)


def tiny_store(unet):
    return AttentionStore(recorded_layers(unet, default_attention_factor(unet)))


def test_recorded_maps_have_the_right_shapes_and_are_distributions(tiny_pipe):
    unet = tiny_pipe.unet
    store = tiny_store(unet)
    z, c = unet_inputs()
    with torch.no_grad(), recording_attention(unet, store):
        unet(z, 500, encoder_hidden_states=c)
    assert len(store._cross) == 3 and len(store._self) == 3  # one map per recorded layer
    cross, self_attn = store.cross(), store.self_attention()
    assert cross.shape == (2, 64, 77)  # 16 x 16 latent / factor 2 = 8 x 8 pixels
    assert self_attn.shape == (2, 64, 64)
    assert torch.allclose(cross.sum(-1), torch.ones(2, 64), atol=1e-5)
    assert torch.allclose(self_attn.sum(-1), torch.ones(2, 64), atol=1e-5)
    assert (cross >= 0).all() and (self_attn >= 0).all()


@pytest.mark.parametrize("original", ["default", "plain"])
def test_recording_does_not_change_the_unet_output(tiny_pipe, original):
    unet = tiny_pipe.unet
    before = unet.attn_processors
    if original == "plain":
        unet.set_attn_processor(AttnProcessor())
    try:
        z, c = unet_inputs()
        with torch.no_grad():
            expected = unet(z, 500, encoder_hidden_states=c).sample
            store = tiny_store(unet)
            with recording_attention(unet, store):
                recorded = unet(z, 500, encoder_hidden_states=c).sample
            assert store._cross  # the recording processors really ran
            # every layer recording (the middle block too) still gives the same output
            everything = AttentionStore(list(unet.attn_processors))
            with recording_attention(unet, everything):
                all_recorded = unet(z, 500, encoder_hidden_states=c).sample
        assert torch.allclose(recorded, expected, atol=1e-5)
        assert torch.allclose(all_recorded, expected, atol=1e-5)
    finally:
        unet.set_attn_processor(before)


def test_processors_are_installed_then_restored(tiny_pipe):
    unet = tiny_pipe.unet
    before = unet.attn_processors
    store = tiny_store(unet)
    z, c = unet_inputs(batch=1)
    with torch.no_grad(), recording_attention(unet, store):
        inside = unet.attn_processors
        for name, proc in inside.items():
            if name in store.layers:
                assert isinstance(proc, RecordingAttnProcessor)
            else:
                assert proc is before[name]
        unet(z, 500, encoder_hidden_states=c)
    after = unet.attn_processors
    assert after.keys() == before.keys()
    assert all(after[name] is before[name] for name in before)


def test_processors_are_restored_after_an_exception(tiny_pipe):
    unet = tiny_pipe.unet
    before = unet.attn_processors
    with pytest.raises(RuntimeError, match="boom"):
        with recording_attention(unet, tiny_store(unet)):
            assert any(isinstance(p, RecordingAttnProcessor) for p in unet.attn_processors.values())
            raise RuntimeError("boom")
    after = unet.attn_processors
    assert all(after[name] is before[name] for name in before)
    assert not any(isinstance(p, RecordingAttnProcessor) for p in after.values())


def test_early_stop_after_the_last_recorded_layer_keeps_complete_maps(tiny_pipe):
    unet = tiny_pipe.unet
    z, c = unet_inputs(batch=1)
    full = tiny_store(unet)
    with torch.no_grad(), recording_attention(unet, full):
        unet(z, 500, encoder_hidden_states=c)

    store = tiny_store(unet)
    store.stop_early = True
    later = []  # modules that run after the last recorded layer must not run
    hooks = [unet.up_blocks[1].register_forward_hook(lambda *a: later.append("up1")), unet.conv_out.register_forward_hook(lambda *a: later.append("out"))]
    try:
        with torch.no_grad(), recording_attention(unet, store), pytest.raises(StopForward):
            unet(z, 500, encoder_hidden_states=c)
    finally:
        for hook in hooks:
            hook.remove()
    assert later == []
    assert store.last_layer == "up_blocks.0.attentions.1.transformer_blocks.0.attn2.processor"
    assert len(store._cross) == len(full._cross) and len(store._self) == len(full._self)
    assert torch.allclose(store.cross(), full.cross()) and torch.allclose(store.self_attention(), full.self_attention())


# -- ITO ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("loss", ["reference", "paper"])
def test_ito_gradient_reaches_the_embedding_and_lowers_the_loss(tiny_pipe, loss):
    unet = tiny_pipe.unet
    layout = locate_tokens(tiny_pipe.tokenizer, PROMPT, "glasses")
    cond = encode_prompt(tiny_pipe, PROMPT)
    z = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    store = tiny_store(unet)
    side = 16 // default_attention_factor(unet)
    config = SuppressionConfig(loss=loss, ito_iterations=4)

    def maps_of(embedding):
        store.reset()
        store.stop_early = True
        try:
            model_output(tiny_pipe, z, 500, embedding)
        except StopForward:
            pass
        finally:
            store.stop_early = False
        return store.cross()[0], store.self_attention()[0]

    def loss_at(embedding):
        with torch.no_grad():
            cross_hat, self_hat = maps_of(embedding)
            return float(attention_loss(cross, cross_hat, self_attn, self_hat, layout, (side, side), config))

    with recording_attention(unet, store):
        with torch.no_grad():
            cross, self_attn = maps_of(cond)
        start = soft_weighted_regularization(cond, layout.suppressed_positions, config.alpha)
        embedding = start.clone().requires_grad_(True)
        cross_hat, self_hat = maps_of(embedding)
        (grad,) = torch.autograd.grad(attention_loss(cross, cross_hat, self_attn, self_hat, layout, (side, side), config), embedding)
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0
        step = 1e-3 / float(grad.norm())  # a small step along the gradient must lower the loss
        result = optimize_embedding(start, maps_of, cross, self_attn, layout, (side, side), config, step)
        assert loss_at(result) < loss_at(start)
    assert not result.requires_grad
    assert result.shape == start.shape
    assert not torch.equal(result, start)
    assert torch.equal(start, soft_weighted_regularization(cond, layout.suppressed_positions, config.alpha))  # not in place


# -- the editor's two-branch loop ------------------------------------------------------------------

T, N = 10, 3  # steps and ITO iterations: tau window (2, 4)


@pytest.fixture(scope="module")
def editor(tiny_pipe):
    return Editor(tiny_pipe, "tiny")


def expected_calls(steps, iterations, config=SuppressionConfig()):
    """(forwards, rows) of editor/sampler.run_branches with guidance != 1.

    Before tau one guided forward (2 rows) serves both branches; at an ITO step the original branch (2 rows), the
    early-stopped ITO forwards (1 row each) and the suppressed branch (2 rows) run apart; every other step batches
    both branches in one forward of 4 rows."""
    swr_from, ito_until = config.steps_window(steps)
    ito_steps = ito_until - swr_from if config.optimize else 0
    batched = steps - swr_from - ito_steps
    forwards = swr_from + ito_steps * (2 + iterations) + batched
    rows = 2 * swr_from + ito_steps * (4 + iterations) + 4 * batched
    return forwards, rows


def test_generate_unet_calls_follow_the_schedule(editor):
    result = editor.generate(PROMPT, remove="glasses", seed=0, steps=T, ito_iterations=N, progress=False)
    assert SuppressionConfig().steps_window(T) == (2, 4)
    forwards, rows = expected_calls(T, N)
    assert (forwards, rows) == (2 + 2 * (2 + N) + 6, 4 + 2 * (4 + N) + 24)
    assert result.unet_calls.forwards == forwards
    assert result.unet_calls.rows == rows
    assert result.unet_calls.backwards == 2 * N  # one backward per ITO iteration, at the 2 ITO steps
    assert result.targets == ["glasses"]
    assert result.image.size == (editor.native_size, editor.native_size) == (32, 32)
    assert result.attention.shape == result.suppressed_attention.shape == (8, 8)
    assert np.isfinite(result.attention).all() and result.attention.sum() > 0


@pytest.mark.parametrize("n", [1, 5])
def test_each_ito_iteration_costs_two_forwards_in_total(editor, n):
    """One forward per iteration at each of the 2 ITO steps: N iterations more cost exactly 2 N forwards."""
    base = editor.generate(PROMPT, remove="glasses", seed=0, steps=T, ito_iterations=0, progress=False).unet_calls
    more = editor.generate(PROMPT, remove="glasses", seed=0, steps=T, ito_iterations=n, progress=False).unet_calls
    assert more.forwards - base.forwards == 2 * n
    assert more.backwards == 2 * n and base.backwards == 0


def test_generate_without_optimization_has_no_backward(editor):
    result = editor.generate(PROMPT, remove="glasses", seed=0, steps=T, optimize=False, progress=False)
    forwards, rows = expected_calls(T, N, SuppressionConfig(optimize=False))
    assert (result.unet_calls.forwards, result.unet_calls.rows) == (forwards, rows) == (T, 2 * 2 + 4 * (T - 2))
    assert result.unet_calls.backwards == 0


def test_generate_without_targets_runs_one_branch(editor):
    result = editor.generate(PROMPT, seed=0, steps=T, progress=False)
    assert result.targets == []
    assert result.unet_calls.forwards == T and result.unet_calls.backwards == 0
    assert result.attention is None


def test_generate_reads_the_target_from_a_negated_prompt(editor):
    result = editor.generate("a man without glasses", seed=0, steps=4, ito_iterations=1, progress=False)
    assert result.targets == ["glasses"]


def test_generate_is_deterministic_per_seed(editor):
    kwargs = dict(remove="glasses", steps=4, ito_iterations=2, progress=False)
    a = editor.generate(PROMPT, seed=3, **kwargs)
    b = editor.generate(PROMPT, seed=3, **kwargs)
    c = editor.generate(PROMPT, seed=4, **kwargs)
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
    assert np.array_equal(a.attention, b.attention)
    assert not np.array_equal(np.asarray(a.image), np.asarray(c.image))


def test_generate_suppression_changes_the_image(editor):
    plain = editor.generate(PROMPT, seed=0, steps=4, progress=False)
    removed = editor.generate(PROMPT, remove="glasses", seed=0, steps=4, ito_iterations=2, progress=False)
    assert not np.array_equal(np.asarray(plain.image), np.asarray(removed.image))


def test_generate_restores_the_processors(editor):
    before = editor.pipe.unet.attn_processors
    editor.generate(PROMPT, remove="glasses", seed=0, steps=4, ito_iterations=1, progress=False)
    after = editor.pipe.unet.attn_processors
    assert all(after[name] is before[name] for name in before)


def test_generate_with_an_absent_target_fails_before_sampling(editor):
    with pytest.raises(UnwantError, match="a, man, with, glasses"):
        editor.generate(PROMPT, remove="hat", seed=0, steps=4, progress=False)


def test_the_last_recorded_layer_is_found_by_structure_not_by_string():
    from suppression.attention import AttentionStore

    # SDXL's blocks have ten transformer layers: as strings "transformer_blocks.9" sorts after ".10"
    names = [f"up_blocks.0.attentions.2.transformer_blocks.{i}.attn{k}.processor" for i in range(10) for k in (1, 2)]
    assert AttentionStore(names).last_layer == "up_blocks.0.attentions.2.transformer_blocks.9.attn2.processor"
    names += ["up_blocks.0.attentions.2.transformer_blocks.10.attn1.processor"]
    assert AttentionStore(names).last_layer == "up_blocks.0.attentions.2.transformer_blocks.10.attn1.processor"
