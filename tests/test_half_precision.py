"""float16 pipelines (the default on CUDA) keep the UNet's weights in float16 through null-text inversion and ITO, and
reconstruct as float32 does: the embeddings are optimised in float32, the UNet's backward pass is loss-scaled."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import SCENES, TOYWORLD_MODEL

SCENE = "scene-01.png"
STEPS = 4  # float16 convolutions are slow on a CPU; the comparison holds at any step count, and 4 is the fewest with an ITO step


@pytest.fixture(scope="module")
def editors():
    if not (TOYWORLD_MODEL / "model_index.json").exists():
        pytest.skip("the toy-world model is not in editor/models/toyworld")
    from editor import Editor

    return {dtype: Editor.from_pretrained("toyworld", device="cpu", dtype=dtype) for dtype in ("float16", "float32")}


def test_null_text_in_float16_reconstructs_as_float32_does(editors):
    caption = json.loads((SCENES / "captions.json").read_text())[SCENE]
    scene = SCENES / SCENE
    half, full = editors["float16"], editors["float32"]
    dtypes = set()
    hook = half.pipe.unet.register_forward_pre_hook(lambda module, args: dtypes.add(module.conv_in.weight.dtype))
    try:
        a = half.reconstruct(scene, prompt=caption, inversion="null-text", steps=STEPS, progress=False)
        removed = half.remove(scene, "blue square", prompt=caption, preset="fast", steps=STEPS, fill="model", optimize=True,
                              ito_iterations=3, progress=False)  # fast with ITO, as few iterations as used to be its own
    finally:
        hook.remove()
    b = full.reconstruct(scene, prompt=caption, inversion="null-text", steps=STEPS, progress=False)
    assert dtypes == {torch.float16}  # no float32 copy of the UNet at any point, ITO included
    assert a.unet_calls.backwards > 0 and removed.unet_calls.backwards > 0
    # ITO's float64 loss backpropagates through the float16 UNet without loss scaling: nothing overflows or vanishes
    assert torch.isfinite(torch.from_numpy(removed.suppressed_attention)).all() and removed.suppressed_attention.max() > 0
    assert a.psnr == pytest.approx(b.psnr, abs=0.1)
    assert {p.dtype for p in half.pipe.unet.parameters()} == {torch.float16}
