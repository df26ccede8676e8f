"""Real-size float16 on a GPU: seconds per image and peak VRAM of plain generation, each preset and each low-memory
option, for SD 1.5 (512 px), SD 2.1 (768 px, v-prediction) and SDXL (1024 px) built from their published configs with
random weights.

    python -m benchmarks.gpu [--models sd15,sd21,sdxl] [--steps N] [--json PATH]
    python -m benchmarks.gpu --tiny --device cpu --dtype float32   # the same code in seconds (CI smoke test)

Goal: SD 1.5, reference preset (fill model: ITO's backward), float16, peak VRAM <= 8 GB (the reference code needs about 17 GB). Random weights: the
images mean nothing, the seconds and bytes do. Meant to finish in under 8 minutes on one modern GPU.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
from dataclasses import asdict
from pathlib import Path

from benchmarks.options import MODELS, model_list
from cli import MEMORY_OPTIONS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=f"models: {', '.join(MODELS)}; low-memory options: {', '.join(MEMORY_OPTIONS)}")
    parser.add_argument("--models", type=model_list, default="sd15,sd21,sdxl", help="comma-separated configurations (default sd15,sd21,sdxl)")
    parser.add_argument("--steps", type=int, help="steps of every run (default: 50 for generation, reference and quality, the fast preset's own 40)")
    parser.add_argument("--device", default="cuda", help="default cuda")
    parser.add_argument("--dtype", default="float16", choices=["float16", "bfloat16", "float32"], help="default float16")
    parser.add_argument("--tiny", action="store_true", help="tiny models of the same structure (smoke test)")
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args(argv)
    import torch  # here, not at the top: `--help` answers without loading it

    from benchmarks.gpu_measure import DTYPES, markdown, measure

    models = args.models
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA device here: run on a GPU machine, or pass --device cpu (with --tiny) for a smoke test")
    rows = []
    for model in models:
        rows += measure(model, device, DTYPES[args.dtype], args.steps, args.tiny)
        gc.collect()  # offload's hooks keep the last pipeline in reference cycles: free it before the next model's peak
        if device.type == "cuda":
            torch.cuda.empty_cache()
    print(markdown(rows))
    if args.json:
        gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
        meta = {"device": gpu, "dtype": args.dtype, "steps": args.steps, "tiny": args.tiny, "torch": torch.__version__}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"meta": meta, "rows": [asdict(r) for r in rows]}, indent=2) + "\n")


if __name__ == "__main__":
    main()
