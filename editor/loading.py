"""Find and load a Stable Diffusion pipeline: hub id, local diffusers folder, single .safetensors file, or `toyworld`."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import torch
from diffusers import DiffusionPipeline, StableDiffusionPipeline
from diffusers.utils import logging as diffusers_logging

from editor.errors import UnwantError

log = logging.getLogger("unwant")

DEFAULT_MODEL = "stable-diffusion-v1-5/stable-diffusion-v1-5"
TOYWORLD_ALIAS = "toyworld"
TOYWORLD_PATH = Path(__file__).resolve().parents[1] / "samples" / "models" / "toyworld"
PICKLE_SUFFIXES = (".ckpt", ".bin", ".pt", ".pth", ".pkl")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class ModelLoadError(UnwantError):
    """The model could not be found or may not be loaded."""


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """cuda, then mps, then cpu, unless one is named."""
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """float16 on cuda, float32 elsewhere, unless one is named."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is None:
        return torch.float16 if device.type == "cuda" else torch.float32
    if dtype not in DTYPES:
        raise ModelLoadError(f"unknown dtype {dtype!r}: choose one of {', '.join(DTYPES)}")
    return DTYPES[dtype]


def _refuse_pickle(where: str, allow_unsafe_pickle: bool) -> None:
    if not allow_unsafe_pickle:
        raise ModelLoadError(
            f"{where} is a pickle checkpoint, which can run arbitrary code when loaded: "
            "convert it to .safetensors, or pass --allow-unsafe-pickle if you trust its source"
        )


def _has_safetensors(folder: Path) -> bool:
    return any(folder.rglob("*.safetensors"))


def _not_cached_error(model: str) -> ModelLoadError:
    cache = os.environ.get("HF_HOME", "~/.cache/huggingface")
    return ModelLoadError(
        f"model {model!r} is not in the local Hugging Face cache ({cache}) and could not be downloaded: "
        "download it once with network access, pass --model PATH to a local folder or .safetensors file, "
        "or try --model toyworld offline"
    )


def load_pipeline(
    model: str | os.PathLike = DEFAULT_MODEL,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    *,
    allow_unsafe_pickle: bool = False,
    safety_checker: bool = False,
) -> DiffusionPipeline:
    """Load a text-to-image pipeline onto `device` in `dtype`, logging the choice in one line."""
    warnings.filterwarnings("ignore", message=".*torch_dtype.*is deprecated", category=FutureWarning)
    diffusers_logging.disable_progress_bar()  # loading bars for 5 components say nothing useful
    device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, device)
    model = str(model)
    extra = {} if safety_checker else {"safety_checker": None, "requires_safety_checker": False}
    if model == TOYWORLD_ALIAS:
        if not (TOYWORLD_PATH / "model_index.json").exists():
            raise ModelLoadError(
                f"the toyworld model is missing from {TOYWORLD_PATH}: train it with `python -m toyworld.train`"
            )
        model = str(TOYWORLD_PATH)
    path = Path(model).expanduser()
    if path.is_file():
        if path.suffix.lower() in PICKLE_SUFFIXES:
            _refuse_pickle(str(path), allow_unsafe_pickle)
        elif path.suffix.lower() != ".safetensors":
            raise ModelLoadError(f"{path}: not a model file; expected a .safetensors checkpoint or a diffusers folder")
        try:
            pipe = StableDiffusionPipeline.from_single_file(str(path), torch_dtype=torch_dtype, **extra)
        except OSError as error:  # the single-file loader fetches the model's config from the hub
            raise ModelLoadError(
                f"{path}: loading a single-file checkpoint needs its base model's config, which is not cached "
                f"and could not be downloaded ({error.__class__.__name__}); run once with network access "
                "or convert the file to a diffusers folder"
            ) from None
    elif path.is_dir():
        if not (path / "model_index.json").exists():
            raise ModelLoadError(f"{path}: not a diffusers model folder (no model_index.json)")
        use_safetensors = _has_safetensors(path)
        if not use_safetensors:
            _refuse_pickle(str(path), allow_unsafe_pickle)
        pipe = DiffusionPipeline.from_pretrained(str(path), torch_dtype=torch_dtype, use_safetensors=use_safetensors, **extra)
    elif path.is_absolute() or model.startswith((".", "~")) or os.sep + os.sep in model:
        raise ModelLoadError(f"{model}: no such file or folder")
    else:
        pipe = _from_hub(model, torch_dtype, allow_unsafe_pickle, extra)
    pipe = pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    log.info("model %s on %s in %s", model, device, str(torch_dtype).removeprefix("torch."))
    return pipe


def _from_hub(model: str, torch_dtype: torch.dtype, allow_unsafe_pickle: bool, extra: dict) -> DiffusionPipeline:
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")
    try:
        return DiffusionPipeline.from_pretrained(
            model, torch_dtype=torch_dtype, use_safetensors=not allow_unsafe_pickle, local_files_only=offline, **extra
        )
    except (LocalEntryNotFoundError, OSError, HFValidationError, ValueError) as error:
        if "safetensors" in str(error).lower() and not allow_unsafe_pickle and "not found" in str(error).lower():
            _refuse_pickle(model, allow_unsafe_pickle)
        raise _not_cached_error(model) from None
