"""Read the unwanted object from a negated prompt: "a man without glasses" -> "glasses"."""

from __future__ import annotations

import re

_NEGATION = re.compile(r"\b(?:without|with\s+no|no|not)\s+(?:(?:a|an|the|any)\s+)?([\w' -]+?)\s*(?=$|[,.;:!?]|\band\b|\bwith\b|\bor\b)", re.I)


def negated_targets(prompt: str) -> list[str]:
    """The objects a prompt asks to be absent ("without X", "with no X", "no X"), leading articles dropped."""
    return [m.group(1).strip().lower() for m in _NEGATION.finditer(prompt) if m.group(1).strip()]
