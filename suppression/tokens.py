"""Where the unwanted words and the [EOT] block sit in a tokenized prompt (Li et al. 2024, Sec. 3.2)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from editor.errors import UnwantError


@dataclass(frozen=True)
class TokenLayout:
    """Token positions of one prompt in the text encoder's padded sequence."""

    length: int  # n: tokens of the prompt including [SOT] and the first [EOT]
    max_length: int  # padded length, 77 for SD
    target_positions: tuple[int, ...]  # every BPE piece of every target word, in order
    targets: tuple[str, ...]

    @property
    def eot_positions(self) -> tuple[int, ...]:
        """[EOT] block: the first [EOT] at n-1 and all padding after it.

        SD 1.x pads with [EOT] itself; SD 2.x pads with "!" (id 0), whose rows, coming after the causal
        encoder's [EOT], also carry the whole prompt, so they are treated as [EOT] rows too.
        """
        return tuple(range(self.length - 1, self.max_length))

    @property
    def word_positions(self) -> tuple[int, ...]:
        """Positions 1 .. n-2: the prompt's words, without [SOT] and [EOT]."""
        return tuple(range(1, self.length - 1))

    @property
    def kept_positions(self) -> tuple[int, ...]:
        """The positive target: the prompt's words minus the unwanted ones."""
        return tuple(p for p in self.word_positions if p not in self.target_positions)

    @property
    def suppressed_positions(self) -> tuple[int, ...]:
        """The columns of the paper's SWR matrix: the unwanted words' pieces and the whole [EOT] block."""
        return self.target_positions + self.eot_positions

    @property
    def following_positions(self) -> tuple[int, ...]:
        """The other words after the first target piece: a causal encoder has carried the target into them too."""
        first = min(self.target_positions)
        return tuple(p for p in self.word_positions if p > first and p not in self.target_positions)

    def swr_positions(self, words_after: bool = True) -> tuple[int, ...]:
        """SWR's columns: every row that has seen the target (`words_after`), or the paper's target + [EOT] rows."""
        return self.target_positions + (self.following_positions if words_after else ()) + self.eot_positions


def _pieces(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False).input_ids


def _find(sequence: list[int], pieces: list[int]) -> list[int]:
    """Start indexes of every occurrence of `pieces` in `sequence`."""
    k = len(pieces)
    return [i for i in range(len(sequence) - k + 1) if sequence[i : i + k] == pieces]


def prompt_words(prompt: str) -> list[str]:
    return re.findall(r"[\w'-]+", prompt.lower())


def locate_tokens(tokenizer, prompt: str, targets: str | list[str]) -> TokenLayout:
    """Positions of every BPE piece of each target (case-insensitive) and the prompt's [EOT] block."""
    targets = [targets] if isinstance(targets, str) else list(targets)
    max_length = tokenizer.model_max_length
    ids = tokenizer(prompt, truncation=True, max_length=max_length).input_ids
    positions: list[int] = []
    for target in targets:
        pieces = _pieces(tokenizer, target.lower().strip())
        starts = _find(ids, pieces) if pieces else []
        if not starts:
            words = ", ".join(prompt_words(prompt)) or "(none)"
            raise UnwantError(
                f"{target!r} is not in the prompt {prompt!r}: name one of its words ({words}) or add the object to --prompt"
            )
        for start in starts:
            positions.extend(p for p in range(start, start + len(pieces)) if p not in positions)
    return TokenLayout(length=len(ids), max_length=max_length, target_positions=tuple(sorted(positions)), targets=tuple(targets))


def words_after(prompt: str, targets: list[str]) -> list[str]:
    """The prompt's words after the last occurrence of any target: a causal text encoder carries the target into
    them, and the paper's SWR leaves them untouched (METHOD.md Sec. 1), so some of the target survives there."""
    lowered = prompt.lower()
    end = max((lowered.rfind(t.lower().strip()) + len(t.strip()) for t in targets if t.strip().lower() in lowered), default=-1)
    return prompt_words(prompt[end:]) if end >= 0 else []
