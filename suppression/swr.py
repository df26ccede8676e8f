"""Soft-weighted regularization of the text embedding (Li et al. 2024, Sec. 3.3, Eq. 3)."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def soft_weight(singular_values: torch.Tensor, alpha: float) -> torch.Tensor:
    """s * exp(-alpha * s): shrinks the dominant directions hardest; negative alpha strengthens them."""
    return singular_values * torch.exp(-alpha * singular_values)


def soft_weighted_regularization(embeds: torch.Tensor, positions: Sequence[int], alpha: float = 1.0) -> torch.Tensor:
    """SVD of the rows at `positions` (target words and [EOT]s), soft-weight the singular values, write back a copy.

    `embeds` is (77, d) or (batch, 77, d); every other row is returned unchanged.
    """
    index = torch.as_tensor(list(positions), device=embeds.device)
    block = embeds.index_select(-2, index).float()  # (..., K, d): rows are the columns of X = [c_NE, c_EOT...]
    u, s, vh = torch.linalg.svd(block.transpose(-1, -2), full_matrices=False)  # X = U diag(s) V^T, X is d x K
    rebuilt = (u * soft_weight(s, alpha).unsqueeze(-2)) @ vh
    out = embeds.clone()
    out[..., index, :] = rebuilt.transpose(-1, -2).to(embeds.dtype)
    return out


def suppress_token_rows(embeds: torch.Tensor, positions: Sequence[int], alpha: float, columns: Sequence[slice] = (slice(None),)) -> torch.Tensor:
    """SWR on each text encoder's own columns: SDXL's token rows are CLIP ViT-L's 768 columns then OpenCLIP bigG's
    1280, two embedding spaces of their own scale, and one SVD over both would let the larger one set the directions
    that are shrunk. Rows past the 77 token rows (SDXL's pooled row) are left to suppression/pooled.py."""
    out = embeds.clone()
    for part in columns:
        out[..., part] = soft_weighted_regularization(embeds[..., part], positions, alpha)
    return out
