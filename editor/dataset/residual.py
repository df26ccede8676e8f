"""Why a target still seems present after its removal: the check after editing against the mask the removal used.

The presence check's per-cell posterior says where the target's best cells are; the removal's mask says where it
painted. Inside the mask, the fill drew the target again; outside it, the mask took something else or missed an
instance; where the check before editing placed the target outside the mask, the mask and the target disagreed from
the start (README: "A photo to check")."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from unwant.presence import Presence

INSIDE = 0.5  # share of the best cells under the mask above which the target is "where it was removed"


def best_cells(check: Presence, fraction: float) -> np.ndarray:
    """(h, w) bool: the `fraction` of cells where the target is likeliest (those the score is the mean of)."""
    posterior = check.posterior.numpy()
    top = max(1, round(fraction * posterior.size))
    return posterior >= np.sort(posterior, axis=None)[-top]


def share_inside(cells: np.ndarray, mask: Image.Image) -> float:
    """The share of `cells` the mask ('L', any size) covers, the mask brought down to the cells' grid."""
    small = cv2.resize(np.asarray(mask, np.float32) / 255.0, (cells.shape[1], cells.shape[0]), interpolation=cv2.INTER_AREA)
    return float((small[cells] >= 0.5).mean())


def place(cells: np.ndarray) -> str:
    """Where the cells are, in words a person finds in the photo: 'about 30% across, 70% down'."""
    rows, cols = np.nonzero(cells)
    return f"about {round(100 * (cols.mean() + 0.5) / cells.shape[1])}% across, {round(100 * (rows.mean() + 0.5) / cells.shape[0])}% down"


def why_still_present(target: str, mask: Image.Image | None, before: Presence | None, after: Presence, fraction: float) -> str:
    """One line for a report: why the check after editing still finds `target`, as far as the two checks can tell;
    `fraction`: the share of cells a check's score is the mean of (PresenceConfig.top_fraction)."""
    said = f"'{target}' still seems present ({after.score:.2f}; present above {after.threshold:.2f})"
    if after.posterior is None or mask is None or not np.asarray(mask).any():
        return f"{said}: look at the photo"
    cells = best_cells(after, fraction)
    if share_inside(cells, mask) >= INSIDE:
        return (f"{said} where it was removed ({place(cells)}): the fill may have drawn it again; a caption that describes "
                "the place without it, or another --fill, may help")
    if before is not None and before.posterior is not None:
        found = best_cells(before, fraction)
        if share_inside(found, mask) < INSIDE:
            return (f"{said}: the mask and the target's best cells disagree: the check found it {place(found)}, outside "
                    "the removed area, so another object may have been taken instead; a caption naming it may help")
    return f"{said} outside the removed area ({place(cells)}): an instance, or part of one, was missed"
