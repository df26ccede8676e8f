"""Where the unwanted words and the [EOT] block sit in a tokenized prompt (Li et al. 2024, Sec. 3.2)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from unwant.sd.errors import UnwantError
from unwant.sd.text import token_ids


@dataclass(frozen=True)
class TokenLayout:
    """Token positions of one prompt in the text encoder's padded sequence."""

    length: int  # n: tokens of the prompt including [SOT] and the first [EOT]
    max_length: int  # padded length, 77 for SD
    target_positions: tuple[int, ...]  # every BPE piece of every target word, in order
    # each place the prompt names a target ("a red car": one), as its words' piece positions ((red,), (car,)): the
    # object is where all its words attend, not where any one does ("red" also lights up a red wall)
    target_objects: tuple[tuple[tuple[int, ...], ...], ...] = ()

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


COMPOUND_PREFIX = 3  # letters a compound's first part needs at least: "sun|glasses" is one, "t|hat" and "c|hat" are not
# a target at least this long may end a compound the tokenizer keeps whole ("sunglasses"); shorter ones end too many
# unrelated words ("wea|ring", "ger|man", "con|tent") and count only where the tokenizer splits them off ("water|mark")
COMPOUND_TARGET = 5


@dataclass(frozen=True)
class Word:
    start: int  # position of its first piece in the token sequence
    end: int  # one past its last piece
    text: str
    ids: tuple[int, ...]  # its pieces


def words_of(tokenizer, ids: list[int]) -> list[Word]:
    """The words of a token sequence: CLIP's BPE ends the last piece of each word with "</w>"."""
    pieces = tokenizer.convert_ids_to_tokens(ids)
    special = set(tokenizer.all_special_ids)
    words: list[Word] = []
    start = None
    for i, (token, piece) in enumerate(zip(ids, pieces)):
        if token in special:
            start = None
            continue
        start = i if start is None else start
        if piece.endswith("</w>") or i + 1 == len(ids) or ids[i + 1] in special:
            words.append(Word(start, i + 1, tokenizer.decode(ids[start : i + 1]).strip().lower(), tuple(ids[start : i + 1])))
            start = None
    return words


def _word_matches(word: Word, target: Word, vocabulary: dict) -> bool:
    """The word itself, or a compound that ends with it: split off by the tokenizer ("eye|glasses"), or, for a long
    enough target, after a first part that is a word of its own ("sunglasses")."""
    if word.text == target.text:
        return True
    prefix = word.text[: -len(target.text)]
    if not word.text.endswith(target.text) or len(prefix) < COMPOUND_PREFIX:
        return False
    split_off = len(word.ids) > len(target.ids) and word.ids[-len(target.ids) :] == target.ids
    return split_off or (len(target.text) >= COMPOUND_TARGET and f"{prefix}</w>" in vocabulary)


def _occurrences(prompt_words: list[Word], target_words: list[Word], vocabulary: dict) -> list[list[Word]]:
    """Every run of prompt words that matches the target's words, each one whole or as the end of a compound."""
    k = len(target_words)
    return [
        prompt_words[i : i + k]
        for i in range(len(prompt_words) - k + 1)
        if all(_word_matches(w, t, vocabulary) for w, t in zip(prompt_words[i : i + k], target_words))
    ]


def prompt_words(prompt: str) -> list[str]:
    return re.findall(r"[\w'-]+", prompt.lower())


def locate_tokens(tokenizer, prompt: str, targets: str | list[str]) -> TokenLayout:
    """Positions of every piece of every word that each target names (case-insensitive), and the [EOT] block.

    A target matches whole words only: "hat" never matches inside "that" or "chat". A compound that ends with the
    target ("sunglasses", "eyeglasses" for "glasses") is suppressed whole, every piece of it. Where the prompt is longer
    than the text encoder reads, only what it reads counts."""
    targets = [targets] if isinstance(targets, str) else list(targets)
    max_length = tokenizer.model_max_length
    ids = token_ids(tokenizer, prompt)
    vocabulary = tokenizer.get_vocab()
    words = words_of(tokenizer, ids)
    positions: set[int] = set()
    objects: list[tuple[tuple[int, ...], ...]] = []
    for target in targets:
        target_words = words_of(tokenizer, tokenizer(target.strip(), add_special_tokens=False).input_ids)
        found = _occurrences(words, target_words, vocabulary) if target_words else []
        read = [run for run in found if run[-1].end <= max_length - 1]  # the encoder reads [SOT], 75 tokens, [EOT]
        if found and not read:
            raise UnwantError(
                f"the prompt is too long: it has {len(ids)} tokens and the text encoder reads {max_length}, but {target!r} "
                f"starts at token {found[0][0].start}: shorten the prompt or name the object earlier"
            )
        if not read:
            listed = ", ".join(prompt_words(prompt)) or "(none)"
            raise UnwantError(f"{target!r} is not in the prompt {prompt!r}: name one of its words ({listed}) or add the object to --prompt")
        positions.update(p for run in read for word in run for p in range(word.start, word.end))
        objects += [tuple(tuple(range(word.start, word.end)) for word in run) for run in read]
    return TokenLayout(length=min(len(ids), max_length), max_length=max_length, target_positions=tuple(sorted(positions)),
                       target_objects=tuple(dict.fromkeys(objects)))


def words_after(prompt: str, targets: list[str]) -> list[str]:
    """The prompt's words after the last occurrence of any target: a causal text encoder carries the target into
    them, and the paper's SWR (Li et al. 2024, Sec. 3.3: the target's and the [EOT] rows) leaves them untouched, so
    some of the target survives there."""
    lowered = prompt.lower()
    end = max((lowered.rfind(t.lower().strip()) + len(t.strip()) for t in targets if t.strip().lower() in lowered), default=-1)
    return prompt_words(prompt[end:]) if end >= 0 else []
