"""Look before editing: the presence check of a photo (unwant/presence), kept for the removal that follows it.

One check serves twice: its score says whether the target is there at all (a single edit leaves a photo without it
alone), and its per-cell posterior says which of the places the target's words attend to hold the target rather than
a look-alike (editor/removal/masks.py). A batch checks every photo first; the removal then reuses those checks."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import replace
from functools import cached_property

import numpy as np
import torch

from unwant.presence import Presence, PresenceConfig, presence
from unwant.presence.classifier import placed
from unwant.presence.classifier import PROMPT_TEMPLATE
from unwant.presence.rivals import load_vocabulary, nearest_rivals, own_vocabulary, unknown_words
from unwant.sd.calls import UNetCalls

KEPT_CHECKS = 64  # checks kept for reuse: a batch's chunk of photos times its targets, with room to spare


def where_targets_are(checks: dict[str, Presence]) -> np.ndarray | None:
    """(h, w) per latent cell: the highest of the targets' posteriors pooled for placing (any target's place), or None
    without checks."""
    posteriors = [check.place for check in checks.values() if check.place is not None]
    return torch.stack(posteriors).amax(0).numpy() if posteriors else None


def cost_of(checks: dict[str, Presence]) -> UNetCalls:
    """The UNet work of these checks, a kept one's included: a removal that reuses a check reports what it cost."""
    return sum((check.unet_calls for check in checks.values()), UNetCalls())


class PresenceChecks:
    """The presence checks one Editor has made, and the rivals it judged each target against."""

    def __init__(self, pipe):
        self.pipe = pipe
        self._rivals: dict[tuple[str, int], list[str]] = {}  # (target, count) -> its look-alikes: the same for every photo
        self._kept: OrderedDict[tuple, Presence] = OrderedDict()

    @property
    def model_folder(self) -> str | None:
        return self.pipe.config.get("_name_or_path")

    @cached_property
    def vocabulary(self) -> list[str]:
        """The names a presence check may pick rivals from: the model folder's vocabulary.txt, else everyday objects."""
        return load_vocabulary(self.model_folder)

    @cached_property
    def own_vocabulary(self) -> list[str] | None:
        """The model folder's vocabulary.txt, or None (a real checkpoint ships none)."""
        return own_vocabulary(self.model_folder)

    def unknown_words(self, target: str) -> list[str]:
        """The target's words outside the model's own vocabulary; none when the model ships no vocabulary.txt."""
        return unknown_words(target, self.own_vocabulary) if self.own_vocabulary is not None else []

    def rivals_of(self, target: str, count: int) -> list[str]:
        """The target's look-alikes, nearest first (cached)."""
        key = (target, count)
        if key not in self._rivals:
            self._rivals[key] = nearest_rivals(self.pipe, target, self.vocabulary, count, PROMPT_TEMPLATE)
        return self._rivals[key]

    def forget(self) -> None:
        """Drop the kept checks (a benchmark times each edit with its own)."""
        self._kept.clear()

    def check(self, z0: torch.Tensor, target: str, rivals: list[str] | None, config: PresenceConfig, place: bool = False) -> Presence:
        """`target`'s presence in the photo whose latent is z0; the same photo, target and settings again cost nothing.
        `place`: the photo will be edited, so its place is read with `config.place_draws` (the draws it lacks only)."""
        rivals = self.rivals_of(target, config.rivals) if rivals is None else list(rivals)
        digest = hashlib.sha1(z0.detach().float().cpu().numpy().tobytes()).hexdigest()
        key = (digest, target, tuple(rivals), replace(config, threshold=0.5))  # the threshold only reads the score
        if key in self._kept:
            self._kept.move_to_end(key)
        else:
            self._kept[key] = presence(self.pipe, z0, target, rivals, config)
            if len(self._kept) > KEPT_CHECKS:
                self._kept.popitem(last=False)
        if place:
            self._kept[key] = placed(self.pipe, z0, self._kept[key], config)
        return replace(self._kept[key], threshold=config.threshold)

    def look(self, z0: torch.Tensor, targets: list[str], config: PresenceConfig, force: bool) -> dict[str, Presence]:
        """Each target's check; where the photo will be edited (`force`, or a target present), its place read further."""
        looked = {target: self.check(z0, target, None, config) for target in targets}
        if force or any(check.present for check in looked.values()):
            looked = {target: self.check(z0, target, None, config, place=True) for target in targets}
        return looked
