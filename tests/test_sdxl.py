"""SDXL as shipped (benchmarks/configs/sdxl), tiny: two text encoders, the pooled embedding and size conditioning
exactly as diffusers' own SDXL pipeline computes them, suppression on both encoders and on the pooled embedding, the
attention resolution of the real UNet, the float16 VAE, and loading. generate / remove / reconstruct / presence /
batch / the command line run on it with every other shipped configuration in test_shipped_models.py."""

from __future__ import annotations

import pytest
import torch
from diffusers import UNet2DConditionModel

from benchmarks.real_configs import build_pipeline, load_config
from editor import Editor
from editor.loading import load_pipeline
from editor.removal.sampler import Plan, run_branches, swr_embedding
from unwant.sd.conditioning import pooled_of, token_rows, uses_pooled_embedding
from unwant.sd.ddim import DDIM
from unwant.sd.text import encode_prompt, encoder_columns
from suppression.attention import default_attention_factor, recorded_layers
from suppression.config import SuppressionConfig
from suppression.pooled import suppressed_pooled
from suppression.swr import soft_weighted_regularization
from suppression.tokens import locate_tokens

PROMPT, TARGET = "a red circle and a blue square", "blue square"


@pytest.fixture(scope="module")
def pipe():
    return build_pipeline("sdxl", tiny=True)


def test_the_embedding_is_what_diffusers_sdxl_pipeline_encodes(pipe):
    cond = encode_prompt(pipe, PROMPT)
    tokens, _, pooled, _ = pipe.encode_prompt(PROMPT, device="cpu", do_classifier_free_guidance=False)
    assert cond.shape == (1, 78, pipe.unet.config.cross_attention_dim)
    assert torch.equal(token_rows(cond, pipe.unet), tokens) and torch.equal(pooled_of(cond, pipe.unet), pooled)
    assert not cond[0, -1, pooled.shape[-1]:].any()  # the pooled row's padding
    # SDXL base's unconditional input is zeros, both the tokens and the pooled embedding
    _, negative, _, negative_pooled = pipe.encode_prompt(PROMPT, device="cpu", do_classifier_free_guidance=True)
    empty = encode_prompt(pipe, "")
    assert torch.equal(token_rows(empty, pipe.unet), negative) and torch.equal(pooled_of(empty, pipe.unet), negative_pooled)
    assert not empty.any()


def test_the_loop_samples_what_diffusers_sdxl_pipeline_samples(pipe):
    # the same DDIM, the same x_T: the pooled embedding and the size ids reach the UNet as the pipeline sends them
    steps, x_T = 3, torch.randn(1, 4, 16, 12, generator=torch.Generator().manual_seed(0))  # not square: ids are (h, w)
    cond, uncond = encode_prompt(pipe, PROMPT), encode_prompt(pipe, "")
    ours = run_branches(pipe, x_T, Plan(steps, cond, [uncond] * steps, 7.5), progress=False).original
    shipped = pipe.scheduler
    try:
        pipe.scheduler = DDIM.of(pipe, steps).sampler
        theirs = pipe(PROMPT, num_inference_steps=steps, latents=x_T.clone(), height=128, width=96, guidance_scale=7.5,
                      output_type="latent").images
    finally:
        pipe.scheduler = shipped
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


def test_both_tokenizers_place_the_words_alike(pipe):
    # the second pads with "!" instead of [EOT]: the same pieces at the same positions, so one layout serves both
    first, second = (locate_tokens(tokenizer, PROMPT, TARGET) for tokenizer in (pipe.tokenizer, pipe.tokenizer_2))
    assert pipe.tokenizer_2.pad_token == "!" and pipe.tokenizer.pad_token == "<|endoftext|>"
    assert first == second


def test_swr_works_on_each_encoders_columns_and_suppresses_the_pooled_embedding(pipe):
    cond = encode_prompt(pipe, PROMPT)
    layout = locate_tokens(pipe.tokenizer, PROMPT, TARGET)
    config = SuppressionConfig()
    plan = Plan(4, cond, [cond] * 4, 7.5, layout, config, suppressed_pooled=suppressed_pooled(pipe, PROMPT, layout, config))
    suppressed = swr_embedding(pipe, plan)
    rows = layout.swr_positions()
    clip_l, big_g = encoder_columns(pipe)
    assert (clip_l, big_g) == (slice(0, 16), slice(16, None))
    for part in (clip_l, big_g):  # SVD of each encoder's rows on its own
        assert torch.allclose(suppressed[..., :77, part], soft_weighted_regularization(cond[..., :77, part], rows, 1.0))
    untouched = [p for p in range(77) if p not in rows]
    assert torch.equal(suppressed[0, untouched], cond[0, untouched])
    pooled, original = pooled_of(suppressed, pipe.unet), pooled_of(cond, pipe.unet)
    assert torch.equal(pooled, plan.suppressed_pooled) and not torch.allclose(pooled, original)
    # pooled="keep": the prompt's own pooled embedding in the suppressed branch
    assert suppressed_pooled(pipe, PROMPT, layout, SuppressionConfig(pooled="keep")) is None


def test_the_suppressed_pooled_embedding_is_the_swr_eot_row_projected(pipe):
    layout = locate_tokens(pipe.tokenizer, PROMPT, TARGET)
    ids = pipe.tokenizer_2(PROMPT, padding="max_length", max_length=77, return_tensors="pt").input_ids
    out = pipe.text_encoder_2(ids)
    eot = layout.length - 1
    assert torch.allclose(pipe.text_encoder_2.text_projection(out.last_hidden_state[:, eot]), out.text_embeds, atol=1e-6)
    final = soft_weighted_regularization(out.last_hidden_state, layout.swr_positions(), 1.0)
    expected = pipe.text_encoder_2.text_projection(final[:, eot])
    torch.testing.assert_close(suppressed_pooled(pipe, PROMPT, layout, SuppressionConfig()), expected)


def test_the_real_unet_reads_32x32_maps_at_1024_px():
    with torch.device("meta"):  # the real 2.6 B parameter layout, no weights
        unet = UNet2DConditionModel.from_config(load_config("sdxl", "unet"))
    factor = default_attention_factor(unet)
    layers = recorded_layers(unet, factor)
    assert uses_pooled_embedding(unet) and unet.config.sample_size // factor == 32
    # latent/4: the 10-layer blocks, 2 attentions down and 3 up, a self- and a cross-attention each
    assert len(layers) == (2 + 3) * 10 * 2 and all(name.startswith(("down_blocks.2", "up_blocks.0")) for name in layers)


def test_a_saved_folder_loads_in_float16_with_a_float32_vae(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "sdxl", safe_serialization=True)
    loaded = load_pipeline(tmp_path / "sdxl", device="cpu", dtype="float16")
    assert type(loaded).__name__ == "StableDiffusionXLPipeline"
    assert loaded.unet.dtype == torch.float16 and loaded.text_encoder_2.dtype == torch.float16
    assert loaded.vae.dtype == torch.float32  # SDXL's VAE overflows in float16 (force_upcast)
    assert load_pipeline(tmp_path / "sdxl", device="cpu", dtype="float32").config.force_zeros_for_empty_prompt


def test_editor_runs_sdxl_at_its_native_size(pipe):
    editor = Editor(pipe)
    assert editor.native_size == 128 and editor.size_multiple == 32  # 1024 and 32 for the real model
    result = editor.generate(PROMPT, remove=TARGET, seed=0, steps=4, progress=False)
    plain = editor.generate(PROMPT, remove=TARGET, seed=0, steps=4, pooled="keep", progress=False)
    assert result.image.size == (128, 128)
    assert result.image.tobytes() != plain.image.tobytes()  # the pooled embedding matters to the suppressed branch
