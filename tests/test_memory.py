"""Low-memory options work together with our attention recorders and do not change the result."""

import numpy as np
import pytest
from diffusers.models.attention_processor import SlicedAttnProcessor

from editor import Editor
from unwant.sd.errors import UnwantError
from editor.memory import apply_memory_options
from tiny_models import tiny_pipeline


def _generate(editor):
    return editor.generate("a red circle and a blue square", remove="blue square", seed=3, steps=6, progress=False)


def test_attention_slicing_keeps_the_result_and_its_processors():
    plain = np.asarray(_generate(Editor(tiny_pipeline())).image, dtype=np.int16)
    pipe = tiny_pipeline()
    apply_memory_options(pipe, ["attention-slicing"], pipe.device)
    sliced = np.asarray(_generate(Editor(pipe)).image, dtype=np.int16)
    assert np.abs(plain - sliced).max() <= 2  # same maths, other summation order
    assert all(isinstance(p, SlicedAttnProcessor) for p in pipe.unet.attn_processors.values())


def test_vae_slicing_and_tiling_run_with_removal():
    pipe = tiny_pipeline()
    apply_memory_options(pipe, ["vae-slicing", "vae-tiling"], pipe.device)
    image = (np.random.default_rng(0).random((48, 40, 3)) * 255).astype(np.uint8)
    result = Editor(pipe).remove(image, "blue square", prompt="a red circle and a blue square", preset="fast", progress=False, force=True)
    assert result.image.size == (40, 48)


def test_offload_needs_a_gpu_and_unknown_options_are_named():
    pipe = tiny_pipeline()
    with pytest.raises(UnwantError, match="needs --device cuda"):
        apply_memory_options(pipe, ["offload"], pipe.device)
    with pytest.raises(UnwantError, match="attention-slicing, vae-slicing, vae-tiling, offload"):
        apply_memory_options(pipe, ["turbo"], pipe.device)
