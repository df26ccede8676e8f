"""Train the toy-world model: VAE first, then UNet + text encoder on cached latents; export in diffusers format.

    python -m benchmarks.toyworld.train --work .toyworld-train --out editor/models/toyworld
    python -m benchmarks.toyworld.train --init-from editor/models/toyworld --work .toyworld-tune --unet-steps 2000   # fine-tune
    python -m benchmarks.toyworld.train --world toyworld2 --work .toyworld2-train --out editor/models/toyworld2     # world 2

Seeded and resumable: rerun the same command after an interruption and it continues from the last checkpoint.
"""

from __future__ import annotations

import argparse
import copy
import math
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import StableDiffusionPipeline
from tqdm import tqdm

from benchmarks.toyworld.architecture import BPE_DIR, EOT_ID, make_sample_scheduler, make_text_encoder, make_tokenizer, make_train_scheduler, make_unet, make_vae
from suppression.attention import recording_attention
from benchmarks.toyworld.grounding import CrossAttentionMaps, grounded_layers, token_grounding_loss
from benchmarks.toyworld.worlds import WORLDS, World
from unwant.presence.rivals import VOCABULARY_FILE


@dataclass
class TrainConfig:
    scenes: int = 30_000  # rendered once into memory (~10 s, ~370 MB)
    seed: int = 0
    vae_steps: int = 600  # flat shapes: ~27 dB reconstruction by 600 steps (TOYWORLD-NOTES)
    vae_batch: int = 32
    vae_lr: float = 1e-3
    vae_final_lr_ratio: float = 1.0  # cosine decay of vae_lr to this fraction; 1.0 keeps it constant (the first world's VAE)
    kl_weight: float = 1e-6  # as in SD's VAE: the latent just needs to stay near N(0, I)
    unet_steps: int = 3_600  # cosine-decayed: a constant 1e-3 plateaued at ~2,000 steps in the prototype
    unet_batch: int = 32
    unet_lr: float = 1e-3
    warmup_steps: int = 100
    final_lr_ratio: float = 0.05  # cosine decays to this fraction of unet_lr
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    caption_dropout: float = 0.1  # empty captions, for classifier-free guidance
    grounding_weight: float = 0.1  # token grounding loss (benchmarks/toyworld/grounding.py); 0 trains on the diffusion loss alone
    # zero the [EOT] rows of this share of captions: without it the small model read counts and layout from [EOT] and drew
    # duplicates when SWR shrank those rows, where SD's conditioning survives it (its start token is the attention sink)
    eot_dropout: float = 0.2
    unet_widths: tuple[int, int, int] = (64, 128, 128)  # width helps colour-shape binding (TOYWORLD-NOTES)
    checkpoint_every: int = 100
    export_every: int = 500
    log_every: int = 50


def render_dataset(world: World, config: TrainConfig) -> tuple[np.ndarray, list]:
    rng = np.random.default_rng(config.seed)
    scenes = [world.sample_scene(rng) for _ in range(config.scenes)]
    return np.stack([world.render(s) for s in scenes]), scenes


def to_model_range(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def lr_at(step: int, config: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to final_lr_ratio."""
    if step < config.warmup_steps:
        return config.unet_lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.unet_steps - config.warmup_steps)
    ratio = config.final_lr_ratio + (1 - config.final_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return config.unet_lr * ratio


def cosine(step: int, total: int, lr: float, final_ratio: float) -> float:
    """Cosine decay from lr to final_ratio * lr over `total` steps."""
    return lr * (final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * min(step / max(1, total), 1.0))))


def eot_block(ids: torch.Tensor) -> torch.Tensor:
    """(batch, 77) True from each caption's first [EOT] to the end: SD 1.x pads with [EOT]."""
    first = (ids == EOT_ID).int().argmax(1, keepdim=True)
    return torch.arange(ids.shape[1])[None] >= first


def ema_decay_at(step: int, config: TrainConfig) -> float:
    """EMA decay with warm-up, (1 + k) / (10 + k) capped at ema_decay: without it the random initial weights
    still weigh 0.999^k in the average (60 % at step 500)."""
    return min(config.ema_decay, (1 + step) / (10 + step))


def train_vae(images: np.ndarray, config: TrainConfig, work: Path) -> torch.nn.Module:
    ckpt = work / "vae.pt"
    torch.manual_seed(config.seed)
    vae = make_vae()
    opt = torch.optim.AdamW(vae.parameters(), lr=config.vae_lr)
    step = 0
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        vae.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step = state["step"]
        torch.set_rng_state(state["rng"])
    rng = np.random.default_rng(config.seed + 1 + step)
    bar = tqdm(range(step, config.vae_steps), desc="vae", initial=step, total=config.vae_steps, mininterval=10)
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = cosine(step, config.vae_steps, config.vae_lr, config.vae_final_lr_ratio)
        batch = to_model_range(images[rng.integers(0, len(images), config.vae_batch)])
        posterior = vae.encode(batch).latent_dist
        recon = vae.decode(posterior.sample()).sample
        mse = F.mse_loss(recon, batch)
        loss = mse + config.kl_weight * posterior.kl().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % config.log_every == 0:
            psnr = 10 * math.log10(4.0 / mse.item())
            tqdm.write(f"vae step {step} loss {loss.item():.5f} psnr {psnr:.2f} dB")
        if (step + 1) % config.checkpoint_every == 0 or step + 1 == config.vae_steps:
            _atomic_save({"model": vae.state_dict(), "optimizer": opt.state_dict(), "step": step + 1, "rng": torch.get_rng_state()}, ckpt)
    vae.eval()
    return vae


@torch.no_grad()
def cache_latents(vae: torch.nn.Module, images: np.ndarray, work: Path) -> torch.Tensor:
    path = work / "latents.pt"
    if path.exists():
        return torch.load(path)
    chunks = [vae.encode(to_model_range(images[i : i + 256])).latent_dist.mean for i in tqdm(range(0, len(images), 256), desc="encode")]
    latents = torch.cat(chunks)
    _atomic_save(latents, path)
    return latents


def train_unet(world: World, latents: torch.Tensor, scenes: list, vae, config: TrainConfig, work: Path, out: Path,
               reset_ema: bool = False, init: tuple[torch.nn.Module, torch.nn.Module] | None = None, init_note: str = "") -> None:
    """Train (or, with `init`, fine-tune) the UNet and the text encoder together on cached latents."""
    ckpt = work / "unet.pt"
    tokenizer = make_tokenizer()
    ids = tokenizer([s.caption for s in scenes], padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
    positions, masks = world.grounding_targets(scenes)
    empty = tokenizer("", padding="max_length", max_length=77, return_tensors="pt").input_ids
    scaling = 1.0 / latents.std().item()
    vae.register_to_config(scaling_factor=scaling)
    latents = latents * scaling
    torch.manual_seed(config.seed)
    unet, text_encoder = init if init else (make_unet(config.unet_widths), make_text_encoder())
    unet.train()
    text_encoder.train()
    params = list(unet.parameters()) + list(text_encoder.parameters())
    opt = torch.optim.AdamW(params, lr=config.unet_lr, weight_decay=0.01)
    ema_unet, ema_text = copy.deepcopy(unet).requires_grad_(False), copy.deepcopy(text_encoder).requires_grad_(False)
    ema_params = list(ema_unet.parameters()) + list(ema_text.parameters())
    maps = CrossAttentionMaps(grounded_layers(unet))
    step = 0
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        for module, key in [(unet, "unet"), (text_encoder, "text"), (ema_unet, "ema_unet"), (ema_text, "ema_text"), (opt, "optimizer")]:
            module.load_state_dict(state[key])
        step = state["step"]
        torch.set_rng_state(state["rng"])
        if reset_ema:  # restart the average from the live weights (for checkpoints made before the EMA warm-up)
            ema_unet.load_state_dict(unet.state_dict())
            ema_text.load_state_dict(text_encoder.state_dict())
    noise_scheduler = make_train_scheduler()
    rng = np.random.default_rng(config.seed + 2 + step)
    bar = tqdm(range(step, config.unet_steps), desc="unet", initial=step, total=config.unet_steps, mininterval=10)
    started, running = time.time(), None
    with recording_attention(unet, maps):  # the grounding loss reads every cross-attention layer's maps
        for step in bar:
            for group in opt.param_groups:
                group["lr"] = lr_at(step, config)
            index = torch.from_numpy(rng.integers(0, len(latents), config.unet_batch))
            batch_ids = ids[index].clone()
            drop = torch.from_numpy(rng.random(config.unet_batch) < config.caption_dropout)
            batch_ids[drop] = empty
            x0 = latents[index]
            noise = torch.randn_like(x0)
            t = torch.randint(0, noise_scheduler.config.num_train_timesteps, (config.unet_batch,))
            maps.maps.clear()
            embeds = text_encoder(batch_ids)[0]
            zero_eot = torch.from_numpy(rng.random(config.unet_batch) < config.eot_dropout) & ~drop
            embeds = embeds * ~(zero_eot[:, None] & eot_block(batch_ids))[..., None]
            prediction = unet(noise_scheduler.add_noise(x0, noise, t), t, embeds).sample
            diffusion = F.mse_loss(prediction, noise)
            grounding = token_grounding_loss(maps.maps, positions[index], masks[index], ~drop)
            loss = diffusion + config.grounding_weight * grounding
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
            opt.step()
            with torch.no_grad():
                torch._foreach_lerp_(ema_params, params, 1 - ema_decay_at(step, config))
            now = np.array([diffusion.item(), grounding.item()])
            running = now if running is None else 0.98 * running + 0.02 * now
            if step % config.log_every == 0:
                rate = (time.time() - started) / max(1, step + 1 - bar.initial)
                tqdm.write(f"unet step {step} diffusion {now[0]:.4f} avg {running[0]:.4f} grounding {now[1]:.3f} avg {running[1]:.3f}"
                           f" lr {lr_at(step, config):.2e} {rate:.2f} s/step")
            done = step + 1
            if done % config.checkpoint_every == 0 or done == config.unet_steps:
                state = {"unet": unet.state_dict(), "text": text_encoder.state_dict(), "ema_unet": ema_unet.state_dict(),
                         "ema_text": ema_text.state_dict(), "optimizer": opt.state_dict(), "step": done, "rng": torch.get_rng_state()}
                _atomic_save(state, ckpt)
            if done % config.export_every == 0 or done == config.unet_steps:
                export(world, vae, ema_text, ema_unet, out, {**asdict(config), "trained_unet_steps": done, "init_from": init_note})
                tqdm.write(f"exported {out} at unet step {done}")


def export(world: World, vae, text_encoder, unet, out: Path, card: dict) -> None:
    """Save a float16 StableDiffusionPipeline (load it as float32 on CPU); replaces `out` atomically."""
    pipe = StableDiffusionPipeline(
        vae=copy.deepcopy(vae).half(),
        text_encoder=copy.deepcopy(text_encoder).half(),
        tokenizer=make_tokenizer(),
        unet=copy.deepcopy(unet).half(),
        scheduler=make_sample_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    staging = out.with_name(out.name + ".partial")
    pipe.save_pretrained(staging, safe_serialization=True)
    # the BPE files are 1.5 MB against 3.5 MB for tokenizer.json: keeps the model under 30 MB
    (staging / "tokenizer" / "tokenizer.json").unlink()
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(BPE_DIR / name, staging / "tokenizer" / name)
    # the presence check's rivals: every object this world has (unwant/presence/rivals.py reads it)
    (staging / VOCABULARY_FILE).write_text("\n".join(world.vocabulary) + "\n")
    lines = [f"- {key}: {value}" for key, value in card.items()]
    command = "python -m benchmarks.toyworld.train" + ("" if world.name == "toyworld" else f" --world {world.name}")
    (staging / "TRAINING.md").write_text(f"# {world.title}\n\nTrained by `{command}`.\n\n" + "\n".join(lines) + "\n")
    if out.exists():
        old = out.with_name(out.name + ".old")
        out.rename(old)
        staging.rename(out)
        shutil.rmtree(old)
    else:
        staging.rename(out)


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", choices=sorted(WORLDS), default="toyworld", help="which toy world to train on")
    parser.add_argument("--work", type=Path, default=None, help="checkpoints and cached latents (default .WORLD-train)")
    parser.add_argument("--out", type=Path, default=None, help="where to export the model (default editor/models/WORLD)")
    for field, value in asdict(TrainConfig()).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            parser.add_argument(f"--{field.replace('_', '-')}", type=type(value), default=None,
                                help=f"default {value}, or the world's own")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--reset-ema", action="store_true", help="on resume, restart the EMA weights from the live ones")
    parser.add_argument("--init-from", type=Path, default=None,
                        help="fine-tune an exported model: keep its VAE, start the UNet and text encoder from its weights")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    world = WORLDS[args.world]()
    given = {k: getattr(args, k) for k in asdict(TrainConfig()) if getattr(args, k, None) is not None}
    config = TrainConfig(**{**world.defaults, **given})
    args.work = args.work or Path(f".{world.name}-train")
    args.out = args.out or Path("editor/models") / world.name
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"world {world.name}, config: {config}")
    images, scenes = render_dataset(world, config)
    init = None
    if args.init_from:
        start = StableDiffusionPipeline.from_pretrained(args.init_from, dtype=torch.float32, safety_checker=None, requires_safety_checker=False)
        vae, init = start.vae.eval(), (start.unet, start.text_encoder)
    else:
        vae = train_vae(images, config, args.work)
    latents = cache_latents(vae, images, args.work)
    print(f"latent std {latents.std().item():.3f}")
    train_unet(world, latents, scenes, vae, config, args.work, args.out, reset_ema=args.reset_ema, init=init, init_note=str(args.init_from or ""))


if __name__ == "__main__":
    main()
