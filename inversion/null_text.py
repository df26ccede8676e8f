"""Null-text inversion: one optimized unconditional embedding per step, Mokady et al. 2023, Sec. 3.2."""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from inversion.ddim import ddim_pivots
from inversion.result import InversionResult
from unwant.sd.calls import UNetCallCounter
from unwant.sd.ddim import DDIM
from unwant.sd.text import encode_prompt
from unwant.sd.unet import model_output


def loss_scale(unet: torch.nn.Module, latent: torch.Tensor) -> float:
    """Static loss scale for the UNet's backward pass: float16 gradients of an MSE near 1e-5 underflow, so a half-
    precision UNet back-propagates the sum of squares (gradients of order 1e-3) and the gradient is scaled back in
    float32. float32 and bfloat16 (float32's exponent range) need none."""
    return float(latent.numel()) if unet.conv_in.weight.dtype == torch.float16 else 1.0


def invert_null_text(
    pipe,
    z0: torch.Tensor,
    prompt_embeds: torch.Tensor,
    steps: int = 50,
    guidance: float = 7.5,
    inner_steps: int = 10,
    lr: float = 1e-2,
    epsilon: float = 1e-5,
    progress: bool = True,
) -> InversionResult:
    """Null-text inversion with Adam and early stopping, Mokady et al. 2023, Sec. 3.2 and Alg. 1.

    The UNet keeps its weights and dtype; the null embeddings are optimised in float32."""
    start = time.perf_counter()
    ddim = DDIM.of(pipe, steps)
    cond = prompt_embeds.detach().float()
    uncond = encode_prompt(pipe, "")
    scale = loss_scale(pipe.unet, z0)
    optimized = []
    with UNetCallCounter(pipe.unet) as calls:
        pivots = ddim_pivots(pipe, ddim, z0, cond)
        z = pivots[0]
        for i, t in enumerate(tqdm(ddim.timesteps, desc="null-text inversion", disable=not progress)):
            target = pivots[i + 1]
            with torch.no_grad():
                out_cond = model_output(pipe, z, t, cond)  # fixed during the inner loop: compute once
            uncond = uncond.detach().clone().requires_grad_(True)
            # the reference's 1 - i/100 (tuned for 50 steps); kept positive past 50 steps by halving over the run
            optimizer = torch.optim.Adam([uncond], lr=lr * (1 - i / max(100, 2 * steps)))
            z_next = None
            for _ in range(inner_steps):
                with torch.enable_grad():
                    out_uncond = model_output(pipe, z, t, uncond)
                    stepped = ddim.step(out_uncond + guidance * (out_cond - out_uncond), t, z)
                    loss = F.mse_loss(stepped, target)
                    # tested before the update (the reference updates once more), so the kept embedding is the one
                    # that met the threshold and its step is reused instead of another forward
                    if loss.item() < epsilon + i * 2e-5:
                        z_next = stepped.detach()
                        break
                    (grad,) = torch.autograd.grad(loss * scale, uncond)
                if not torch.isfinite(grad).all():  # a float16 overflow: skip this update rather than poison Adam
                    continue
                uncond.grad = grad / scale
                optimizer.step()
            uncond = uncond.detach()
            if z_next is None:  # the last update was never evaluated: one more forward
                with torch.no_grad():
                    out_uncond = model_output(pipe, z, t, uncond)
                    z_next = ddim.step(out_uncond + guidance * (out_cond - out_uncond), t, z)
            optimized.append(uncond)
            # the next step starts from where the optimized embedding lands, not from the pivot
            z = z_next
    return InversionResult("null-text", ddim.timesteps.clone(), pivots, optimized, guidance, calls, time.perf_counter() - start)
