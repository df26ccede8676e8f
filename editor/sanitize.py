"""One photo of a dataset: look for the targets first, remove only those there, then look again.

The statuses a report line can carry: "ok" (edited, the targets no longer found), "check" (edited, a target still seems
present: a person should look), "absent" (no target found: not edited, copied as is), plus the batch's own "skipped"
and "error"."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from editor.photo_io import Photo
from editor.result import EditResult
from presence import Presence, PresenceConfig


@dataclass
class Outcome:
    status: str  # "ok", "check" or "absent"
    result: EditResult | None  # None: the photo was not edited
    presence: dict[str, float] = field(default_factory=dict)  # target -> score before editing (empty: not checked)
    residual: dict[str, float] = field(default_factory=dict)  # target -> score on the edited photo (empty: not checked)
    threshold: float | None = None  # above it a score means "present"
    seconds: float = 0.0  # of both checks together


def _scores(checks: dict[str, Presence]) -> dict[str, float]:
    return {target: round(check.score, 4) for target, check in checks.items()}


def sanitize(
    editor,
    photo: Photo,
    targets: list[str],
    edit: Callable[[Photo, list[str]], EditResult],
    *,
    check_first: bool = True,
    verify: bool = True,
    config: PresenceConfig | None = None,
) -> Outcome:
    """Check each target's presence (unless `check_first` is off), `edit` the photo for those found, then check the
    edited photo for them again (unless `verify` is off)."""
    config = config or PresenceConfig()
    before = {t: editor.presence(photo, t, config=config) for t in targets} if check_first else {}
    found = [t for t in targets if before[t].present] if check_first else list(targets)
    seconds = sum(check.seconds for check in before.values())
    if not found:
        return Outcome("absent", None, _scores(before), threshold=config.threshold, seconds=seconds)
    result = edit(photo, found)
    after = {t: editor.presence(result.image, t, config=config) for t in found} if verify else {}
    seconds += sum(check.seconds for check in after.values())
    status = "check" if any(check.present for check in after.values()) else "ok"
    return Outcome(status, result, _scores(before), _scores(after), config.threshold, seconds)
