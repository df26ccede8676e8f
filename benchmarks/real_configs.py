"""Stable Diffusion checkpoints as shipped, built from their published configs (configs/<name>/*.json) with random
weights: at real size for the benchmarks, or scaled down for tests with the same structure, scheduler and tokenizer.

No model hub is reachable where this runs, so these stand for the checkpoints users have: SD 1.5's PNDM scheduler and
[EOT] padding, SD 2.x's "!" padding and linear projections, SD 2.1's v-prediction at 768 px, and fine-tunes that ship
DPM-Solver++ (Karras sigmas), Euler ancestral or UniPC with SD 1.5's weights layout.
"""

from __future__ import annotations

import json
from pathlib import Path

import diffusers
import torch
from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from benchmarks.options import MODELS
from benchmarks.toyworld.architecture import make_tokenizer

CONFIGS = Path(__file__).parent / "configs"
BASES = {"finetune-dpmpp-2m-karras": "sd15", "finetune-euler-ancestral": "sd15", "finetune-unipc": "sd15"}
TINY_CHANNELS = 8  # the tiny models' first block width; later blocks double it at most once, as SD's 320/640/1280


def load_config(name: str, component: str) -> dict:
    """configs/<name>/<component>.json, or the base model's for what a fine-tune did not change."""
    if name not in MODELS:
        raise ValueError(f"unknown model configuration {name!r}: choose one of {', '.join(MODELS)}")
    path = CONFIGS / name / f"{component}.json"
    if not path.exists():
        path = CONFIGS / BASES[name] / f"{component}.json"
    return json.loads(path.read_text())


def _tiny_widths(widths: list[int]) -> list[int]:
    return [TINY_CHANNELS * min(2, w // widths[0]) for w in widths]


def _tiny_unet(config: dict) -> dict:
    """Same blocks, attention layout, projections and upcasting; a few channels, 16 x 16 latents."""
    widths = _tiny_widths(config["block_out_channels"])
    heads = [max(1, w // 4) for w in widths] if isinstance(config["attention_head_dim"], list) else 2
    return {**config, "block_out_channels": widths, "layers_per_block": 1, "attention_head_dim": heads, "norm_num_groups": 4,
            "cross_attention_dim": 16, "sample_size": 16}


def _tiny_vae(config: dict) -> dict:
    return {**config, "block_out_channels": _tiny_widths(config["block_out_channels"]), "layers_per_block": 1, "norm_num_groups": 4,
            "sample_size": 16 * 2 ** (len(config["block_out_channels"]) - 1)}


def _tiny_text_encoder(config: dict) -> dict:
    return {**config, "hidden_size": 16, "intermediate_size": 32, "num_attention_heads": 2, "num_hidden_layers": 2, "projection_dim": 16}


def scheduler_of(name: str):
    """The scheduler the checkpoint ships, of its own class."""
    config = load_config(name, "scheduler")
    return getattr(diffusers, config["_class_name"]).from_config(config)


def build_pipeline(name: str, tiny: bool = False, seed: int = 0, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> StableDiffusionPipeline:
    """The named checkpoint with random weights (seeded), at real size or tiny, built directly on `device`."""
    unet, vae, text = (load_config(name, part) for part in ("unet", "vae", "text_encoder"))
    if tiny:
        unet, vae, text = _tiny_unet(unet), _tiny_vae(vae), _tiny_text_encoder(text)
    tokenizer = load_config(name, "tokenizer")
    with torch.device(device):  # initialising 860 M parameters on a GPU takes a second, on a CPU a minute
        torch.manual_seed(seed)
        unet_model = UNet2DConditionModel.from_config(unet)
        torch.manual_seed(seed)
        vae_model = AutoencoderKL.from_config(vae)
        torch.manual_seed(seed)
        text_model = CLIPTextModel(CLIPTextConfig(**{k: v for k, v in text.items() if k != "architectures"}))
    if dtype != torch.float32:  # diffusers warns about every cast, even to the dtype a model already has
        unet_model, vae_model, text_model = unet_model.to(dtype), vae_model.to(dtype), text_model.to(dtype)
    return StableDiffusionPipeline(
        vae=vae_model.eval(),
        text_encoder=text_model.eval(),
        tokenizer=make_tokenizer(tokenizer["pad_token"]),
        unet=unet_model.eval(),
        scheduler=scheduler_of(name),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
