"""Inversion on the tiny random pipeline: shapes, dtypes, UNet call counts, the DDIM update and reconstruction."""

import pytest
import torch
from tiny_models import tiny_pipeline

from unwant.sd.errors import UnwantError
from inversion import METHODS, invert
from editor.removal.sampler import resample
from inversion.direct import direct_offset
from inversion.null_text import invert_null_text
from unwant.sd.ddim import DDIM
from unwant.sd.text import encode_prompt
from unwant.sd.unet import guided_noise
from unwant.sd.vae import decode_latents, encode_image

T = 3  # sampling steps for the fast tests



def photo(seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, 32, 32, generator=g) * 2 - 1


@pytest.fixture(scope="module")
def inputs(tiny_pipe):
    return encode_image(tiny_pipe, photo()), encode_prompt(tiny_pipe, "a man with glasses")


@pytest.fixture(scope="module")
def vpred_pipe():
    return tiny_pipeline(prediction_type="v_prediction")


def run(pipe, z0, c, method, steps=T, inner_steps=3, **kwargs):
    if method == "null-text":
        return invert_null_text(pipe, z0, c, steps=steps, inner_steps=inner_steps, progress=False, **kwargs)
    return METHODS[method](pipe, z0, c, steps=steps, **kwargs)


def test_encode_decode_shapes(tiny_pipe, inputs):
    z0, c = inputs
    assert z0.shape == (1, 4, 16, 16) and z0.dtype == torch.float32
    assert c.shape == (1, 77, 8)
    image = decode_latents(tiny_pipe, z0)
    assert image.shape == (1, 3, 32, 32) and image.min() >= -1 and image.max() <= 1


@pytest.mark.parametrize("method", list(METHODS))
def test_result_shapes_and_dtypes(tiny_pipe, inputs, method):
    z0, c = inputs
    r = run(tiny_pipe, z0, c, method)
    assert r.method == method and r.guidance == 7.5 and r.seconds > 0
    assert len(r.timesteps) == T and bool((r.timesteps[:-1] > r.timesteps[1:]).all())
    assert torch.equal(r.timesteps, DDIM.of(tiny_pipe, T).timesteps)
    assert len(r.latents) == T + 1 and len(r.uncond_embeddings) == T
    assert all(z.shape == z0.shape and z.dtype == torch.float32 for z in r.latents)
    assert all(u.shape == c.shape and u.dtype == torch.float32 for u in r.uncond_embeddings)
    assert torch.equal(r.latents[-1], z0) and r.x_T is r.latents[0]
    assert r.snaps_to_pivots == (method == "direct")


@pytest.mark.parametrize("method", list(METHODS))
def test_uncond_embeddings(tiny_pipe, inputs, method):
    z0, c = inputs
    r = run(tiny_pipe, z0, c, method)
    empty = encode_prompt(tiny_pipe, "")
    expected = {"ddim": empty, "direct": empty, "negative-prompt": c}
    for u in r.uncond_embeddings:
        if method == "null-text":
            assert not torch.equal(u, empty)  # optimized away from the empty prompt
        else:
            assert torch.equal(u, expected[method])


@pytest.mark.parametrize("method", ["ddim", "negative-prompt", "direct"])
def test_unet_calls_without_optimization(tiny_pipe, inputs, method):
    z0, c = inputs
    calls = run(tiny_pipe, z0, c, method).unet_calls
    assert (calls.forwards, calls.rows, calls.backwards) == (T, T, 0)  # one conditional batch-1 forward per step


def test_unet_calls_null_text(tiny_pipe, inputs):
    z0, c = inputs
    inner = 3
    # never stops early: T pivots + per step 1 cond + `inner` optimized forwards + 1 final guided forward
    calls = run(tiny_pipe, z0, c, "null-text", inner_steps=inner, epsilon=-1.0).unet_calls
    assert (calls.forwards, calls.rows, calls.backwards) == (T + T * (2 + inner),) * 2 + (T * inner,)
    # always stops at the first loss: its step is reused, so T pivots + per step 1 cond + 1 grad-enabled forward
    # (the counter counts that forward as a backward although the threshold test skips the backward pass)
    calls = run(tiny_pipe, z0, c, "null-text", inner_steps=inner, epsilon=1e9).unet_calls
    assert (calls.forwards, calls.rows, calls.backwards) == (3 * T, 3 * T, T)
    # default threshold: between those two, and forwards = 2T + grad forwards + (steps that did not stop early)
    calls = run(tiny_pipe, z0, c, "null-text", inner_steps=inner).unet_calls
    assert T <= calls.backwards <= T * inner
    assert 2 * T + calls.backwards <= calls.forwards <= 3 * T + calls.backwards <= T * (3 + inner)
    assert calls.rows == calls.forwards


def test_guided_noise_batches(tiny_pipe, inputs):
    from unwant.sd.calls import UNetCallCounter

    z0, c = inputs
    u = encode_prompt(tiny_pipe, "")
    t = DDIM.of(tiny_pipe, T).timesteps[0]
    with torch.no_grad(), UNetCallCounter(tiny_pipe.unet) as calls:
        guided = guided_noise(tiny_pipe, z0, t, c, u, 7.5)
        cond = guided_noise(tiny_pipe, z0, t, c, u, 1.0)
        uncond = guided_noise(tiny_pipe, z0, t, u, u, 1.0)
    assert (calls.forwards, calls.rows) == (3, 4)
    torch.testing.assert_close(guided, uncond + 7.5 * (cond - uncond), atol=1e-5, rtol=1e-4)


def test_unknown_method_lists_valid_ones(tiny_pipe, inputs):
    z0, c = inputs
    with pytest.raises(UnwantError, match="null-text.*negative-prompt.*direct"):
        invert(tiny_pipe, z0, c, method="pti", steps=T)


def test_invert_dispatches(tiny_pipe, inputs):
    z0, c = inputs
    r = invert(tiny_pipe, z0, c, method="negative-prompt", steps=2, guidance=3.0, progress=False)
    assert r.method == "negative-prompt" and r.guidance == 3.0 and len(r.latents) == 3


@pytest.mark.parametrize("method", ["ddim", "null-text"])
def test_deterministic(tiny_pipe, inputs, method):
    z0, c = inputs
    a, b = run(tiny_pipe, z0, c, method), run(tiny_pipe, z0, c, method)
    assert all(torch.equal(x, y) for x, y in zip(a.latents, b.latents))
    assert all(torch.equal(x, y) for x, y in zip(a.uncond_embeddings, b.uncond_embeddings))


def test_null_text_keeps_half_precision_weights(inputs):
    # the tiny UNet runs in float16 on this CPU torch: the weights stay float16 (no float32 copy of the UNet), the
    # null embeddings are optimised and returned in float32
    pipe = tiny_pipeline().to(torch.float16)
    pipe.unet.requires_grad_(True)
    seen = set()
    pipe.unet.register_forward_pre_hook(lambda module, args: seen.add(module.conv_in.weight.dtype))
    z0, c = inputs
    r = run(pipe, z0, c, "null-text", steps=2, inner_steps=2, epsilon=-1.0)
    assert seen == {torch.float16}
    assert all(u.dtype == torch.float32 for u in r.uncond_embeddings)
    assert all(not torch.equal(u, r.uncond_embeddings[0]) for u in r.uncond_embeddings[1:])  # the updates happened
    assert all(z.dtype == torch.float32 and torch.isfinite(z).all() for z in r.latents)
    assert all(p.requires_grad and p.grad is None for p in pipe.unet.parameters())  # no weight gradients kept
    # the other methods run the UNet in its own dtype but keep latents in float32
    r = run(pipe, z0, c.half(), "ddim", steps=2)
    assert all(z.dtype == torch.float32 for z in r.latents)
    assert resample(pipe, r, c.half()).dtype == torch.float32


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("step", [0, 2, 4])
def test_ddim_invert_step_then_step_round_trip(prediction_type, step):
    ddim = DDIM(tiny_pipeline(prediction_type=prediction_type).scheduler.config, 5)
    t = ddim.timesteps[step]
    g = torch.Generator().manual_seed(0)
    eps, z = (torch.randn(1, 4, 16, 16, generator=g) for _ in range(2))
    a = ddim.sampler.alphas_cumprod[int(t)]

    def output_at(latent):
        # one fixed noise in both directions: epsilon itself, or the v that implies it for this latent at t
        return eps if prediction_type == "epsilon" else (eps - (1 - a).sqrt() * latent) / a.sqrt()

    z_up = ddim.invert_step(output_at(z), t, z)  # inversion: one step cleaner than t -> t
    z_back = ddim.step(output_at(z_up), t, z_up)  # sampling: t -> one step cleaner
    torch.testing.assert_close(z_back, z, atol=1e-5, rtol=1e-5)


def test_direct_offset():
    z, pivot = torch.randn(1, 4, 2, 2), torch.randn(1, 4, 2, 2)
    torch.testing.assert_close(z + direct_offset(z, pivot), pivot)


@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction"])
def test_direct_resample_reproduces_z0(tiny_pipe, vpred_pipe, inputs, prediction):
    pipe = tiny_pipe if prediction == "epsilon" else vpred_pipe
    z0 = encode_image(pipe, photo())
    c = encode_prompt(pipe, "a man with glasses")
    r = run(pipe, z0, c, "direct", steps=4)
    seen = []
    z = resample(pipe, r, c, callback=lambda d: seen.append(d["i"]))
    assert seen == list(range(4))
    torch.testing.assert_close(z, z0, atol=1e-5, rtol=0)


def test_null_text_reconstructs_better_than_ddim(tiny_pipe, inputs):
    z0, c = inputs
    ddim = run(tiny_pipe, z0, c, "ddim", steps=4)
    null = invert_null_text(tiny_pipe, z0, c, steps=4, progress=False)
    err_ddim = torch.mean((resample(tiny_pipe, ddim, c) - z0) ** 2)
    err_null = torch.mean((resample(tiny_pipe, null, c) - z0) ** 2)
    # the random tiny UNet barely listens to text, so the margin is small but the ordering must hold
    assert err_null < err_ddim


def test_v_prediction_methods_run(vpred_pipe):
    z0 = encode_image(vpred_pipe, photo())
    c = encode_prompt(vpred_pipe, "a man with glasses")
    for method in METHODS:
        r = run(vpred_pipe, z0, c, method, steps=2, inner_steps=2)
        assert torch.isfinite(resample(vpred_pipe, r, c)).all()
