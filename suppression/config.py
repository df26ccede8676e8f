"""Every knob of the suppression method in one place, defaults as in the reference code (sen-mao/SuppressEOT) except
`suppress_words_after`, which widens SWR beyond the paper's rows (see its comment).

Checked against suppress_eot_w_nulltext.py: 10 ITO iterations per step, step size eta * sqrt(linspace(1, 0.1, T)[i])
(eta 20 generating, 5 on photos), the loss of losses/attn_loss.py with weights 1, -0.5, 1, -0.5, ITO at steps
[0.2 T, 0.4 T). Where unwant differs: the reference runs only T = 50 and fixes its window at steps [10, 20) (its
`max_step_to_erase` is a step count); unwant keeps the window's fractions at any T (40 steps: [8, 16)). Its maps average
heads 0-3 of 8 by an indexing slip; unwant averages every head."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from unwant.sd.errors import UnwantError, check_number

# SWR's soft weight s * exp(-alpha * s): embeddings' singular values reach tens, so a negative alpha much below the
# reference's -0.001 overflows, and above 10 every singular value is already zero
ALPHA_RANGE = (-0.01, 10.0)


@dataclass(frozen=True)
class SuppressionConfig:
    alpha: float = 1.0  # SWR soft-weight strength: s * exp(-alpha * s); negative strengthens instead
    swr_start: float = 0.2  # tau: the first 20 % of steps use the unmodified prompt, so layout comes from it
    ito_end: float = 0.4  # ITO runs at steps [tau*T, 0.4*T): 10-19 of 50 in the reference
    ito_iterations: int = 10  # gradient steps on the embedding per ITO step
    step_size: float = 20.0  # eta; the reference uses 20 for generation and 5 for real photos
    # "reference": the reference code's sums of 1 - cos with each word's self-attention columns, float64 (losses.py);
    # "paper": Eq. 5's squared norms of the cross-attention maps
    loss: Literal["reference", "paper"] = "reference"
    retain_weight: float = 1.0  # lambda_pl: keep the wanted words' maps
    erase_weight: float = 0.5  # lambda_nl: push the unwanted word's maps away
    self_retain_weight: float = 1.0  # reference code's self-attention term on the wanted words' pixels
    self_erase_weight: float = 0.5  # ... and on the unwanted word's pixels
    erase_pixel_threshold: float = 0.85  # an unwanted piece's mask: its map at 256 x 256 at least 0.85 x its max
    retain_pixel_threshold: float = 0.95  # a wanted word's mask: ... at least 0.95 x its max
    attention_factor: int | None = None  # maps at latent/attention_factor; None derives it from the UNet (SD: 4)
    optimize: bool = True  # False: SWR only, no ITO
    # a causal encoder carries the target into every later word; SWR over those rows too removes a target that is
    # not last in the caption (toy model, target first: 0.50 -> 1.00 gone). False: the paper's target + [EOT] rows
    suppress_words_after: bool = True
    # SDXL's pooled embedding (the whole prompt in one vector): "swr" suppresses it as the paper suppresses every [EOT]
    # row, on the final hidden states it is pooled from (suppression/pooled.py); "keep" leaves the prompt's own
    pooled: Literal["swr", "keep"] = "swr"

    def __post_init__(self):
        if self.loss not in ("reference", "paper"):
            raise UnwantError(f"SuppressionConfig loss must be 'reference' or 'paper', not {self.loss!r}")
        if self.pooled not in ("swr", "keep"):
            raise UnwantError(f"SuppressionConfig pooled must be 'swr' or 'keep', not {self.pooled!r}")
        check_number(self.alpha, "alpha", *ALPHA_RANGE, usual="1.0 by default; the reference's strengthening mode is -0.001")
        check_number(self.step_size, "ITO step size", 0.0, 1000.0)
        for name in ("swr_start", "ito_end", "erase_pixel_threshold", "retain_pixel_threshold"):
            check_number(getattr(self, name), name.replace("_", " "), 0.0, 1.0)

    def with_(self, **changes) -> "SuppressionConfig":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def steps_window(self, steps: int) -> tuple[int, int]:
        """(first SWR step, first step after ITO) for a run of `steps` steps."""
        return int(round(self.swr_start * steps)), int(round(self.ito_end * steps))
