"""What `python -m benchmarks.realsize` measures (the command line is realsize.py, which loads this after parsing)."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil
import torch
from PIL import Image

from benchmarks.real_configs import build_pipeline
from editor import Editor
from editor.presets import Preset
from unwant.sd.calls import UNetCalls
from unwant.sd.ddim import DDIM
from unwant.sd.text import encode_prompt
from unwant.sd.unet import model_output
from suppression.attention import default_attention_factor
from suppression.config import SuppressionConfig

PHOTO = Path(__file__).resolve().parents[1] / "samples" / "photos" / "astronaut.jpg"
PROMPT, TARGET = "an astronaut with a helmet", "helmet"
EXTRAPOLATE_STEPS = 50


def presets(steps: int, iterations: int) -> dict[str, tuple[Preset, str]]:
    """The two ends of the shipped code paths, with few steps and iterations: (preset, fill).

    "reference" runs null-text inversion and, with the model's fill, the suppressed branch's ITO: the slowest path and
    the largest memory (the backward); "fast" is direct inversion and the default fill (no suppressed branch)."""
    return {
        "reference": (Preset("null-text", steps, SuppressionConfig(step_size=5.0, ito_iterations=iterations), null_text_iterations=iterations), "model"),
        "fast": (Preset("direct", steps, SuppressionConfig(step_size=5.0, ito_iterations=iterations)), "repaint"),
    }


class RssSampler:
    """Samples this process's resident memory every few milliseconds; the peak over any time window."""

    def __init__(self, every: float = 0.02):
        self.every, self.samples, self._stop = every, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        process = psutil.Process()
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), process.memory_info().rss))
            time.sleep(self.every)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def peak_gb(self, start: float, end: float) -> float:
        inside = [rss for t, rss in self.samples if start <= t <= end] or [self.samples[-1][1]]
        return max(inside) / 2**30


@dataclass
class ModelRow:
    model: str
    pixels: int  # the working size: the model's native size unless --size says otherwise
    attention_map: str  # the cross-attention resolution the method reads
    unet_parameters_m: float
    build_seconds: float
    forward_seconds_per_row: float  # no grad, batch 2 (one guided step), divided by 2
    forward_backward_seconds: float  # batch 1, gradient w.r.t. the embedding (ITO, null-text)
    presets: dict = field(default_factory=dict)  # preset -> seconds, stage seconds, stage peak RSS, UNet calls
    reference_extrapolated_seconds: float = 0.0  # the reference path at --extrapolate-to steps (50), 10 iterations
    reference_extrapolated_calls: dict = field(default_factory=dict)


def _time_unet(editor: Editor, repeats: int = 2) -> tuple[float, float]:
    pipe = editor.pipe
    size = pipe.unet.config.sample_size
    z = torch.randn(1, 4, size, size)
    cond = encode_prompt(pipe, PROMPT)
    t = DDIM.of(pipe, 4).timesteps[1]
    with torch.no_grad():
        model_output(pipe, z, t, torch.cat([cond, cond]))  # warm-up
        start = time.perf_counter()
        for _ in range(repeats):
            model_output(pipe, z, t, torch.cat([cond, cond]))
        forward = (time.perf_counter() - start) / repeats / 2
    embedding = cond.clone().requires_grad_(True)
    start = time.perf_counter()
    for _ in range(repeats):
        (grad,) = torch.autograd.grad(model_output(pipe, z, t, embedding).square().mean(), embedding)
    return forward, (time.perf_counter() - start) / repeats


def _calls_at(steps: int, model: str, iterations: int) -> UNetCalls:
    """UNet calls of the reference path at `steps` steps, counted on the tiny model of the same structure."""
    editor = Editor(build_pipeline(model, tiny=True))
    preset, fill = presets(steps, iterations)["reference"]
    photo = Image.open(PHOTO).convert("RGB").resize((editor.native_size, editor.native_size))
    return editor.remove(photo, TARGET, prompt=PROMPT, preset=preset, fill=fill, progress=False, force=True).unet_calls


def measure(model: str, steps: int, tiny: bool, extrapolate_to: int = EXTRAPOLATE_STEPS, size: int | None = None) -> ModelRow:
    """One model's row; `size` pixels instead of the model's own (photos are resized to it, as to the native size)."""
    started = time.perf_counter()
    editor = Editor(build_pipeline(model, tiny=tiny))
    build = time.perf_counter() - started
    unet = editor.pipe.unet
    if size is not None:
        if size % editor.size_multiple:
            raise SystemExit(f"--size {size}: use a multiple of {editor.size_multiple} for {model}")
        unet.register_to_config(sample_size=size // editor.pipe.vae_scale_factor)
    factor = default_attention_factor(unet)
    latent = unet.config.sample_size
    forward, forward_backward = _time_unet(editor)
    row = ModelRow(model, editor.native_size, f"{latent // factor}x{latent // factor}", sum(p.numel() for p in unet.parameters()) / 1e6,
                   round(build, 1), round(forward, 3), round(forward_backward, 3))
    photo = Image.open(PHOTO).convert("RGB")
    for name, (preset, fill) in presets(steps, 1).items():
        with RssSampler() as rss:
            begin = time.perf_counter()
            result = editor.remove(photo, TARGET, prompt=PROMPT, preset=preset, fill=fill, progress=False, force=True)
            total = time.perf_counter() - begin
        stage_peaks, clock = {}, begin
        for stage, seconds in result.timings.items():  # the stages run one after the other, in this order
            stage_peaks[stage] = round(rss.peak_gb(clock, clock + seconds), 2)
            clock += seconds
        row.presets[name] = {"seconds": round(total, 1), "stage_seconds": {k: round(v, 1) for k, v in result.timings.items()},
                             "stage_peak_rss_gb": stage_peaks, "unet_calls": asdict(result.unet_calls)}
    calls = _calls_at(extrapolate_to, model, iterations=10)
    row.reference_extrapolated_calls = asdict(calls)
    # every backward is counted as a forward row too; ITO's early-stopped forwards are counted whole (an upper bound)
    row.reference_extrapolated_seconds = round((calls.rows - calls.backwards) * forward + calls.backwards * forward_backward, 0)
    return row


def markdown(rows: list[ModelRow]) -> str:
    lines = ["| model | size | attention map | UNet (M params) | s / forward row | s / forward+backward | preset | s (steps as run) "
             "| peak RSS GB: encode / invert / suppress / decode / fill | reference at 50 steps, extrapolated |", "|" + "---|" * 10]
    for r in rows:
        for name, p in r.presets.items():
            peaks = " / ".join(f"{p['stage_peak_rss_gb'].get(s, 0):.1f}" for s in ("encode", "invert", "suppress", "decode", "fill"))
            extrapolated = f"{r.reference_extrapolated_seconds / 60:.0f} min" if name == "reference" else ""
            lines.append(f"| {r.model} | {r.pixels} | {r.attention_map} | {r.unet_parameters_m:.0f} | {r.forward_seconds_per_row:.2f} | "
                         f"{r.forward_backward_seconds:.2f} | {name} | {p['seconds']:.0f} | {peaks} | {extrapolated} |")
    return "\n".join(lines)
