"""Quality on world 2 (faces, textures, shadows), where removal must know what was under the object.

    python -m benchmarks.world2 [--model toyworld2] [--count 100] [--only removal,generation,figure1,reconstruction]
                                [--tasks sunglasses,glasses,hat,texture,shadow,two-glasses] [--methods repaint,surroundings,model,negative prompt]

Prints one markdown table per section; every figure comes from world 2's exact detector on seeded held-out scenes.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from dataclasses import asdict

from benchmarks.fill_variants import FILL_VARIANTS
from benchmarks.options import CAPTIONS, choice_list, cpu_editor
from benchmarks.toyworld2.cases import TASKS as CASE_TASKS

SECTIONS = ("removal", "generation", "figure1", "reconstruction")
TASKS = tuple(CASE_TASKS)
METHODS = (*FILL_VARIANTS, "negative prompt")  # the fills (benchmarks/fill_variants.py) and the baseline
INVERSIONS = ("direct", "null-text")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=f"sections: {', '.join(SECTIONS)}; tasks: {', '.join(TASKS)}")
    parser.add_argument("--model", default="toyworld2", help="a model of world 2 (default toyworld2)")
    parser.add_argument("--count", type=int, default=100, help="scenes or prompts per row")
    parser.add_argument("--steps", type=int, default=50, help="steps of the generation sections")
    parser.add_argument("--only", type=choice_list(SECTIONS, "section"), default=",".join(SECTIONS))
    parser.add_argument("--tasks", type=choice_list(TASKS, "task"), default=",".join(TASKS), help="removal tasks")
    parser.add_argument("--methods", type=choice_list(METHODS, "method"), default="repaint+seam,surroundings,model+seam,suppressed+seam,negative prompt",
                        help=f"removal fills and the baseline, of: {', '.join(METHODS)}")
    parser.add_argument("--captions", choices=tuple(CAPTIONS), default="both", help="removal without a caption, with one, or both")
    parser.add_argument("--preset", default="quality", help="the removal preset (default quality, the tool's default)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args(argv)
    from benchmarks.toyworld2.rows import figure1_rows, generation_rows, markdown, reconstruction_rows, removal_rows

    editor = cpu_editor(args.model, args.threads)
    captions = CAPTIONS[args.captions]
    rows = []
    if "removal" in args.only:
        rows += removal_rows(editor, args.tasks, args.count, args.methods, args.preset, captions)
    if "generation" in args.only:
        rows += generation_rows(editor, args.count, args.steps)
    if "figure1" in args.only:
        rows += figure1_rows(editor, args.count, args.steps)
    if "reconstruction" in args.only:
        rows += reconstruction_rows(editor, args.count, list(INVERSIONS))
    command = "python -m benchmarks.world2 " + " ".join(argv if argv is not None else sys.argv[1:])
    print(f"\n{markdown(rows)}\n\n`{command.strip()}` on {platform.machine()}, model {args.model}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"command": command.strip(), "rows": [asdict(r) for r in rows]}, handle, indent=2)


if __name__ == "__main__":
    main()
