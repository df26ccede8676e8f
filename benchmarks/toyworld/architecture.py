"""The toy model's components: the same diffusers / transformers classes as Stable Diffusion 1.x, scaled down."""

from __future__ import annotations

from pathlib import Path

from diffusers import AutoencoderKL, DDIMScheduler, DDPMScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

BPE_DIR = Path(__file__).parent / "clip_bpe"
EOT_ID = 49407  # CLIP's end-of-text token, also SD 1.x's padding
SD1_SCHEDULE = dict(  # Stable Diffusion 1.x's noise schedule and DDIM settings
    num_train_timesteps=1000,
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    prediction_type="epsilon",
    clip_sample=False,
)


def make_tokenizer(pad_token: str = "<|endoftext|>") -> CLIPTokenizer:
    """CLIP's real BPE tokenizer; SD 1.x pads with [EOT], SD 2.x with "!" (pass pad_token="!")."""
    return CLIPTokenizer(str(BPE_DIR / "vocab.json"), str(BPE_DIR / "merges.txt"), pad_token=pad_token, model_max_length=77)


def make_vae() -> AutoencoderKL:
    """64 x 64 x 3 <-> 16 x 16 x 4 (three blocks: two downsamplings)."""
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(32, 64, 64),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=16,
        sample_size=64,
    )


def make_text_encoder() -> CLIPTextModel:
    """A causal CLIP text transformer, 77 positions, SD 1.x special tokens."""
    config = CLIPTextConfig(
        vocab_size=49408,
        hidden_size=128,
        intermediate_size=512,
        num_hidden_layers=3,
        num_attention_heads=4,
        max_position_embeddings=77,
        bos_token_id=49406,
        eos_token_id=EOT_ID,
        pad_token_id=EOT_ID,
    )
    return CLIPTextModel(config)


def make_unet(widths: tuple[int, int, int] = (64, 128, 128)) -> UNet2DConditionModel:
    """UNet on 16 x 16 latents with cross-attention at 16 x 16 and 8 x 8 (and the 4 x 4 middle block)."""
    return UNet2DConditionModel(
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=widths,
        layers_per_block=1,
        cross_attention_dim=128,
        attention_head_dim=8,
        norm_num_groups=16,
    )


def make_train_scheduler() -> DDPMScheduler:
    return DDPMScheduler(**{k: v for k, v in SD1_SCHEDULE.items()})


def make_sample_scheduler() -> DDIMScheduler:
    """SD 1.x's DDIM sampler configuration (set_alpha_to_one False, steps_offset 1)."""
    return DDIMScheduler(**SD1_SCHEDULE, set_alpha_to_one=False, steps_offset=1)
