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


# configs/ folder names: the checkpoints the benchmarks and tests stand in for (real_configs.py builds them)
MODELS = ("sd15", "sd21-base", "sd21", "finetune-dpmpp-2m-karras", "finetune-euler-ancestral", "finetune-unipc")
model_list = choice_list(MODELS, "model")  # argparse type of the benchmarks' --models
