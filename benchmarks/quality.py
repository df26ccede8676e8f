"""Quality on the toy world: does the object go, do the others stay, is the background kept?

    python -m benchmarks.quality [--model toyworld] [--count 50] [--json PATH] [--only clean,presence,order,fidelity,...] [--presets fast]

Prints a markdown table. Every figure comes from the exact toy-world detector on seeded samples.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from dataclasses import asdict

from benchmarks.options import choice_list


def markdown(rows: list) -> str:
    """The rows as a markdown table."""
    fmt = lambda v, p=2: "" if v is None else f"{v:.{p}f}"
    lines = [
        "| section | method | n | unwanted absent | wanted kept | exact | PSNR outside (dB) | SSIM outside | remnant | collateral | s / image |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.section} | {r.method} | {r.samples} | {fmt(r.unwanted_absent)} | {fmt(r.wanted_kept)} | {fmt(r.exact)} | "
            f"{fmt(r.psnr, 1)} | {fmt(r.ssim, 3)} | {fmt(r.remnant, 3)} | {fmt(r.collateral, 3)} | {fmt(r.seconds, 1)} |"
        )
    return "\n".join(lines)


SECTIONS = ("clean", "presence", "order", "fidelity", "generation", "reconstruction", "removal", "presets", "position")
PRESETS = ("quality", "fast", "reference")
INVERSIONS = ("null-text", "direct", "negative-prompt", "ddim")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Toy-world quality benchmark", epilog=f"sections: {', '.join(SECTIONS)}; inversions: {', '.join(INVERSIONS)}")
    parser.add_argument("--model", default="toyworld", help="a model of the toy world's kind (default toyworld)")
    parser.add_argument("--count", type=int, default=50, help="prompts or scenes per row")
    parser.add_argument("--steps", type=int, default=50, help="steps of the fidelity and generation sections (the photo sections run 50 or their preset's)")
    parser.add_argument("--only", type=choice_list(SECTIONS, "section"), default=",".join(SECTIONS), help="comma-separated sections (default: all)")
    parser.add_argument("--inversions", type=choice_list(INVERSIONS, "inversion"), default=",".join(INVERSIONS), help="of the reconstruction and removal sections")
    parser.add_argument("--presets", type=choice_list(PRESETS, "preset"), default="quality,fast", help="of the clean section's headline rows (default: quality,fast; reference is the slow paper configuration); "
                        "with fast, the ablation and baseline rows too")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args(argv)
    from benchmarks.clean_rows import clean_rows, order_rows
    from benchmarks.presence_rows import presence_markdown, presence_rows
    from benchmarks.quality_rows import (fidelity_rows, generation_rows, position_rows, preset_rows, reconstruction_rows,
                                         removal_rows)
    from editor import Editor  # here, not at the top: `--help` answers without loading torch

    editor = Editor.from_pretrained(args.model, device="cpu", dtype="float32")
    sections = args.only
    rows = []
    if "clean" in sections:
        rows += clean_rows(editor, args.count, args.presets)
    detection = presence_rows(editor, args.count) if "presence" in sections else []
    if "order" in sections:
        rows += order_rows(editor, args.count, args.steps)
    if "fidelity" in sections:
        rows += fidelity_rows(editor, args.count, args.steps)
    if "generation" in sections:
        rows += generation_rows(editor, args.count, args.steps)
    if "reconstruction" in sections:
        rows += reconstruction_rows(editor, args.count, args.inversions)
    if "removal" in sections:
        rows += removal_rows(editor, args.count, args.inversions)
    if "presets" in sections:
        rows += preset_rows(editor, args.count)
    if "position" in sections:
        rows += position_rows(editor, args.count)
    table = "\n\n".join(t for t in (markdown(rows) if rows else "", presence_markdown(detection) if detection else "") if t)
    command = "python -m benchmarks.quality " + " ".join(argv if argv is not None else sys.argv[1:])
    print(f"\n{table}\n\n`{command.strip()}` on {platform.machine()} / {platform.processor() or 'cpu'}, model {args.model}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"command": command, "rows": [asdict(r) for r in rows], "presence_rows": [asdict(r) for r in detection]}, handle, indent=2)


if __name__ == "__main__":
    main()
