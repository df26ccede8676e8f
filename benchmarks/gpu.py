"""Real-size float16 on a GPU: seconds per image and peak VRAM of plain generation, each preset and each low-memory
option, for SD 1.5 (512 px) and SD 2.1 (768 px, v-prediction) built from their published configs with random weights.

    python -m benchmarks.gpu [--models sd15,sd21] [--steps N] [--json PATH]
    python -m benchmarks.gpu --tiny --device cpu --dtype float32   # the same code in seconds (CI smoke test)

Goal: SD 1.5, quality preset, float16, peak VRAM <= 8 GB (the reference code needs about 17 GB). Random weights: the
images mean nothing, the seconds and bytes do. Meant to finish in under 8 minutes on one modern GPU.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from PIL import Image

from benchmarks.real_configs import MODELS, build_pipeline, model_list
from benchmarks.realsize import PHOTO, PROMPT, TARGET
from editor import Editor
from editor.memory import MEMORY_OPTIONS, apply_memory_options

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


@dataclass
class Row:
    model: str
    run: str  # "generate", "preset quality", "preset fast", "preset fast + <option>"
    seconds: float
    peak_vram_gb: float | None  # torch.cuda.max_memory_allocated; None off CUDA
    unet_forwards: int


def _peak_reset(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def _timed(device: torch.device, work: Callable) -> tuple[float, float | None, object]:
    _peak_reset(device)
    start = time.perf_counter()
    result = work()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return seconds, peak, result


def _undo(pipe, option: str, processors: dict) -> None:
    """Turn a low-memory option off again so the next row starts from the plain pipeline."""
    if option == "attention-slicing":
        pipe.unet.set_attn_processor(processors)
    elif option == "vae-slicing":
        pipe.vae.disable_slicing()
    elif option == "vae-tiling":
        pipe.vae.disable_tiling()


def measure(model: str, device: torch.device, dtype: torch.dtype, steps: int | None, tiny: bool) -> list[Row]:
    fast_steps = steps  # None: the preset's own
    steps = steps or 50
    editor = Editor(build_pipeline(model, tiny=tiny, device=device, dtype=dtype))
    photo = Image.open(PHOTO).convert("RGB")
    runs: dict[str, Callable] = {
        "generate": lambda: editor.generate(PROMPT, remove=[], seed=0, steps=steps, progress=False),
        "preset quality": lambda: editor.remove(photo, TARGET, prompt=PROMPT, preset="quality", steps=steps, progress=False),
        "preset fast": lambda: editor.remove(photo, TARGET, prompt=PROMPT, preset="fast", steps=fast_steps, progress=False),
    }
    editor.generate(PROMPT, remove=[], seed=0, steps=2, progress=False)  # warm-up: kernels, allocator
    rows = []
    for name, work in runs.items():
        editor.forget_inversion()  # every removal pays for its inversion
        seconds, peak, result = _timed(device, work)
        rows.append(Row(model, name, round(seconds, 2), None if peak is None else round(peak, 2), result.unet_calls.forwards))
        print(f"{model} {name}: {seconds:.1f} s, peak {peak} GB", flush=True)
    processors = editor.pipe.unet.attn_processors
    for option in MEMORY_OPTIONS:
        if option == "offload" and device.type != "cuda":
            continue
        apply_memory_options(editor.pipe, [option], device)
        editor.forget_inversion()
        seconds, peak, result = _timed(device, runs["preset fast"])
        rows.append(Row(model, f"preset fast + {option}", round(seconds, 2), None if peak is None else round(peak, 2), result.unet_calls.forwards))
        print(f"{model} fast + {option}: {seconds:.1f} s, peak {peak} GB", flush=True)
        _undo(editor.pipe, option, processors)
    return rows


def markdown(rows: list[Row]) -> str:
    lines = ["| model | run | s / image | peak VRAM (GB) | UNet forwards |", "|---|---|---|---|---|"]
    lines += [f"| {r.model} | {r.run} | {r.seconds:.1f} | {'' if r.peak_vram_gb is None else f'{r.peak_vram_gb:.2f}'} | {r.unet_forwards} |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=f"models: {', '.join(MODELS)}; low-memory options: {', '.join(MEMORY_OPTIONS)}")
    parser.add_argument("--models", type=model_list, default="sd15,sd21", help="comma-separated configurations (default sd15,sd21)")
    parser.add_argument("--steps", type=int, help="steps of every run (default: 50 for generation and quality, the fast preset's own 40)")
    parser.add_argument("--device", default="cuda", help="default cuda")
    parser.add_argument("--dtype", default="float16", choices=list(DTYPES), help="default float16")
    parser.add_argument("--tiny", action="store_true", help="tiny models of the same structure (smoke test)")
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args(argv)
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
