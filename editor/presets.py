"""Named speed/quality trade-offs for real-photo removal."""

from __future__ import annotations

from dataclasses import dataclass, field

from sd.errors import UnwantError
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
    # So the inversion is what a preset buys there, and direct inversion's exact trajectory gave the best masks: on
    # 16 fresh toy scenes with no caption, exact 0.94 with direct, 0.75 with null-text capped at 2 iterations
    # (benchmarks.quality --only clean and README have the 100-scene figures).
    # direct inversion, 50 steps, the reference code's ITO (10 iterations at steps 10-19, step size 5) for fill="model"
    "quality": Preset("direct", 50, SuppressionConfig(step_size=5.0)),
    # direct inversion, 40 steps, 3 ITO iterations
    "fast": Preset("direct", 40, SuppressionConfig(step_size=5.0, ito_iterations=3)),
    # the reference code's configuration (null-text inversion, 50 steps, 10 ITO iterations), plus unwant's wider SWR
    # rows, mask and fill: what the other presets are measured against
    "reference": Preset("null-text", 50, SuppressionConfig(step_size=5.0)),
}


def preset_settings(name: str | Preset) -> Preset:
    """The named preset, or `name` itself when it is a Preset."""
    if isinstance(name, Preset):
        return name
    if name not in PRESETS:
        raise UnwantError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
