"""What `python -m benchmarks.gpu` measures (the command line is gpu.py, which loads this after parsing)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from PIL import Image

from benchmarks.real_configs import build_pipeline
from benchmarks.realsize_measure import PHOTO, PROMPT, TARGET
from editor import Editor
from editor.memory import MEMORY_OPTIONS, apply_memory_options

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


@dataclass
class Row:
    model: str
    run: str  # "generate", "preset reference", "preset quality", "preset fast", "preset fast + <option>"
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
        "preset reference": lambda: editor.remove(photo, TARGET, prompt=PROMPT, preset="reference", steps=steps, fill="model", progress=False, force=True),
        "preset quality": lambda: editor.remove(photo, TARGET, prompt=PROMPT, preset="quality", steps=steps, progress=False, force=True),
        "preset fast": lambda: editor.remove(photo, TARGET, prompt=PROMPT, preset="fast", steps=fast_steps, progress=False, force=True),
    }
    editor.generate(PROMPT, remove=[], seed=0, steps=2, progress=False)  # warm-up: kernels, allocator
    rows = []
    for name, work in runs.items():
        editor.forget_last_photo()  # every removal pays for its inversion
        seconds, peak, result = _timed(device, work)
        rows.append(Row(model, name, round(seconds, 2), None if peak is None else round(peak, 2), result.unet_calls.forwards))
        print(f"{model} {name}: {seconds:.1f} s, peak {peak} GB", flush=True)
    processors = editor.pipe.unet.attn_processors
    for option in MEMORY_OPTIONS:
        if option == "offload" and device.type != "cuda":
            continue
        apply_memory_options(editor.pipe, [option], device)
        editor.forget_last_photo()
        seconds, peak, result = _timed(device, runs["preset fast"])
        rows.append(Row(model, f"preset fast + {option}", round(seconds, 2), None if peak is None else round(peak, 2), result.unet_calls.forwards))
        print(f"{model} fast + {option}: {seconds:.1f} s, peak {peak} GB", flush=True)
        _undo(editor.pipe, option, processors)
    return rows


def markdown(rows: list[Row]) -> str:
    lines = ["| model | run | s / image | peak VRAM (GB) | UNet forwards |", "|---|---|---|---|---|"]
    lines += [f"| {r.model} | {r.run} | {r.seconds:.1f} | {'' if r.peak_vram_gb is None else f'{r.peak_vram_gb:.2f}'} | {r.unet_forwards} |" for r in rows]
    return "\n".join(lines)
