"""Named speed/quality trade-offs for real-photo removal."""

from __future__ import annotations

from dataclasses import dataclass, field

from unwant.sd.errors import UnwantError
from suppression.config import SuppressionConfig


@dataclass(frozen=True)
class Preset:
    """A removal recipe; pass one to `Editor.remove(preset=...)` for a trade-off of your own."""

    inversion: str  # "null-text", "direct", "negative-prompt" or "ddim"
    steps: int  # DDIM steps, for the inversion and the resampling alike
    suppression: SuppressionConfig = field(default_factory=SuppressionConfig)
    null_text_iterations: int = 10  # Adam steps per timestep, at most (null-text stops early on a small loss)


PRESETS: dict[str, Preset] = {
    # Removal with the default fill reads only the original branch (the targets' attention: the mask) and the
    # inversion's trajectory (the repaint); the suppressed branch and its ITO run only for fill="model" or blend=False.
    # So the inversion is what a preset buys there. Measured on the toy world (benchmarks.quality --only clean, 100
    # scenes; benchmarks.speed, CPU; README): the three presets remove alike, exact 0.91 without a caption and 1.00
    # with one; on 16 fresh scenes null-text capped at 2 iterations gave 0.75 and negative-prompt inversion 0.81.
    # ITO (benchmarks.ito_ablation, README): on the toy world it earns nothing over SWR alone in generation and 4
    # exact scenes in 100 with fill="model" (10 fixed, 2 broken of 200), at about twice the suppressed branch's time;
    # quality and reference keep it as the paper's method (the paper's own ablation finds it matters on SD, which
    # cannot be checked here), fast leaves it out.
    # direct inversion, 50 steps (ITO as the reference code's, for fill="model"): 1.9x a plain image
    "quality": Preset("direct", 50, SuppressionConfig(step_size=5.0)),
    # direct inversion, 40 steps, SWR alone (no ITO): 1.6x a plain image
    "fast": Preset("direct", 40, SuppressionConfig(step_size=5.0, optimize=False)),
    # the reference code's configuration (null-text inversion, 50 steps, 10 ITO iterations at steps 10-19, step size 5),
    # plus unwant's wider SWR rows, mask and fill: 10x a plain image, what the others are measured against
    "reference": Preset("null-text", 50, SuppressionConfig(step_size=5.0)),
}


def preset_settings(name: str | Preset) -> Preset:
    """The named preset, or `name` itself when it is a Preset."""
    if isinstance(name, Preset):
        return name
    if name not in PRESETS:
        raise UnwantError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
