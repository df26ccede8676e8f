"""What the benchmarks' command lines share."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence


CAPTIONS = {"both": (False, True), "no": (False,), "yes": (True,)}  # --captions: removals without a caption, with one


def cpu_editor(model: str, threads: int | None = None):
    """`model` on the CPU in float32, as the toy-world benchmarks measure it; `threads`: torch's intra-op threads
    (None: torch's default). torch loads here, not at import: `--help` answers without it."""
    import torch

    from editor import Editor

    if threads:
        torch.set_num_threads(threads)
    return Editor.from_pretrained(model, device="cpu", dtype="float32")


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
