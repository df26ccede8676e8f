"""What world 2's VAE holds: PSNR by background kind, eyes after the round trip, the detector's agreement.

    python -m benchmarks.toyworld2.roundtrip --model toyworld2 --scenes 1000
    python -m benchmarks.toyworld2.roundtrip --checkpoint .toyworld2-train/vae.pt   # a VAE still in training

Goals (the world-2 issue): at least 30 dB on flat scenes (plain, gradient, ground), 27 dB on stripes, checks and
noise; both eyes still found in 0.99 of the faces that show them; the detector agreeing with the scene in 0.99.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from benchmarks.toyworld2 import detect, expected_names, render
from benchmarks.toyworld2.sets import held_out_scenes

FLAT = ("plain", "gradient")


def load_vae(model: str | None, checkpoint: Path | None):
    if checkpoint is not None:
        from benchmarks.toyworld.architecture import make_vae

        vae = make_vae()
        vae.load_state_dict(torch.load(checkpoint, weights_only=False)["model"])
        return vae.eval()
    from editor.loading import load_pipeline

    return load_pipeline(model, device="cpu", dtype="float32").vae.eval()


@torch.no_grad()
def round_trip(vae, images: np.ndarray, batch: int = 100) -> np.ndarray:
    """Encode (posterior mean) and decode uint8 images, back to uint8."""
    out = []
    for i in range(0, len(images), batch):
        x = torch.from_numpy(images[i : i + batch]).permute(0, 3, 1, 2).float() / 127.5 - 1
        y = vae.decode(vae.encode(x).latent_dist.mean).sample
        out.append(((y.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy())
    return np.concatenate(out)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * math.log10(255.0**2 / max(mse, 1e-10))


def measure(vae, count: int) -> dict:
    scenes = held_out_scenes(count)
    images = np.stack([render(s) for s in scenes])
    decoded = round_trip(vae, images)
    by_kind: dict[str, list[float]] = defaultdict(list)
    agree, faces_with_eyes, eyes_kept = 0, 0, 0
    for scene, image, back in zip(scenes, images, decoded):
        kind = "ground" if scene.background.horizon else scene.background.kind
        by_kind["flat" if kind in FLAT + ("ground",) else kind].append(psnr(image, back))
        found, expected = detect(back), expected_names(scene)
        agree += found == expected
        shown = expected.count("eyes")
        faces_with_eyes += shown
        eyes_kept += min(shown, found.count("eyes"))
    return {
        "scenes": count,
        "psnr_db": {k: round(float(np.mean(v)), 2) for k, v in sorted(by_kind.items())},
        "psnr_db_worst_decile": {k: round(float(np.percentile(v, 10)), 2) for k, v in sorted(by_kind.items())},
        "detector_agreement": round(agree / count, 4),
        "eyes_kept": round(eyes_kept / max(1, faces_with_eyes), 4),
        "faces_with_eyes": faces_with_eyes,
        "detector_on_renders": round(float(np.mean([detect(i) == expected_names(s) for s, i in zip(scenes, images)])), 4),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="toyworld2", help="any --model of edit (default toyworld2)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="a training run's vae.pt instead of a model")
    parser.add_argument("--scenes", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = measure(load_vae(args.model, args.checkpoint), args.scenes)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
