"""What the benchmarks' command lines share."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence


def choice_list(choices: Sequence[str], kind: str) -> Callable[[str], list[str]]:
    """argparse type: a comma-separated subset of `choices`; an unknown name is refused with the list."""

    def parse(text: str) -> list[str]:
        names = [name.strip() for name in text.split(",")]
        unknown = [name for name in names if name not in choices]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {kind} {', '.join(map(repr, unknown))}: choose from {'; '.join(choices)}")
        return names

    return parse
