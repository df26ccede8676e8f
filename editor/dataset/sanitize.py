"""One photo of a dataset: look for the targets first, remove only those there, then look again.

The statuses a report line can carry: "ok" (edited, the targets no longer found), "check" (edited, a target still seems
present: a person should look), "absent" (no target found: not edited, copied as is), "not-found" (the presence check
found a target, or was skipped, but the removal could not locate it: nothing is written, a person should look), plus
the batch's own "skipped" and "error"."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from editor.dataset.residual import why_still_present
from editor.photos.photo_io import Photo
from editor.result import EditResult
from unwant.presence import Presence, PresenceConfig


@dataclass
class Outcome:
    status: str  # "ok", "check", "absent" or "not-found"
    result: EditResult | None  # None: the photo was not edited
    presence: dict[str, float] = field(default_factory=dict)  # target -> score before editing (empty: not checked)
    residual: dict[str, float] = field(default_factory=dict)  # target -> score on the edited photo (empty: not checked)
    threshold: float | None = None  # above it a score means "present"
    seconds: float = 0.0  # of both checks together
    caption_from: str | None = None  # the file the photo's own caption came from (None: the batch's prompt, or none)
    why: str | None = None  # status "check": why a target still seems present, as far as the checks tell (residual.py)


def _scores(checks: dict[str, Presence]) -> dict[str, float]:
    return {target: round(check.score, 4) for target, check in checks.items()}


def sanitize(
    editor,
    photos: list[Photo],
    targets: list[str],
    edit: Callable[[list[Photo], list[str], str | None], list[EditResult]],
    *,
    check_first: bool = True,
    verify: bool = True,
    config: PresenceConfig | None = None,
    captions: list[str | None] | None = None,
) -> list[Outcome]:
    """Check each target's presence in each photo (unless `check_first` is off), `edit` the photos for the targets found
    with their caption (None: the batch's prompt; photos that hold the same targets and caption in one call, so they can
    share the model's batches), then check each edited photo for them again (unless `verify` is off)."""
    config = config or PresenceConfig()
    captions = captions or [None] * len(photos)
    before = [{t: editor.presence(photo, t, config=config) for t in targets} if check_first else {} for photo in photos]
    found = [tuple(t for t in targets if checks[t].present) if check_first else tuple(targets) for checks in before]
    results: dict[int, EditResult] = {}
    for wanted, caption in dict.fromkeys(zip(found, captions)):
        if wanted:
            same = [i for i, f in enumerate(found) if f == wanted and captions[i] == caption]
            results |= dict(zip(same, edit([photos[i] for i in same], list(wanted), caption)))
    outcomes = []
    for i, checks in enumerate(before):
        seconds = sum(check.seconds for check in checks.values())
        if i not in results:
            outcomes.append(Outcome("absent", None, _scores(checks), threshold=config.threshold, seconds=seconds))
            continue
        if results[i].found is False:  # an empty mask: the photo would come back unchanged, called edited
            outcomes.append(Outcome("not-found", None, _scores(checks), threshold=config.threshold, seconds=seconds))
            continue
        after = {t: editor.presence(results[i].image, t, config=config) for t in found[i]} if verify else {}
        seconds += sum(check.seconds for check in after.values())
        still = [t for t, check in after.items() if check.present]
        why = "; ".join(why_still_present(t, results[i].mask, checks.get(t), after[t], config.top_fraction) for t in still)
        outcomes.append(Outcome("check" if still else "ok", results[i], _scores(checks), _scores(after), config.threshold, seconds,
                                why=why or None))
    return outcomes
