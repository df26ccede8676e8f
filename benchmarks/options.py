"""What the benchmarks' command lines share."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence


def choice_list(choices: Sequence[str], kind: str) -> Callable[[str], list[str]]:
    """argparse type: a comma-separated subset of `choices`; an unknown name is refused with the list."""

    def parse(text: str) -> list[str]:
        pieces, names, unknown, i = text.split(","), [], [], 0
        while i < len(pieces):  # some names hold a comma ("removal: preset fast, fill model ..."): the longest that fits
            ends = [j for j in range(len(pieces), i, -1) if ",".join(pieces[i:j]).strip() in choices]
            if ends:
                names.append(",".join(pieces[i:ends[0]]).strip())
                i = ends[0]
            else:
                unknown.append(pieces[i].strip())
                i += 1
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {kind} {', '.join(map(repr, unknown))}: choose from {'; '.join(choices)}")
        return names

    return parse


# configs/ folder names: the checkpoints the benchmarks and tests stand in for (real_configs.py builds them)
MODELS = ("sd15", "sd21-base", "sd21", "finetune-dpmpp-2m-karras", "finetune-euler-ancestral", "finetune-unipc", "sdxl")
model_list = choice_list(MODELS, "model")  # argparse type of the benchmarks' --models
