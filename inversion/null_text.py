"""Null-text inversion: one optimized unconditional embedding per step, Mokady et al. 2023, Sec. 3.2."""

from __future__ import annotations

import time
from contextlib import contextmanager
from itertools import chain

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from editor.unet_counter import UNetCallCounter
from inversion.common import InversionResult, ddim_step, encode_prompt, model_output, prev_timestep, timesteps_for
from inversion.ddim import ddim_pivots


@contextmanager
def _float32_frozen(unet: torch.nn.Module):
    """The UNet in float32 with frozen weights for the duration; every tensor's dtype and flag restored after."""
    dtypes = {name: x.dtype for name, x in chain(unet.named_parameters(), unet.named_buffers())}
    trainable = {name: p.requires_grad for name, p in unet.named_parameters()}
    try:
        # float16 gradients of an MSE near 1e-5 underflow: the method needs float32. .float() rather than .to():
        # diffusers' ModelMixin.to(dtype) logs a warning on every call
        unet.float()
        unet.requires_grad_(False)  # gradients w.r.t. the embedding only, no weight grads
        yield
    finally:
        # per tensor, so modules a loader kept in float32 stay so; .float() replaced buffers, so go by name
        for name, p in unet.named_parameters():
            p.data = p.data.to(dtypes[name])
            p.requires_grad_(trainable[name])
        for name, b in unet.named_buffers():
            if b.dtype != dtypes[name]:
                owner, _, leaf = name.rpartition(".")
                unet.get_submodule(owner)._buffers[leaf] = b.to(dtypes[name])


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
    """Null-text inversion with Adam and early stopping, Mokady et al. 2023, Sec. 3.2 and Alg. 1."""
    start = time.perf_counter()
    unet = pipe.unet
    timesteps = timesteps_for(pipe, steps)
    cond = prompt_embeds.detach().float()
    uncond = encode_prompt(pipe, "").float()
    optimized = []
    with _float32_frozen(unet):
        with UNetCallCounter(unet) as calls:
            pivots = ddim_pivots(pipe, z0, cond, timesteps)
            z = pivots[0]
            for i in tqdm(range(steps), desc="null-text inversion", disable=not progress):
                t, t_prev, target = timesteps[i], prev_timestep(timesteps, i), pivots[i + 1]
                with torch.no_grad():
                    out_cond = model_output(pipe, z, t, cond)  # fixed during the inner loop: compute once
                uncond = uncond.detach().clone().requires_grad_(True)
                # the reference's 1 - i/100 (tuned for 50 steps); kept positive past 50 steps by halving over the run
                optimizer = torch.optim.Adam([uncond], lr=lr * (1 - i / max(100, 2 * steps)))
                z_next = None
                for _ in range(inner_steps):
                    out_uncond = model_output(pipe, z, t, uncond)
                    guided = out_uncond + guidance * (out_cond - out_uncond)
                    stepped = ddim_step(pipe.scheduler, guided, int(t), t_prev, z)
                    loss = F.mse_loss(stepped, target)
                    # tested before the update (the reference updates once more), so the kept embedding is the one
                    # that met the threshold and its step is reused instead of another forward
                    if loss.item() < epsilon + i * 2e-5:
                        z_next = stepped.detach()
                        break
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                uncond = uncond.detach()
                if z_next is None:  # the last update was never evaluated: one more forward
                    with torch.no_grad():
                        out_uncond = model_output(pipe, z, t, uncond)
                        guided = out_uncond + guidance * (out_cond - out_uncond)
                        z_next = ddim_step(pipe.scheduler, guided, int(t), t_prev, z)
                optimized.append(uncond)
                # the next step starts from where the optimized embedding lands, not from the pivot
                z = z_next
    return InversionResult("null-text", timesteps, pivots, optimized, guidance, calls, time.perf_counter() - start)
