"""The two-branch denoising loop: the original branch and the suppressed branch, side by side from one x_T."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import contextlib

import torch
from tqdm.auto import tqdm

from editor.masks import MaskConfig, latent_mask
from inversion.common import ddim_step, guided_noise, model_output, prev_timestep
from inversion.direct import direct_offset
from suppression.attention import AttentionStore, StopForward, default_attention_factor, recorded_layers, recording_attention
from suppression.config import SuppressionConfig
from suppression.ito import optimize_embedding, step_sizes
from suppression.swr import soft_weighted_regularization
from suppression.tokens import TokenLayout


@dataclass
class BranchOutput:
    original: torch.Tensor  # z_0 of the original branch
    suppressed: torch.Tensor  # z_0 of the suppressed branch
    target_maps: torch.Tensor  # (h, w): the targets' cross-attention in the original branch, averaged over steps
    suppressed_maps: torch.Tensor  # (h, w): the same tokens' attention in the suppressed branch
    latent_mask: torch.Tensor | None = None  # the mask used for latent blending, at latent resolution


@dataclass
class Plan:
    """What one run of the loop does; the editor fills it for generation, reconstruction or removal."""

    timesteps: torch.Tensor
    cond: torch.Tensor  # 1 x 77 x d prompt embedding
    unconds: list[torch.Tensor]  # per-step unconditional embeddings (null-text's, or the empty prompt's)
    guidance: float
    layout: TokenLayout | None = None  # None: no suppression, the suppressed branch is not run
    config: SuppressionConfig = field(default_factory=SuppressionConfig)
    pivots: list[torch.Tensor] | None = None  # direct inversion: snap the original branch onto these
    mask: MaskConfig | None = None  # latent blending with the original branch in the late steps


def run_branches(pipe, x_T: torch.Tensor, plan: Plan, progress: bool = True, callback: Callable[[dict], None] | None = None) -> BranchOutput:
    """Denoise x_T with the prompt (original branch) and with the SWR + ITO embedding (suppressed branch)."""
    steps = len(plan.timesteps)
    config, layout = plan.config, plan.layout
    swr_from, ito_until = config.steps_window(steps)
    factor = config.attention_factor or default_attention_factor(pipe.unet)
    store = AttentionStore(recorded_layers(pipe.unet, factor))
    map_size = (x_T.shape[-2] // factor, x_T.shape[-1] // factor)
    etas = step_sizes(config.step_size, steps)
    # the SWR embedding depends only on the prompt: computed once, every ITO step restarts from this same copy
    c_swr = soft_weighted_regularization(plan.cond, layout.swr_positions(config.suppress_words_after), config.alpha) if layout is not None else None
    z = z_hat = x_T.float()
    target_sum = torch.zeros(map_size)
    suppressed_sum = torch.zeros(map_size)
    mask = None

    def target_map(row: int) -> torch.Tensor:
        """The targets' cross-attention in batch row `row` of the last forward, (h, w)."""
        return store.cross()[row][:, list(layout.target_positions)].mean(-1).reshape(map_size).float().cpu()

    def suppressed_maps(latent, embedding):
        """Maps of the suppressed branch for one embedding, the forward stopped after the last recorded layer."""
        store.reset()
        store.stop_early = True
        try:
            model_output(pipe, latent, t, embedding)
        except StopForward:
            pass
        finally:
            store.stop_early = False
        return store.cross()[0], store.self_attention()[0]

    recording = recording_attention(pipe.unet, store) if layout is not None else contextlib.nullcontext()
    with torch.no_grad(), recording:
        for i, t in enumerate(tqdm(plan.timesteps, desc="denoise", disable=not progress, leave=False)):
            t_next = prev_timestep(plan.timesteps, i)
            uncond = plan.unconds[i]
            store.reset()
            if layout is None or i < swr_from:
                # one embedding for both branches until tau: one computation serves both
                out = guided_noise(pipe, z, t, plan.cond, uncond, plan.guidance)
                z_next = z_hat_next = ddim_step(pipe.scheduler, out, int(t), t_next, z)
                if layout is not None:
                    target_sum += target_map(-1)
                    suppressed_sum += target_map(-1)
            else:
                c_hat = c_swr
                if config.optimize and i < ito_until:
                    out = guided_noise(pipe, z, t, plan.cond, uncond, plan.guidance)
                    target_sum += target_map(-1)
                    cross, self_attn = store.cross()[-1], store.self_attention()[-1]  # the original branch, computed once
                    c_hat = optimize_embedding(c_hat, lambda e: suppressed_maps(z_hat, e), cross, self_attn, layout, config, float(etas[i]))
                    store.reset()
                    out_hat = guided_noise(pipe, z_hat, t, c_hat, uncond, plan.guidance)
                    suppressed_sum += target_map(-1)
                else:  # both branches in one batched forward
                    out, out_hat = _guided_pair(pipe, z, z_hat, t, plan.cond, c_hat, uncond, plan.guidance)
                    rows = store.cross().shape[0]
                    target_sum += target_map(rows // 2 - 1)
                    suppressed_sum += target_map(rows - 1)
                z_next = ddim_step(pipe.scheduler, out, int(t), t_next, z)
                z_hat_next = ddim_step(pipe.scheduler, out_hat, int(t), t_next, z_hat)
            if plan.pivots is not None:  # direct inversion: the original branch is exact, the offset also guides the other
                offset = direct_offset(z_next, plan.pivots[i + 1])
                z_next, z_hat_next = z_next + offset, z_hat_next + offset
            if layout is not None and plan.mask is not None and i >= int(plan.mask.latent_blend_from * steps):
                mask = latent_mask(target_sum / (i + 1), tuple(z.shape[-2:]), plan.mask).to(z)
                z_hat_next = mask * z_hat_next + (1 - mask) * z_next
            z, z_hat = z_next, z_hat_next
            if callback is not None:
                callback({"i": i, "t": int(t), "z": z, "z_hat": z_hat})
    count = len(plan.timesteps)
    return BranchOutput(z, z_hat, target_sum / count, suppressed_sum / count, mask)


def _guided_pair(pipe, z, z_hat, t, cond, c_hat, uncond, guidance):
    """Guided outputs of both branches from one UNet forward: rows [u, c] on z then [u, c_hat] on z_hat."""
    if guidance == 1:
        out, out_hat = model_output(pipe, torch.cat([z, z_hat]), t, torch.cat([cond, c_hat])).chunk(2)
        return out, out_hat
    latents = torch.cat([z, z, z_hat, z_hat])
    u, c, u_hat, c_hat_out = model_output(pipe, latents, t, torch.cat([uncond, cond, uncond, c_hat])).chunk(4)
    return u + guidance * (c - u), u_hat + guidance * (c_hat_out - u_hat)
