"""Stable Diffusion checkpoints as shipped, built from their published configs (configs/<name>/*.json) with random
weights: at real size for the benchmarks, or scaled down for tests with the same structure, scheduler and tokenizer.

No model hub is reachable where this runs, so these stand for the checkpoints users have: SD 1.5's PNDM scheduler and
[EOT] padding, SD 2.x's "!" padding and linear projections, SD 2.1's v-prediction at 768 px, and fine-tunes that ship
DPM-Solver++ (Karras sigmas), Euler ancestral or UniPC with SD 1.5's weights layout, and SDXL base: two text encoders
(the second padding with "!"), the pooled embedding and size conditioning, Euler, 1024 px.
"""

from __future__ import annotations

import json
from pathlib import Path

import diffusers
import torch
from diffusers import AutoencoderKL, StableDiffusionPipeline, StableDiffusionXLPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from benchmarks.options import MODELS
from benchmarks.toyworld.architecture import make_tokenizer
from editor.loading import upcast_vae_if_it_overflows

CONFIGS = Path(__file__).parent / "configs"
BASES = {"finetune-dpmpp-2m-karras": "sd15", "finetune-euler-ancestral": "sd15", "finetune-unipc": "sd15"}
TINY_CHANNELS = 8  # the tiny models' first block width; later blocks double it at most once, as SD's 320/640/1280
TINY_TEXT_WIDTH = 16  # the tiny first text encoder's hidden size
TINY_TIME_IDS = 8  # channels per SDXL size id in the tiny UNet (256 in SDXL)


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


def _tiny_unet(config: dict, text_widths: list[int]) -> dict:
    """Same blocks, attention layout, projections and upcasting; a few channels, 16 x 16 latents. SDXL's added
    conditioning keeps its shape: 6 size ids of TINY_TIME_IDS channels each, then the tiny pooled embedding."""
    widths = _tiny_widths(config["block_out_channels"])
    heads = [max(1, w // 4) for w in widths] if isinstance(config["attention_head_dim"], list) else 2
    tiny = {**config, "block_out_channels": widths, "layers_per_block": 1, "attention_head_dim": heads, "norm_num_groups": 4,
            "cross_attention_dim": sum(text_widths), "sample_size": 16}
    if config.get("addition_embed_type") == "text_time":
        tiny |= {"addition_time_embed_dim": TINY_TIME_IDS, "projection_class_embeddings_input_dim": 6 * TINY_TIME_IDS + text_widths[-1]}
    return tiny


def _tiny_vae(config: dict) -> dict:
    return {**config, "block_out_channels": _tiny_widths(config["block_out_channels"]), "layers_per_block": 1, "norm_num_groups": 4,
            "sample_size": 16 * 2 ** (len(config["block_out_channels"]) - 1)}


def _tiny_text_encoders(configs: list[dict]) -> list[dict]:
    """TINY_TEXT_WIDTH wide, a second encoder wider in the ratio of the real ones (SDXL: 1280 / 768 -> 26 / 16), as the
    single-file loader and the per-encoder SWR columns tell the two apart by width."""
    first = configs[0]["hidden_size"]
    widths = [2 * round(TINY_TEXT_WIDTH * c["hidden_size"] / first / 2) for c in configs]
    return [{**c, "hidden_size": w, "intermediate_size": 2 * w, "num_attention_heads": 2, "num_hidden_layers": 2, "projection_dim": w}
            for c, w in zip(configs, widths)]


def scheduler_of(name: str):
    """The scheduler the checkpoint ships, of its own class."""
    config = load_config(name, "scheduler")
    return getattr(diffusers, config["_class_name"]).from_config(config)


def _text_model(config: dict):
    """CLIPTextModel, or CLIPTextModelWithProjection where the config says so (SDXL's second encoder)."""
    cls = CLIPTextModelWithProjection if "CLIPTextModelWithProjection" in config.get("architectures", ()) else CLIPTextModel
    return cls(CLIPTextConfig(**{k: v for k, v in config.items() if k != "architectures"}))


def build_pipeline(name: str, tiny: bool = False, seed: int = 0, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):
    """The named checkpoint with random weights (seeded), at real size or tiny, built directly on `device`: a
    StableDiffusionPipeline, or a StableDiffusionXLPipeline for SDXL."""
    xl = (CONFIGS / name / "text_encoder_2.json").exists()
    texts = [load_config(name, part) for part in (("text_encoder", "text_encoder_2") if xl else ("text_encoder",))]
    unet, vae = load_config(name, "unet"), load_config(name, "vae")
    if tiny:
        texts = _tiny_text_encoders(texts)
        unet, vae = _tiny_unet(unet, [t["hidden_size"] for t in texts]), _tiny_vae(vae)
    with torch.device(device):  # initialising 860 M parameters on a GPU takes a second, on a CPU a minute
        torch.manual_seed(seed)
        unet_model = UNet2DConditionModel.from_config(unet)
        torch.manual_seed(seed)
        vae_model = AutoencoderKL.from_config(vae)
        text_models = []
        for text in texts:
            torch.manual_seed(seed)
            text_models.append(_text_model(text))
    models = [unet_model, vae_model, *text_models]
    if dtype != torch.float32:  # diffusers warns about every cast, even to the dtype a model already has
        models = [model.to(dtype) for model in models]
    unet_model, vae_model, *text_models = (model.eval() for model in models)
    common = dict(vae=vae_model, unet=unet_model, scheduler=scheduler_of(name), text_encoder=text_models[0],
                  tokenizer=make_tokenizer(load_config(name, "tokenizer")["pad_token"]))
    if xl:
        pipeline = load_config(name, "pipeline")
        pipe = StableDiffusionXLPipeline(**common, text_encoder_2=text_models[1], tokenizer_2=make_tokenizer(load_config(name, "tokenizer_2")["pad_token"]),
                                         force_zeros_for_empty_prompt=pipeline["force_zeros_for_empty_prompt"])
        upcast_vae_if_it_overflows(pipe)  # as loading a real SDXL checkpoint in float16 does
        return pipe
    return StableDiffusionPipeline(**common, safety_checker=None, feature_extractor=None, requires_safety_checker=False)
