"""Speed and memory of every stage against plain text-to-image with the same pipeline (the unit).

    python -m benchmarks.speed [--model toyworld] [--repeats 3] [--device cpu] [--dtype float32] [--json PATH]

Each row runs in its own process (so its peak memory is its own), after one warm-up run; seconds are the median
of --repeats runs. Prints a markdown table; ratios are to the plain row of the same run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
from queue import Empty

from benchmarks.options import choice_list
import platform
import resource
import statistics
import time

PHONE_ROW = "removal: 12 MP JPEG in and PNG out (preset fast)"  # a phone photo, JPEG in, PNG out; seconds per stage in the JSON
BATCH_PHOTOS = 8  # photos per run of the --batch-size rows
BATCH_ROWS = [f"removal of {BATCH_PHOTOS} photos (preset fast) at batch size {size}" for size in (1, 4, 8)]
ROWS = [
    "plain text-to-image (unit)",
    "inversion: ddim",
    "inversion: negative-prompt",
    "inversion: direct",
    "inversion: null-text",
    "generation with suppression (SWR + ITO)",
    "removal: preset fast",
    "removal: preset quality",
    "removal: preset reference",
    "removal: preset fast, fill model (the suppressed branch runs)",
    "removal: preset fast, fill suppressed (the repaint by the suppressed branch, guided)",
    "removal: preset quality, fill suppressed",
    "removal: preset reference, fill model (the paper's whole method)",
    PHONE_ROW,
    *BATCH_ROWS,
]


def _task(name: str, editor, image, steps: int):
    """The callable a row times."""

    from inversion import invert
    from unwant.sd.text import encode_prompt

    prompt, target = "a red circle and a blue square", "blue square"
    if name.startswith("plain"):
        return lambda: editor.generate(prompt, remove=[], seed=0, steps=steps, progress=False)
    if name.startswith("inversion"):
        method = name.split(": ")[1]
        from editor.photos.photo_io import photo_from_any

        z0, _ = editor.encode_photo(photo_from_any(image))
        cond = encode_prompt(editor.pipe, prompt)
        return lambda: invert(editor.pipe, z0, cond, method=method, steps=steps, progress=False)
    if name.startswith("generation"):
        return lambda: editor.generate(prompt, remove=target, seed=0, steps=steps, progress=False)
    if name == PHONE_ROW:
        return _phone_photo_task(editor, image, prompt, target)
    if name in BATCH_ROWS:  # Editor.remove_batch, what `edit DATASET --batch-size N` runs
        size = int(name.rsplit(" ", 1)[1])
        return lambda: editor.remove_batch([image] * BATCH_PHOTOS, target, prompt=prompt, batch_size=size, preset="fast", progress=False)
    preset, fill = removal_settings(name)
    return lambda: (editor.forget_last_photo(), editor.remove(image, target, prompt=prompt, preset=preset, fill=fill, progress=False))[1]


def removal_settings(row: str) -> tuple[str, str]:
    """(preset, fill) of a removal row: "removal: preset fast, fill model (...)" -> ("fast", "model")."""
    preset, _, fill = row.split("preset ")[1].partition(", fill ")
    return preset, fill.split()[0] if fill else "repaint"


def _phone_photo_task(editor, image, prompt: str, target: str):
    """The scene at 4000 x 3000 as a JPEG file: read it, remove with the fast preset, write PNG; stage seconds kept."""
    import tempfile
    from pathlib import Path

    from PIL import Image

    from editor.photos.photo_io import read_photo
    from editor.photos.writing import write_image

    folder = Path(tempfile.mkdtemp())
    source = folder / "phone.jpg"
    Image.fromarray(image).resize((4000, 3000), Image.BICUBIC).save(source, quality=92)

    def run():
        started = time.perf_counter()
        photo = read_photo(source)
        read = time.perf_counter() - started
        editor.forget_last_photo()
        result = editor.remove(photo, target, prompt=prompt, preset="fast", progress=False)
        started = time.perf_counter()
        write_image(result.image, folder / "out.png", overwrite=True)
        result.timings = {"read": read, **result.timings, "write": time.perf_counter() - started}
        return result

    return run


def _measure(name: str, model: str, device: str | None, dtype: str | None, repeats: int, steps: int, queue) -> None:
    """Run in a child process: measure one row and put its figures (or the error that stopped it) on the queue."""
    try:
        queue.put(_measure_row(name, model, device, dtype, repeats, steps))
    except BaseException:
        import traceback

        queue.put({"error": traceback.format_exc()})


def _measure_row(name: str, model: str, device: str | None, dtype: str | None, repeats: int, steps: int) -> dict:
    import numpy as np
    import torch

    from editor import Editor
    from unwant.sd.calls import UNetCallCounter
    from benchmarks.toyworld.world import SceneObject, Scene, render

    editor = Editor.from_pretrained(model, device=device, dtype=dtype)
    native = editor.native_size
    scene = Scene((230, 230, 240), (200, 210, 190), (SceneObject("red", "circle", 20, 20, 10), SceneObject("blue", "square", 44, 44, 10)))
    image = render(scene)
    if native != image.shape[0]:  # a real SD model: the same scene, upscaled to its native size
        from PIL import Image

        image = np.asarray(Image.fromarray(image).resize((native, native), Image.NEAREST))
    run = _task(name, editor, image, steps)
    run()  # warm-up
    cuda = editor.device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    seconds, stages = [], []
    with UNetCallCounter(editor.pipe.unet) as calls:
        for _ in range(repeats):
            started = time.perf_counter()
            result = run()
            if cuda:
                torch.cuda.synchronize()
            seconds.append(time.perf_counter() - started)
            stages.append(getattr(result, "timings", None) or {})
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return (
        {
            "row": name,
            "unet_forwards": calls.forwards // repeats,
            "unet_rows": calls.rows // repeats,
            "backwards": calls.backwards // repeats,
            "seconds": statistics.median(seconds),
            "peak_mb": peak,
            "memory": "GPU allocated" if cuda else "process RSS",
            "device": str(editor.device),
            "dtype": str(editor.pipe.unet.dtype).removeprefix("torch."),
            "stage_seconds": {key: statistics.median(s[key] for s in stages) for key in stages[-1]},
        }
    )


def measure(name: str, args) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_measure, args=(name, args.model, args.device, args.dtype, args.repeats, args.steps, queue))
    process.start()
    while True:  # a child that dies without a word (killed, out of memory) must not leave us waiting forever
        try:
            result = queue.get(timeout=1.0)
            break
        except Empty:
            if not process.is_alive():
                raise SystemExit(f"row {name!r}: the measuring process died with exit code {process.exitcode}")
    process.join()
    if "error" in result:
        raise SystemExit(f"row {name!r} failed:\n{result['error']}")
    return result


def markdown(results: list[dict]) -> str:
    unit = results[0]["seconds"]
    unit_calls = results[0]["unet_forwards"]
    lines = [
        "| stage | UNet forwards | rows | backwards | seconds (median) | x plain (time) | x plain (forwards) | peak MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['row']} | {r['unet_forwards']} | {r['unet_rows']} | {r['backwards']} | {r['seconds']:.2f} | "
            f"{r['seconds'] / unit:.1f} | {r['unet_forwards'] / unit_calls:.1f} | {r['peak_mb']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Speed and memory benchmark: every row against plain text-to-image",
                                     epilog="rows: " + "; ".join(ROWS))
    parser.add_argument("--model", default="toyworld", help="any --model of edit (default toyworld)")
    parser.add_argument("--device", help="cuda, mps or cpu (default: the first available)")
    parser.add_argument("--dtype", help="float16, bfloat16 or float32 (default: float16 on cuda, float32 elsewhere)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per row after one warm-up; the median is reported")
    parser.add_argument("--steps", type=int, default=50, help="steps of the plain, inversion and generation rows (removal rows run their preset's)")
    parser.add_argument("--rows", type=choice_list(ROWS, "row"), default=ROWS, help="comma-separated subset of the rows below (default: all)")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args(argv)
    results = []
    for name in args.rows:
        results.append(measure(name, args))
        print(f"  {name}: {results[-1]['seconds']:.2f} s", flush=True)
    table = markdown(results)
    batches = [r for r in results if r["row"] in BATCH_ROWS]
    if batches:
        table += "\n\n| photos side by side (--batch-size) | photos / s | x batch size 1 |\n|---|---|---|"
        base = next((r["seconds"] for r in batches if r["row"] == BATCH_ROWS[0]), None)
        for r in batches:
            ratio = "" if base is None else f"{base / r['seconds']:.2f}"
            table += f"\n| {r['row']} | {BATCH_PHOTOS / r['seconds']:.2f} | {ratio} |"
    for r in results:
        if r["row"] == PHONE_ROW:
            table += f"\n\n{PHONE_ROW}, seconds per stage: " + ", ".join(f"{k} {v:.2f}" for k, v in r["stage_seconds"].items())
    first = results[0]
    print(f"\n{table}\n\nmodel {args.model} on {first['device']} ({platform.processor() or platform.machine()}), {first['dtype']}, "
          f"{args.steps} steps, peak memory = {first['memory']}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"args": vars(args), "rows": results}, handle, indent=2)


if __name__ == "__main__":
    main()
