"""The names a target competes with in the presence check: its look-alikes in the text encoder's own space."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import torch

from unwant.sd.text import padded_ids

VOCABULARY_FILE = "vocabulary.txt"  # in a model's folder: the objects its world has (the toy model ships one)
GENERIC_VOCABULARY = Path(__file__).resolve().parent / "objects.txt"  # everyday photo objects, COCO's and the usual targets
WORN_ON = Path(__file__).resolve().parent / "worn_on.txt"  # what sunglasses, a logo, ... are worn on or part of
# above this cosine two names mean the same thing to the encoder ("glasses", "eyeglasses"): a synonym is no rival
SYNONYM_SIMILARITY = 0.95  # toy world: the closest two different objects are at 0.91


def _names_in(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def own_vocabulary(model_folder: str | Path | None) -> list[str] | None:
    """The objects a model's folder says it knows (vocabulary.txt), or None when it says nothing (a real checkpoint)."""
    own = Path(model_folder) / VOCABULARY_FILE if model_folder else None
    return _names_in(own) if own is not None and own.is_file() else None


def load_vocabulary(model_folder: str | Path | None) -> list[str]:
    """The model's own vocabulary.txt when its folder has one, else the generic list of everyday objects."""
    return own_vocabulary(model_folder) or _names_in(GENERIC_VOCABULARY)


def unknown_words(target: str, vocabulary: list[str]) -> list[str]:
    """The target's words that no name of the vocabulary uses ("cat" to a model of coloured shapes)."""
    known = {word for name in vocabulary for word in name.casefold().split()}
    return [word for word in target.split() if word.casefold() not in known]


def _kind_of(name: str, target: str) -> bool:
    """`name` is a kind of `target` when it has every word of it ("red circle" of "red"): the target's own, no rival."""
    return set(target.casefold().split()) <= set(name.casefold().split())


@cache
def _worn_on() -> dict[str, frozenset[str]]:
    """worn_on.txt as target -> the names it is worn on or part of, casefolded."""
    pairs = {}
    for line in _names_in(WORN_ON):
        name, _, holders = line.partition(":")
        pairs[name.strip().casefold()] = frozenset(h.strip().casefold() for h in holders.split(",") if h.strip())
    return pairs


def _shares_a_place(name: str, target: str) -> bool:
    """`name` is what the target is worn on or part of, or the other way round ("face" and "sunglasses"): in a photo
    they share cells, so the target is no more likely than it in any of them, and it is no rival (worn_on.txt)."""
    worn_on, a, b = _worn_on(), name.casefold(), target.casefold()
    return a in worn_on.get(b, ()) or b in worn_on.get(a, ())


@torch.no_grad()
def name_embeddings(pipe, names: list[str], template: str) -> torch.Tensor:
    """(names, d): the text encoder's pooled embedding of each name in the prompt template, unit length."""
    ids = padded_ids(pipe.tokenizer, [template.format(name=n) for n in names])
    pooled = pipe.text_encoder(ids.to(pipe.text_encoder.device)).pooler_output.float().cpu()
    return pooled / pooled.norm(dim=-1, keepdim=True)


def nearest_rivals(pipe, target: str, vocabulary: list[str], count: int, template: str) -> list[str]:
    """The `count` names of the vocabulary closest to the target, leaving out the target itself, its own kinds ("red
    circle" when the target is "red"), what it is worn on or part of ("face" when it is "sunglasses") and its synonyms."""
    candidates = [n for n in dict.fromkeys(vocabulary) if not (_kind_of(n, target) or _shares_a_place(n, target))]
    if not candidates or count <= 0:
        return []
    embeddings = name_embeddings(pipe, [target, *candidates], template)
    similarity = embeddings[1:] @ embeddings[0]
    order = similarity.argsort(descending=True).tolist()
    return [candidates[i] for i in order if similarity[i] < SYNONYM_SIMILARITY][:count]
