"""A real-size dress rehearsal on the CPU: SD 1.5 (512 px), SD 2.1 (768 px, v-prediction) and SDXL built from their
published configs with random weights (no download), one photo removed end to end with both presets' code paths.

    python -m benchmarks.realsize [--models sd15,sd21,sdxl] [--size PIXELS] [--steps 4] [--threads N] [--tiny] [--json PATH]

Reports per model: the attention-map size the method reads, seconds per UNet forward (per batch row) and per
forward + backward, peak RSS per stage, and the reference path's cost at 50 steps, extrapolated from those seconds
and the UNet call counts of a 50-step run of the same preset on the tiny model of the same structure. Random weights:
the images mean nothing, the times and memory do. --tiny runs the same code at tiny size (the CI smoke test).
"""

from __future__ import annotations

import argparse
import json
import platform
from dataclasses import asdict
from pathlib import Path

from benchmarks.options import MODELS, model_list


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=f"models: {', '.join(MODELS)}")
    parser.add_argument("--models", type=model_list, default="sd15,sd21", help="comma-separated configurations (default sd15,sd21)")
    parser.add_argument("--steps", type=int, default=4, help="DDIM steps of the end-to-end removals (default 4)")
    parser.add_argument("--size", type=int, help="working size in pixels, a multiple of 32 (default: each model's own, 512 / 768 / 1024); "
                        "SDXL's 1024 px does not fit 24 GB with ITO's backward on a CPU")
    parser.add_argument("--tiny", action="store_true", help="the same code on tiny models (smoke test)")
    parser.add_argument("--extrapolate-to", type=int, default=50, help="steps of the extrapolated reference path (default 50)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own)")
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args(argv)
    import psutil  # here, not at the top: `--help` answers without loading torch
    import torch

    from benchmarks.realsize_measure import markdown, measure

    models = args.models
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for model in models:
        rows.append(measure(model, args.steps, args.tiny, args.extrapolate_to, args.size))
        print(f"{model}: done", flush=True)
    print(markdown(rows))
    if args.json:
        meta = {"machine": platform.processor() or platform.machine(), "threads": torch.get_num_threads(), "torch": torch.__version__, "steps": args.steps,
                "tiny": args.tiny, "size": args.size, "cpu_count": psutil.cpu_count(), "extrapolate_to": args.extrapolate_to}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"meta": meta, "rows": [asdict(r) for r in rows]}, indent=2) + "\n")


if __name__ == "__main__":
    main()
