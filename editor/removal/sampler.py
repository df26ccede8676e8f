"""The denoising loop: the original branch and the suppressed branch, side by side from one x_T, with DDIM.

One loop serves generation, reconstruction (no suppressed branch) and removal (with the default fill, the original
branch alone, for the targets' attention: the suppressed branch's pixels would not be used). Each step:
  1. predict: one guided UNet output per branch (`_shared_output`, `_ito_outputs` or `_paired_outputs`), or on direct
     inversion's pivots with no suppressed branch, the conditional row alone (`_maps_only_output`);
  2. step: DDIM moves both branches one step cleaner;
  3. snap: direct inversion moves the original branch onto its pivot, and the suppressed branch by the same offset;
  4. blend: late in the run, outside the object's mask the suppressed branch takes the original branch's latent.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
from tqdm.auto import tqdm

from editor.removal.masks import MaskConfig, latent_mask, object_attention
from inversion.direct import direct_offset
from inversion.result import InversionResult
from unwant.sd.conditioning import replace_pooled
from unwant.sd.ddim import DDIM
from unwant.sd.text import encoder_columns
from unwant.sd.unet import guided_noise, model_output
from suppression.attention import AttentionStore, StopForward, default_attention_factor, recorded_layers, recording_attention
from suppression.config import SuppressionConfig
from suppression.ito import optimize_embedding, step_sizes
from suppression.swr import suppress_token_rows
from suppression.tokens import TokenLayout


@dataclass
class BranchOutput:
    original: torch.Tensor  # z_0 of the original branch
    suppressed: torch.Tensor  # z_0 of the suppressed branch (the original's when it did not run)
    target_maps: torch.Tensor  # (h, w): where the targets are, from the original branch's cross-attention over the steps
    suppressed_maps: torch.Tensor | None  # (h, w): the same from the suppressed branch; None when it did not run


@dataclass
class Plan:
    """What one run of the loop does; the editor fills it for generation, reconstruction or removal."""

    steps: int
    cond: torch.Tensor  # 1 x 77 x d prompt embedding, float32 (SDXL: 1 x 78 x 2048 with its pooled row)
    unconds: list[torch.Tensor]  # per-step unconditional embeddings (null-text's, or the empty prompt's)
    guidance: float
    layout: TokenLayout | None = None  # None: no suppression, the suppressed branch is not run
    config: SuppressionConfig = field(default_factory=SuppressionConfig)
    pivots: list[torch.Tensor] | None = None  # direct inversion: snap the original branch onto these
    mask: MaskConfig | None = None  # latent blending with the original branch in the late steps
    suppress: bool = True  # False: the targets' maps are recorded but no suppressed branch runs (its pixels are not used)
    suppressed_pooled: torch.Tensor | None = None  # SDXL: the suppressed branch's pooled embedding (suppression/pooled.py)

    @classmethod
    def from_inversion(cls, inverted: InversionResult, cond: torch.Tensor, **kwargs) -> "Plan":
        """Resample an inverted photo: its steps, null embeddings, guidance and (direct inversion) pivots."""
        pivots = inverted.latents if inverted.snaps_to_pivots else None
        return cls(inverted.steps, cond, inverted.uncond_embeddings, inverted.guidance, pivots=pivots, **kwargs)

    @classmethod
    def batched(cls, plans: list["Plan"]) -> "Plan":
        """One plan for several photos run side by side: their embeddings and pivots stacked, row b for photo b. They
        must agree on everything else (steps, guidance, the targets' token layout, the settings)."""
        first = plans[0]
        for plan in plans[1:]:
            same = (plan.steps, plan.guidance, plan.layout, plan.config, plan.mask, plan.suppress, plan.pivots is None)
            if same != (first.steps, first.guidance, first.layout, first.config, first.mask, first.suppress, first.pivots is None):
                raise ValueError("photos run side by side need the same steps, guidance, prompt layout and settings")
        unconds = [torch.cat(step) for step in zip(*(plan.unconds for plan in plans))]
        pivots = None if first.pivots is None else [torch.cat(step) for step in zip(*(plan.pivots for plan in plans))]
        pooled = None if first.suppressed_pooled is None else torch.cat([plan.suppressed_pooled for plan in plans])
        return replace(first, cond=torch.cat([plan.cond for plan in plans]), unconds=unconds, pivots=pivots, suppressed_pooled=pooled)


class _MapTotals:
    """Sums over the steps of each target piece's cross-attention map, per photo of the batch, for each branch."""

    def __init__(self, store: AttentionStore, layout: TokenLayout | None, size: tuple[int, int], photos: int):
        self.store, self.layout, self.size = store, layout, size
        pieces = len(layout.target_positions) if layout is not None else 0
        self.original = torch.zeros(photos, pieces, *size)
        self.suppressed = torch.zeros(photos, pieces, *size)

    def add(self, original_rows: slice | None, suppressed_rows: slice | None) -> None:
        """Add the target pieces' cross-attention in these batch rows of the last forward, one row per photo (None: that
        branch did not run)."""
        if self.layout is None:
            return
        cross = self.store.cross()  # averaged over the recorded layers once, whichever rows are read
        positions = list(self.layout.target_positions)
        for rows, totals in ((original_rows, self.original), (suppressed_rows, self.suppressed)):
            if rows is not None:
                totals += cross[rows][:, :, positions].transpose(1, 2).reshape(totals.shape).cpu()

    def object_map(self, branch: str = "original", steps: int = 1, photo: int = 0) -> torch.Tensor:
        """(h, w): where the named objects are in one photo, from one branch's totals averaged over `steps`."""
        return object_attention(getattr(self, branch)[photo] / steps, self.layout)


def run_branches(pipe, x_T: torch.Tensor, plan: Plan, progress: bool = True, callback: Callable[[dict], None] | None = None) -> BranchOutput:
    """Denoise x_T with the prompt (original branch) and with the SWR + ITO embedding (suppressed branch)."""
    if x_T.shape[0] != 1:
        raise ValueError(f"run_branches takes one photo's x_T (1 x c x h x w), got {tuple(x_T.shape)}: see run_branches_batch")
    return run_branches_batch(pipe, x_T, plan, progress, callback)[0]


def run_branches_batch(pipe, x_T: torch.Tensor, plan: Plan, progress: bool = True, callback: Callable[[dict], None] | None = None) -> list[BranchOutput]:
    """`run_branches` for several photos in each UNet forward: x_T and the plan's tensors hold one row per photo
    (`Plan.batched`). ITO optimises one photo's embedding at a time, so a plan that runs it takes one photo."""
    photos = x_T.shape[0]
    ddim = DDIM.of(pipe, plan.steps)
    if len(plan.unconds) != plan.steps:
        raise ValueError(f"the plan has {len(plan.unconds)} unconditional embeddings for {plan.steps} steps")
    config, layout = plan.config, plan.layout
    swr_from, ito_until = config.steps_window(plan.steps)
    # the SWR embedding depends only on the prompt: computed once, every ITO step restarts from this same copy
    suppressing = layout is not None and plan.suppress
    if suppressing and config.optimize and swr_from < ito_until and photos > 1:
        raise ValueError("ITO optimises one photo's embedding at a time: run the photos one by one")
    factor = config.attention_factor or default_attention_factor(pipe.unet)
    store = AttentionStore(recorded_layers(pipe.unet, factor))
    maps = _MapTotals(store, layout, (x_T.shape[-2] // factor, x_T.shape[-1] // factor), photos)
    etas = step_sizes(config.step_size, plan.steps)
    c_swr = swr_embedding(pipe, plan) if suppressing else None
    z = z_hat = x_T.float()
    recording = recording_attention(pipe.unet, store) if layout is not None else contextlib.nullcontext()
    with torch.no_grad(), recording:
        for i, t in enumerate(tqdm(ddim.timesteps, desc="denoise", disable=not progress, leave=False)):
            uncond = plan.unconds[i]
            store.reset()
            # 1. predict
            if not suppressing and plan.pivots is not None:
                out = out_hat = _maps_only_output(pipe, z, t, plan, maps)
            elif not suppressing or i < swr_from:
                out = out_hat = _shared_output(pipe, z, t, plan, uncond, maps)
            elif config.optimize and i < ito_until:
                out, out_hat = _ito_outputs(pipe, z, z_hat, t, plan, c_swr, uncond, float(etas[i]), store, maps)
            else:
                out, out_hat = _paired_outputs(pipe, z, z_hat, t, plan.cond, c_swr, uncond, plan.guidance, maps)
            # 2. step
            z_next = ddim.step(out, t, z)
            z_hat_next = ddim.step(out_hat, t, z_hat)  # before tau the same values: elementwise, not worth a branch
            # 3. snap
            if plan.pivots is not None:
                offset = direct_offset(z_next, plan.pivots[i + 1])
                z_next, z_hat_next = z_next + offset, z_hat_next + offset
            # 4. blend
            if suppressing and plan.mask is not None and i >= int(plan.mask.latent_blend_from * plan.steps):
                mask = torch.cat([latent_mask(maps.object_map("original", i + 1, b), tuple(z.shape[-2:]), plan.mask)
                                  for b in range(photos)]).to(z)
                z_hat_next = mask * z_hat_next + (1 - mask) * z_next
            z, z_hat = z_next, z_hat_next
            if callback is not None:
                callback({"i": i, "t": int(t), "z": z, "z_hat": z_hat})
    outputs = []
    for b in range(photos):
        row = slice(b, b + 1)
        if layout is None:
            outputs.append(BranchOutput(z[row], z_hat[row], torch.zeros(maps.size), torch.zeros(maps.size)))
        else:
            suppressed_maps = maps.object_map("suppressed", plan.steps, b) if suppressing else None
            outputs.append(BranchOutput(z[row], z_hat[row], maps.object_map("original", plan.steps, b), suppressed_maps))
    return outputs


def swr_embedding(pipe, plan: Plan) -> torch.Tensor:
    """The suppressed branch's embedding before ITO: SWR on each text encoder's token rows, and SDXL's pooled row
    suppressed too."""
    rows = plan.layout.swr_positions(plan.config.suppress_words_after)
    c_swr = suppress_token_rows(plan.cond, rows, plan.config.alpha, encoder_columns(pipe))
    return c_swr if plan.suppressed_pooled is None else replace_pooled(c_swr, plan.suppressed_pooled)


def resample(pipe, inverted: InversionResult, cond: torch.Tensor, callback: Callable[[dict], None] | None = None) -> torch.Tensor:
    """Reconstruct z_0 from an inversion with no edit: the original branch alone."""
    return run_branches(pipe, inverted.x_T, Plan.from_inversion(inverted, cond), progress=False, callback=callback).original


def _shared_output(pipe, z, t, plan: Plan, uncond, maps: _MapTotals) -> torch.Tensor:
    """Before tau both branches have the prompt's embedding and the same latent: one computation serves both."""
    out = guided_noise(pipe, z, t, plan.cond, uncond, plan.guidance)
    cond_rows = slice(-z.shape[0], None)  # guided_noise's rows are [uncond..., cond...]
    maps.add(cond_rows, cond_rows)
    return out


def _maps_only_output(pipe, z, t, plan: Plan, maps: _MapTotals) -> torch.Tensor:
    """The original branch alone on direct inversion's pivots: the snap puts each step's latent on the next pivot
    whatever the prediction, so only the prompt's cross-attention (the targets' maps) is of use. One conditional row,
    not the guided pair."""
    out = model_output(pipe, z, t, plan.cond)
    maps.add(slice(0, z.shape[0]), slice(0, z.shape[0]))
    return out


def _ito_outputs(pipe, z, z_hat, t, plan: Plan, c_swr, uncond, step_size: float, store: AttentionStore, maps: _MapTotals):
    """The original branch's maps, then ITO moves the suppressed embedding towards them, then its own output."""
    out = guided_noise(pipe, z, t, plan.cond, uncond, plan.guidance)
    maps.add(slice(-1, None), None)
    cross, self_attn = store.cross()[-1], store.self_attention()[-1]  # the original branch, computed once

    def suppressed_maps(embedding: torch.Tensor):
        """Maps of the suppressed branch for one embedding, the forward stopped after the last recorded layer."""
        store.reset()
        store.stop_early = True
        try:
            model_output(pipe, z_hat, t, embedding)
        except StopForward:
            pass
        finally:
            store.stop_early = False
        return store.cross()[0], store.self_attention()[0]

    c_hat = optimize_embedding(c_swr, suppressed_maps, cross, self_attn, plan.layout, maps.size, plan.config, step_size)
    store.reset()
    out_hat = guided_noise(pipe, z_hat, t, c_hat, uncond, plan.guidance)
    maps.add(None, slice(-1, None))
    return out, out_hat


def _paired_outputs(pipe, z, z_hat, t, cond, c_hat, uncond, guidance: float, maps: _MapTotals):
    """Guided outputs of both branches from one UNet forward: rows [u, c] on z then [u, c_hat] on z_hat, each a row
    per photo."""
    photos = z.shape[0]
    block = lambda k: slice(k * photos, (k + 1) * photos)
    if guidance == 1:
        out, out_hat = model_output(pipe, torch.cat([z, z_hat]), t, torch.cat([cond, c_hat])).chunk(2)
        maps.add(block(0), block(1))
        return out, out_hat
    latents = torch.cat([z, z, z_hat, z_hat])
    u, c, u_hat, c_hat_out = model_output(pipe, latents, t, torch.cat([uncond, cond, uncond, c_hat])).chunk(4)
    maps.add(block(1), block(3))
    return u + guidance * (c - u), u_hat + guidance * (c_hat_out - u_hat)
