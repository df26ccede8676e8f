"""Prompts as the text encoder sees them: tokenized, cut at its length, encoded."""

from __future__ import annotations

import logging

import torch

log = logging.getLogger("unwant")


def token_ids(tokenizer, prompt: str) -> list[int]:
    """Every token of the prompt with [SOT] and [EOT], before any cut (may be longer than the encoder reads)."""
    return tokenizer(prompt, truncation=False, verbose=False).input_ids


def warn_if_truncated(tokenizer, prompt: str) -> None:
    """One line when the prompt is longer than the text encoder reads, saying where it is cut."""
    ids = token_ids(tokenizer, prompt)
    limit = tokenizer.model_max_length
    if len(ids) > limit:
        dropped = tokenizer.decode(ids[limit - 1 : -1]).strip()
        log.warning("note: the prompt is %d tokens and the text encoder reads %d: it is cut after token %d, dropping %r",
                    len(ids), limit, limit - 2, dropped)


@torch.no_grad()
def encode_prompt(pipe, prompt: str) -> torch.Tensor:
    """The 1 x 77 x d text-encoder output of a prompt (padded and cut to the tokenizer's length), as float32.

    float32 whatever the encoder's dtype: the embeddings are what inversion and ITO optimise."""
    tokens = pipe.tokenizer(prompt, padding="max_length", max_length=pipe.tokenizer.model_max_length, truncation=True, return_tensors="pt")
    return pipe.text_encoder(tokens.input_ids.to(pipe.text_encoder.device))[0].float()
