"""Named speed/quality trade-offs for real-photo removal."""

from __future__ import annotations

from dataclasses import dataclass, field

from editor.errors import UnwantError
from suppression.config import SuppressionConfig


@dataclass(frozen=True)
class Preset:
    inversion: str
    steps: int
    suppression: SuppressionConfig = field(default_factory=SuppressionConfig)


PRESETS: dict[str, Preset] = {
    # the reference algorithm: null-text inversion, 50 steps, 10 ITO iterations at steps 10-19, step size 5
    "quality": Preset("null-text", 50, SuppressionConfig(step_size=5.0)),
    # no inversion optimisation (direct inversion keeps the source exact), fewer steps and ITO iterations
    "fast": Preset("direct", 25, SuppressionConfig(step_size=5.0, ito_iterations=3)),
}


def preset_settings(name: str) -> Preset:
    if name not in PRESETS:
        raise UnwantError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
