"""SDXL's conditioning beyond the per-token embedding: the pooled text embedding and the size micro-conditioning
(Podell et al. 2023, Sec. 2.2), carried so that every stage handles SDXL's prompts as it handles SD's.

An SDXL prompt embedding is one tensor, (batch, 77 + 1, 2048): 77 rows of per-token embeddings (CLIP ViT-L's 768
columns, then OpenCLIP bigG's 1280), and one last row holding the pooled embedding (1280 columns, zero-padded). So
inversion, null-text, ITO, batching and caching, which stack, copy, optimise and hash "the embedding", carry the pooled
embedding along untouched by any of them knowing; `unet_inputs` splits it off at the UNet.
"""

from __future__ import annotations

import torch

MICRO_CONDITIONS = 6  # original size (h, w), crop top-left (y, x), target size (h, w)


def uses_pooled_embedding(unet) -> bool:
    """SDXL-style UNets ("text_time" added conditioning) take the pooled embedding and size ids beside the tokens."""
    return getattr(unet.config, "addition_embed_type", None) == "text_time"


def pooled_width(unet) -> int:
    """Columns of the pooled embedding the UNet expects: its added-embedding input less the size ids' embeddings."""
    config = unet.config
    return config.projection_class_embeddings_input_dim - MICRO_CONDITIONS * config.addition_time_embed_dim


def with_pooled_row(tokens: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
    """(b, 77, d) token embeddings and a (b, p) pooled embedding, p <= d, as one (b, 78, d) tensor."""
    row = torch.zeros(tokens.shape[0], 1, tokens.shape[-1], dtype=tokens.dtype, device=tokens.device)
    row[:, 0, : pooled.shape[-1]] = pooled
    return torch.cat([tokens, row], dim=1)


def replace_pooled(embeds: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
    """The same SDXL embedding with another pooled embedding in its last row."""
    return with_pooled_row(embeds[:, :-1], pooled.to(embeds).expand(embeds.shape[0], -1))


def token_rows(embeds: torch.Tensor, unet) -> torch.Tensor:
    """The per-token rows of an embedding: all of them for SD, all but the pooled row for SDXL."""
    return embeds[:, :-1] if uses_pooled_embedding(unet) else embeds


def pooled_of(embeds: torch.Tensor, unet) -> torch.Tensor:
    """(b, p): the pooled embedding an SDXL embedding carries in its last row."""
    return embeds[:, -1, : pooled_width(unet)]


def size_ids(height: int, width: int, batch: int) -> torch.Tensor:
    """(batch, 6) micro-conditioning of an uncropped image shown at its own size: (h, w, 0, 0, h, w), as diffusers'
    SDXL pipeline sends by default. A photo is resized to the working size before it reaches the model, so the
    working size is both its original and its target size."""
    return torch.tensor([[height, width, 0, 0, height, width]], dtype=torch.float32).expand(batch, -1)


def unet_inputs(unet, embeds: torch.Tensor, latent_size: tuple[int, int], vae_scale_factor: int) -> tuple[torch.Tensor, dict]:
    """encoder_hidden_states and the keyword arguments of a UNet forward for these embeddings (SD: none)."""
    if not uses_pooled_embedding(unet):
        return embeds, {}
    height, width = (side * vae_scale_factor for side in latent_size)
    added = {"text_embeds": pooled_of(embeds, unet), "time_ids": size_ids(height, width, embeds.shape[0]).to(embeds)}
    return token_rows(embeds, unet), {"added_cond_kwargs": added}
