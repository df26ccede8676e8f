"""Real-photo inversion: DDIM, null-text, negative-prompt and direct inversion behind one `invert` call."""

from __future__ import annotations

import torch

from inversion.result import InversionResult
from inversion.ddim import invert_ddim
from inversion.direct import invert_direct
from inversion.negative_prompt import invert_negative_prompt
from inversion.null_text import invert_null_text
from unwant.sd.errors import UnwantError

METHODS = {
    "ddim": invert_ddim,
    "null-text": invert_null_text,
    "negative-prompt": invert_negative_prompt,
    "direct": invert_direct,
}


def invert(
    pipe,
    z0: torch.Tensor,
    prompt_embeds: torch.Tensor,
    method: str = "null-text",
    steps: int = 50,
    guidance: float = 7.5,
    progress: bool = True,
    null_text_iterations: int = 10,
) -> InversionResult:
    """Invert the latent z0 of a real photo with the named method: DDIM (Song et al. 2021), null-text (Mokady et al.
    2023), negative-prompt (Miyake et al. 2023) or direct (Ju et al. 2024)."""
    if method not in METHODS:
        raise UnwantError(f"unknown inversion method {method!r}: choose one of {', '.join(METHODS)}")
    if method == "null-text":  # the only one slow enough for a progress bar, and the only one with iterations
        return invert_null_text(pipe, z0, prompt_embeds, steps=steps, guidance=guidance, inner_steps=null_text_iterations, progress=progress)
    return METHODS[method](pipe, z0, prompt_embeds, steps=steps, guidance=guidance)
