"""Every knob of the suppression method in one place, defaults as in the reference code (sen-mao/SuppressEOT) except
`suppress_words_after`, which widens SWR beyond the paper's rows (see its comment)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal


@dataclass(frozen=True)
class SuppressionConfig:
    alpha: float = 1.0  # SWR soft-weight strength: s * exp(-alpha * s); negative strengthens instead
    swr_start: float = 0.2  # tau: the first 20 % of steps use the unmodified prompt, so layout comes from it
    ito_end: float = 0.4  # ITO runs at steps [tau*T, 0.4*T): 10-19 of 50 in the reference
    ito_iterations: int = 10  # gradient steps on the embedding per ITO step
    step_size: float = 20.0  # eta; the reference uses 20 for generation and 5 for real photos
    loss: Literal["reference", "paper"] = "reference"  # 1 - cosine with self-attention terms, or Eq. 5's squared norms
    retain_weight: float = 1.0  # lambda_pl: keep the wanted words' maps
    erase_weight: float = 0.5  # lambda_nl: push the unwanted word's maps away
    self_retain_weight: float = 1.0  # reference code's self-attention term on the wanted words' pixels
    self_erase_weight: float = 0.5  # ... and on the unwanted word's pixels
    erase_pixel_threshold: float = 0.85  # unwanted word's pixels: cross-attention above 0.85 x max
    retain_pixel_threshold: float = 0.95  # wanted words' pixels: cross-attention above 0.95 x max
    attention_factor: int | None = None  # maps at latent/attention_factor; None derives it from the UNet (SD: 4)
    optimize: bool = True  # False: SWR only, no ITO
    # a causal encoder carries the target into every later word; SWR over those rows too removes a target that is
    # not last in the caption (toy model, target first: 0.50 -> 1.00 gone). False: the paper's target + [EOT] rows
    suppress_words_after: bool = True
    # SDXL's pooled embedding (the whole prompt in one vector): "swr" suppresses it as the paper suppresses every [EOT]
    # row, on the final hidden states it is pooled from (suppression/pooled.py); "keep" leaves the prompt's own
    pooled: Literal["swr", "keep"] = "swr"

    def with_(self, **changes) -> "SuppressionConfig":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def steps_window(self, steps: int) -> tuple[int, int]:
        """(first SWR step, first step after ITO) for a run of `steps` steps."""
        return int(round(self.swr_start * steps)), int(round(self.ito_end * steps))
