"""Prompts as the text encoder sees them: tokenized, cut at its length, encoded."""

from __future__ import annotations

import logging

import torch

from unwant.sd.conditioning import uses_pooled_embedding, with_pooled_row

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


def padded_ids(tokenizer, prompt: str | list[str]) -> torch.Tensor:
    """(prompts, 77) token ids, padded and cut to the tokenizer's length, as the text encoder reads them."""
    return tokenizer(prompt, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt").input_ids


@torch.no_grad()
def encode_prompt(pipe, prompt: str) -> torch.Tensor:
    """The 1 x 77 x d text-encoder output of a prompt (padded and cut to the tokenizer's length), as float32; for SDXL
    1 x 78 x 2048, both encoders' token rows and the pooled row (`encode_prompt_xl`).

    float32 whatever the encoder's dtype: the embeddings are what inversion and ITO optimise."""
    if uses_pooled_embedding(pipe.unet):
        return encode_prompt_xl(pipe, prompt)
    return pipe.text_encoder(padded_ids(pipe.tokenizer, prompt).to(pipe.text_encoder.device))[0].float()


def encode_prompt_xl(pipe, prompt: str) -> torch.Tensor:
    """SDXL's prompt embedding as its pipeline computes it (Podell et al. 2023, Sec. 2.1): each encoder's penultimate
    hidden states, concatenated per token (768 + 1280), and the second encoder's projected pooled output; the empty
    prompt is all zeros where the model says so (force_zeros_for_empty_prompt, SDXL base's unconditional input)."""
    width = pipe.unet.config.cross_attention_dim
    if prompt == "" and pipe.config.get("force_zeros_for_empty_prompt", False):
        return torch.zeros(1, pipe.tokenizer.model_max_length + 1, width, device=pipe.text_encoder_2.device)
    hidden = []
    for tokenizer, encoder in ((pipe.tokenizer, pipe.text_encoder), (pipe.tokenizer_2, pipe.text_encoder_2)):
        output = encoder(padded_ids(tokenizer, prompt).to(encoder.device), output_hidden_states=True)
        hidden.append(output.hidden_states[-2].float())
    pooled = output.text_embeds.float()
    return with_pooled_row(torch.cat([h.to(hidden[-1].device) for h in hidden], dim=-1), pooled)


def encoder_columns(pipe) -> list[slice]:
    """The columns of a token row each text encoder wrote: one slice for SD, [0:768] and [768:2048] for SDXL."""
    encoders = [e for e in (pipe.text_encoder, getattr(pipe, "text_encoder_2", None)) if e is not None]
    if not uses_pooled_embedding(pipe.unet) or len(encoders) == 1:
        return [slice(None)]
    first = encoders[0].config.hidden_size
    return [slice(0, first), slice(first, None)]
