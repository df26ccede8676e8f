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
    # the reference code's settings (null-text inversion, 50 steps, 10 ITO iterations at steps 10-19, step size 5),
    # plus unwant's wider SWR rows and the mask blend
    "quality": Preset("null-text", 50, SuppressionConfig(step_size=5.0)),
    # no inversion optimisation (direct inversion keeps the source exact), fewer steps and ITO iterations; on the toy
    # world with the default fill, exactly the other objects left in 1.00 of 50 scenes with a caption and 0.92 without
    # (benchmarks.quality --only clean; README)
    "fast": Preset("direct", 40, SuppressionConfig(step_size=5.0, ito_iterations=3)),
}


def preset_settings(name: str | Preset) -> Preset:
    """The named preset, or `name` itself when it is a Preset."""
    if isinstance(name, Preset):
        return name
    if name not in PRESETS:
        raise UnwantError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
