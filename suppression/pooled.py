"""SDXL's pooled embedding in the suppressed branch.

SDXL conditions on the prompt twice: per token through cross-attention, and as one pooled vector (the second text
encoder's final hidden state at [EOT], projected) added to the timestep embedding. That vector is the [EOT] row of the
prompt, which the paper shows carries the whole prompt, the unwanted object included (Li et al. 2024, Sec. 3.2), and
which SWR therefore suppresses. Left as it is, the pooled vector would ask for the object in every pixel. So it is
suppressed the same way: SWR over the same rows (the target's pieces, the words after it and the [EOT] block) of the
final hidden states the encoder pools from, then its [EOT] row projected as SDXL projects it. Measured against keeping
it and against re-encoding the prompt without the target: benchmarks/sdxl_pooled.py, README "SDXL".
"""

from __future__ import annotations

import torch

from unwant.sd.conditioning import uses_pooled_embedding
from unwant.sd.text import padded_ids
from suppression.config import SuppressionConfig
from suppression.swr import soft_weighted_regularization
from suppression.tokens import TokenLayout


@torch.no_grad()
def suppressed_pooled(pipe, prompt: str, layout: TokenLayout, config: SuppressionConfig) -> torch.Tensor | None:
    """(1, p) pooled embedding for the suppressed branch, float32; None for SD models and with pooled="keep"."""
    if not uses_pooled_embedding(pipe.unet) or config.pooled == "keep":
        return None
    encoder = pipe.text_encoder_2
    final = encoder(padded_ids(pipe.tokenizer_2, prompt).to(encoder.device)).last_hidden_state.float()  # after the final layer norm, as CLIP pools
    suppressed = soft_weighted_regularization(final, layout.swr_positions(config.suppress_words_after), config.alpha)
    eot = suppressed[:, layout.length - 1]
    return encoder.text_projection(eot.to(encoder.text_projection.weight.dtype)).float()
