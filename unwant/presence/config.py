"""The presence check's knobs in one place; defaults chosen on 200 toy-world scenes and checked on 200 others
(benchmarks.quality --only presence)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from unwant.sd.errors import UnwantError, check_number


@dataclass(frozen=True)
class PresenceConfig:
    # noise levels the photo is read at, as fractions of the training timesteps, one paired noise draw each. High
    # levels judge shape, the low one colour; on the toy world each level alone gives AUC 0.85-0.92, these four 0.997
    timesteps: tuple[float, ...] = (0.15, 0.5, 0.6, 0.75)
    # paired noise draws at each level for the score. One gives AUC 0.997 at half the cost (0.20x a plain image against
    # 0.41x), but lets 2 more of 60 held-out look-alike scenes under the threshold (README, "A single edit's gate")
    draws: int = 2
    # for where the target is, read only for a photo that will be edited (the draws the score lacks are added): with
    # one, a look-alike's cells reach the target's posterior in 0.15 of hard scenes (README, "Which object")
    place_draws: int = 2
    # the names nearest the target in the text encoder's space (its look-alikes) compete with it for each cell;
    # fewer than 6 let a look-alike that is in the photo go unchallenged (toy world: AUC 0.98 with 4)
    rivals: int = 6
    pool: int = 3  # cells averaged (a pool x pool box) before the comparison, so one noisy cell does not decide
    # the same for where the target is (which attention blobs a removal's mask keeps): wider, so a look-alike a few
    # pixels from the target is not judged on the target's own cells (first world: 0.97 -> 0.99 of 320 tuning scenes)
    place_pool: int = 5
    # softmax temperature of the cell posterior over the names, in units of the mean error at each noise level
    temperature: float = 0.2
    top_fraction: float = 1 / 32  # the score is the mean posterior over this share of cells, where the target wins most
    # present above this posterior in its best cells. On the 200 tuning scenes, two draws, accuracy is 1.00 from 0.55
    # to 0.65 (0.99 at 0.5, where the target is just likelier than all its rivals together; one draw: 0.97 from 0.54 to
    # 0.66); the low end of that plateau, since a target let through unedited is the error a sanitizer must not make
    threshold: float = 0.55
    seed: int = 0  # the noise draws: one photo, one score, on every device

    def __post_init__(self):
        check_number(self.threshold, "presence threshold", 0.0, 1.0, usual="0.55 by default")
        check_number(self.temperature, "presence temperature", 0.0, 100.0, low_open=True)
        check_number(self.top_fraction, "presence top fraction", 0.0, 1.0, low_open=True)
        for name in ("draws", "place_draws"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise UnwantError(f"presence {name.replace('_', ' ')} must be a whole number, at least 1, not {getattr(self, name)!r}")
        for name in ("pool", "place_pool"):  # an even box would shift the posterior half a cell off the photo
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1 or getattr(self, name) % 2 == 0:
                raise UnwantError(f"presence {name.replace('_', ' ')} must be an odd whole number of cells (1, 3, 5, ...), "
                                  f"not {getattr(self, name)!r}")

    def with_(self, **changes) -> "PresenceConfig":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
