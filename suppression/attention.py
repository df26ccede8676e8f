"""Record attention probabilities from chosen UNet layers through diffusers attention processors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from diffusers import UNet2DConditionModel


class StopForward(Exception):
    """Raised once every recorded layer has reported: later layers are not needed by the losses."""


def layer_factor(name: str, n_blocks: int) -> int:
    """Downsampling factor of the layer `name` relative to the latent (down i: 2^i; mid: 2^(n-1); up j: 2^(n-1-j))."""
    part, index = name.split(".")[:2]
    if part == "mid_block":
        return 2 ** (n_blocks - 1)
    return 2 ** int(index) if part == "down_blocks" else 2 ** (n_blocks - 1 - int(index))


def default_attention_factor(unet: UNet2DConditionModel) -> int:
    """1/4 of the latent where the down/up blocks have cross-attention there (SD: 16 x 16 of 64 x 64);
    otherwise their coarsest cross-attention resolution (the toy model: 8 x 8 of 16 x 16)."""
    factors = _cross_attention_factors(unet)
    return 4 if 4 in factors else max(factors)


def localisation_factor(unet: UNet2DConditionModel) -> int:
    """Where a removal reads the target's maps for its mask: as `default_attention_factor` where the UNet has 1/4 of
    the latent (SD), else its finest cross-attention (the toy models: 16 x 16; at 8 x 8 a second instance merges into
    its neighbour's cell: README, "Which object"). Where the suppressed branch runs (generation, fill="model"), ITO's
    losses read the maps, and they keep the default."""
    factors = _cross_attention_factors(unet)
    return 4 if 4 in factors else min(factors)


def _cross_attention_factors(unet: UNet2DConditionModel) -> set[int]:
    n = len(unet.config.block_out_channels)
    return {layer_factor(name, n) for name in unet.attn_processors if "attn2" in name and not name.startswith("mid_block")}


def recorded_layers(unet: UNet2DConditionModel, factor: int) -> list[str]:
    """Processor names of the cross- and self-attention layers at latent/factor, the middle block left out."""
    n = len(unet.config.block_out_channels)
    return [name for name in unet.attn_processors if not name.startswith("mid_block") and layer_factor(name, n) == factor]


class AttentionStore:
    """Collects head-averaged attention maps of one UNet forward; the processors only report to it."""

    def __init__(self, layers: list[str]):
        self.layers = set(layers)
        self.cross_layers = {name for name in layers if "attn2" in name}
        self.last_layer = max(layers, key=_forward_order)
        self.stop_early = False
        self.reset()

    def reset(self) -> None:
        self._cross: list[torch.Tensor] = []
        self._self: list[torch.Tensor] = []

    def report(self, name: str, probs: torch.Tensor, heads: int, is_cross: bool) -> None:
        maps = probs.unflatten(0, (-1, heads)).mean(1)  # (batch, queries, keys), averaged over all heads
        (self._cross if is_cross else self._self).append(maps)
        if self.stop_early and name == self.last_layer:
            raise StopForward

    def cross(self) -> torch.Tensor:
        """(batch, pixels, tokens) cross-attention, averaged over the recorded layers, float32 (the losses' precision)."""
        return torch.stack(self._cross).float().mean(0)

    def self_attention(self) -> torch.Tensor:
        """(batch, pixels, pixels) self-attention, averaged over the recorded layers, float32."""
        return torch.stack(self._self).float().mean(0)


def _forward_order(name: str) -> tuple:
    """Where a layer runs in the forward pass: down, mid, up blocks, then every index as a number ("transformer_blocks.10"
    after ".9", as SDXL's ten-layer blocks need), attn1 (self) before attn2 (cross)."""
    part, *rest = name.split(".")
    return ({"down_blocks": 0, "mid_block": 1, "up_blocks": 2}[part], *((0, int(x)) if x.isdigit() else (1, x) for x in rest))


class RecordingAttnProcessor:
    """Plain attention that forms the probability matrix (AttnProcessor2_0 never does) and reports it."""

    def __init__(self, store: AttentionStore, name: str):
        self.store, self.name = store, name

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kwargs):
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch, channels, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch, channels, height * width).transpose(1, 2)
        is_cross = encoder_hidden_states is not None
        context = encoder_hidden_states if is_cross else hidden_states
        attention_mask = attn.prepare_attention_mask(attention_mask, context.shape[1], context.shape[0])
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        if is_cross and attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
        query = attn.head_to_batch_dim(attn.to_q(hidden_states))
        key = attn.head_to_batch_dim(attn.to_k(context))
        value = attn.head_to_batch_dim(attn.to_v(context))
        probs = attn.get_attention_scores(query, key, attention_mask)
        self.store.report(self.name, probs, attn.heads, is_cross)
        hidden_states = attn.batch_to_head_dim(torch.bmm(probs, value))
        hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))
        if input_ndim == 4:
            hidden_states = hidden_states.transpose(-1, -2).reshape(batch, channels, height, width)
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor


@contextmanager
def recording_attention(unet: UNet2DConditionModel, store: AttentionStore) -> Iterator[AttentionStore]:
    """Install recording processors on the store's layers (others keep theirs); restore the originals on exit.

    Install this after anything that swaps processors itself, such as enable_attention_slicing().
    """
    original = unet.attn_processors
    unet.set_attn_processor({name: RecordingAttnProcessor(store, name) if name in store.layers else proc for name, proc in original.items()})
    try:
        yield store
    finally:
        unet.set_attn_processor(original)
