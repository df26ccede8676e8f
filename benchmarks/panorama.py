"""Memory of a panorama: SD 1.5 at real size (random weights, no download) removing from a 10:1 photo against a square
one, each in its own process so each peak is its own.

    python -m benchmarks.panorama [--steps 2] [--threads N] [--tiny]

A photo wider than 4:1 runs at four times the model's native area at most (editor/photos/photo_io.py, MAX_AREA): a
5120 x 512 panorama at 3264 x 320 for SD 1.5, not at 5120 x 512. Random weights: the pixels mean nothing, the memory
and the working size do.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time

PHOTOS = {"square 512 x 512": (512, 512), "panorama 5120 x 512 (10:1)": (5120, 512)}


def _measure(size: tuple[int, int], steps: int, threads: int | None, tiny: bool, queue) -> None:
    import numpy as np
    import torch

    from benchmarks.real_configs import build_pipeline
    from editor import Editor
    from editor.photos.photo_io import model_size

    if threads:
        torch.set_num_threads(threads)
    editor = Editor(build_pipeline("sd15", tiny=tiny))
    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    photo = (np.random.default_rng(0).random((size[1], size[0], 3)) * 255).astype(np.uint8)
    started = time.perf_counter()
    editor.remove(photo, "blue square", prompt="a red circle and a blue square", preset="fast", steps=steps, progress=False, force=True)
    queue.put({"working_size": model_size(size, editor.native_size, editor.size_multiple), "seconds": time.perf_counter() - started,
               "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "model_mb": loaded})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--tiny", action="store_true", help="the same code on the tiny model (smoke test)")
    args = parser.parse_args(argv)
    context = multiprocessing.get_context("spawn")
    print("| photo | working size | peak RSS MB (model loaded) | peak RSS MB (after the removal) | seconds |\n|---|---|---|---|---|")
    for name, size in PHOTOS.items():
        queue = context.Queue()
        process = context.Process(target=_measure, args=(size, args.steps, args.threads, args.tiny, queue))
        process.start()
        row = queue.get()
        process.join()
        w, h = row["working_size"]
        print(f"| {name} | {w} x {h} | {row['model_mb']:.0f} | {row['peak_mb']:.0f} | {row['seconds']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
