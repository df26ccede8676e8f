"""Find and load a Stable Diffusion pipeline: hub id, local diffusers folder, single .safetensors file, or a shipped
toy-world model (`toyworld`, `toyworld2`)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import DiffusionPipeline, StableDiffusionPipeline, StableDiffusionXLPipeline
from diffusers.utils import logging as diffusers_logging
from transformers.utils import logging as transformers_logging

from unwant.sd.conditioning import uses_pooled_embedding
from unwant.sd.errors import UnwantError
from editor.memory import apply_memory_options

log = logging.getLogger("unwant")

DEFAULT_MODEL = "stable-diffusion-v1-5/stable-diffusion-v1-5"
TOYWORLD_ALIAS = "toyworld"
SHIPPED_MODELS = ("toyworld", "toyworld2")  # package data (editor/models/NAME): installed with unwant, loaded by name
MODELS_FOLDER = Path(__file__).resolve().parent / "models"
TOYWORLD_PATH = MODELS_FOLDER / TOYWORLD_ALIAS
PICKLE_SUFFIXES = (".ckpt", ".bin", ".pt", ".pth", ".pkl")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class ModelLoadError(UnwantError):
    """The model could not be found or may not be loaded."""


def available_devices() -> list[str]:
    names = ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return names + (["mps"] if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available() else [])


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """cuda, then mps, then cpu, unless one is named; a named device must exist here."""
    if device is not None:
        try:
            chosen = torch.device(device)
        except (RuntimeError, TypeError):
            raise ModelLoadError(f"unknown device {str(device)!r}: use cpu, cuda, cuda:N or mps (here: {', '.join(available_devices())})") from None
        usable = {"cpu": True, "cuda": torch.cuda.is_available() and (chosen.index or 0) < torch.cuda.device_count(),
                  "mps": "mps" in available_devices()}.get(chosen.type, False)
        if not usable:
            raise ModelLoadError(f"device {str(device)!r} is not visible to PyTorch {torch.__version__}: this machine has {', '.join(available_devices())}")
        return chosen
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


def _pickle_only_components(folder: Path) -> list[str]:
    """Components of a diffusers folder whose weights exist only as pickle files (transformers 5 saves the text
    encoder as .safetensors even when the rest of the folder is .bin, so this is decided per component)."""
    parts = []
    for component in sorted(p for p in folder.iterdir() if p.is_dir()):
        suffixes = {f.suffix.lower() for f in component.rglob("*") if f.is_file()}
        if ".safetensors" not in suffixes and suffixes & set(PICKLE_SUFFIXES):
            parts.append(component.name)
    return parts


def _not_cached_error(model: str, offline: bool) -> ModelLoadError:
    """Offline by choice (HF_HUB_OFFLINE) and offline by circumstance need different fixes."""
    cache = os.environ.get("HF_HOME", "~/.cache/huggingface")
    if offline:
        return ModelLoadError(
            f"model {model!r} is not in the local Hugging Face cache ({cache}) and HF_HUB_OFFLINE is set, so it was not "
            "downloaded: unset HF_HUB_OFFLINE to download it, pass --model PATH to a local folder or .safetensors file, "
            "or try --model toyworld"
        )
    return ModelLoadError(
        f"model {model!r} is not in the local Hugging Face cache ({cache}) and could not be downloaded (no network, "
        "or the hub is unreachable): download it once with network access, pass --model PATH to a local folder or "
        ".safetensors file, or try --model toyworld offline"
    )


def shipped_model_path(name: str) -> Path:
    """The folder of a toy-world model that ships with unwant, by name."""
    folder = MODELS_FOLDER / name
    if not (folder / "model_index.json").exists():
        world = "" if name == TOYWORLD_ALIAS else f" --world {name}"
        raise ModelLoadError(
            f"the {name} model is missing from {folder}: reinstall unwant, or train one from a checkout with "
            f"`python -m benchmarks.toyworld.train{world} --out {folder}`"
        )
    return folder


def load_pipeline(
    model: str | os.PathLike = DEFAULT_MODEL,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    *,
    allow_unsafe_pickle: bool = False,
    safety_checker: bool = False,
    config: str | os.PathLike | None = None,
    memory: tuple[str, ...] = (),
) -> DiffusionPipeline:
    """Load a text-to-image pipeline onto `device` in `dtype`, logging the choice in one line.

    `config` (single .safetensors files only): the base model's diffusers folder or hub id, whose component
    configs, tokenizer and scheduler go with the file's weights; without it diffusers guesses the base model
    from the weights and fetches its config from the hub (or the cache)."""
    with _quiet_loading():
        return _load_pipeline(model, device, dtype, allow_unsafe_pickle, safety_checker, config, memory)


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """While loading only, and then as the caller had them: no loading bars (5 components' bars, the text encoder's
    "Loading weights" bar say nothing useful) and no deprecation notice about torch_dtype."""
    bars = diffusers_logging.is_progress_bar_enabled(), transformers_logging.is_progress_bar_enabled()
    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*torch_dtype.*is deprecated", category=FutureWarning)
            yield
    finally:
        for enabled, library in zip(bars, (diffusers_logging, transformers_logging)):
            if enabled:
                library.enable_progress_bar()


def _load_pipeline(model, device, dtype, allow_unsafe_pickle: bool, safety_checker: bool, config, memory: tuple[str, ...]) -> DiffusionPipeline:
    device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, device)
    model = str(model)
    extra = {} if safety_checker else {"safety_checker": None, "requires_safety_checker": False}
    if model in SHIPPED_MODELS:
        model = str(shipped_model_path(model))
    path = Path(model).expanduser()
    if path.is_file():
        if path.suffix.lower() in PICKLE_SUFFIXES:
            _refuse_pickle(str(path), allow_unsafe_pickle)
        elif path.suffix.lower() != ".safetensors":
            raise ModelLoadError(f"{path}: not a model file; expected a .safetensors checkpoint or a diffusers folder")
        pipe = _from_single_file(path, torch_dtype, extra, config)
    elif config is not None:
        raise ModelLoadError(f"{model}: config= only applies to a single .safetensors checkpoint file")
    elif path.is_dir():
        if not (path / "model_index.json").exists():
            raise ModelLoadError(f"{path}: not a diffusers model folder (no model_index.json)")
        pickled = _pickle_only_components(path)
        if pickled:
            _refuse_pickle(f"{path} ({', '.join(pickled)})", allow_unsafe_pickle)
        try:  # use_safetensors=None: .safetensors where a component has it, the allowed pickle elsewhere
            pipe = DiffusionPipeline.from_pretrained(str(path), torch_dtype=torch_dtype, use_safetensors=None if pickled else True, **extra)
        except (OSError, ValueError) as error:
            raise ModelLoadError(f"{path}: not a loadable diffusers model folder: {error}") from None
    elif path.is_absolute() or model.startswith((".", "~")) or os.sep + os.sep in model:
        raise ModelLoadError(f"{model}: no such file or folder")
    else:
        pipe = _from_hub(model, torch_dtype, allow_unsafe_pickle, extra)
    _check_supported(pipe, model)
    upcast_vae_if_it_overflows(pipe)
    if "offload" not in memory:
        pipe = pipe.to(device)
    apply_memory_options(pipe, memory, device)
    pipe.set_progress_bar_config(disable=True)
    log.info("model %s on %s in %s", model, device, str(torch_dtype).removeprefix("torch."))
    return pipe


def _check_supported(pipe: DiffusionPipeline, model: str) -> None:
    """Stable Diffusion 1.x, 2.x and XL base (and their fine-tunes) have what every stage needs; say so of others."""
    components = pipe.components
    needed = ["unet", "vae", "text_encoder", "tokenizer"]
    if "unet" in components and components["unet"] is not None and uses_pooled_embedding(components["unet"]):
        needed += ["text_encoder_2", "tokenizer_2"]
    missing = [name for name in needed if components.get(name) is None]
    if missing and components.get("text_encoder_2") is not None:
        raise ModelLoadError(f"{model} is an SDXL refiner ({type(pipe).__name__}), which only refines other models' images: "
                             "use an SDXL base model such as stabilityai/stable-diffusion-xl-base-1.0 or a fine-tune of it")
    if missing:
        raise ModelLoadError(f"{model} is a {type(pipe).__name__}, not a Stable Diffusion 1.x, 2.x or XL model (it has no "
                             f"{', '.join(missing)}): unwant edits with those")


def upcast_vae_if_it_overflows(pipe: DiffusionPipeline) -> None:
    """SDXL's VAE overflows in float16 (black or NaN images) and its config says so (force_upcast): it runs in float32,
    as diffusers' SDXL pipeline does; a fixed VAE saved in the folder (madebyollin/sdxl-vae-fp16-fix) clears the flag."""
    vae = pipe.vae
    if uses_pooled_embedding(pipe.unet) and vae.dtype == torch.float16 and vae.config.get("force_upcast", False):
        vae.to(torch.float32)
        log.info("the VAE runs in float32: SDXL's overflows in float16 (a float16-fixed VAE in the model folder avoids it)")


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
        raise _hub_error(model, error, offline) from None


def _hub_error(model: str, error: BaseException, offline: bool) -> ModelLoadError:
    """What went wrong loading a hub id, in one line each: a gated model, a misspelt or missing one, a malformed id, a
    damaged config in the cache; anything else is a model not cached and not downloadable."""
    from huggingface_hub.errors import GatedRepoError, HFValidationError, RepositoryNotFoundError

    chain: list[BaseException] = []
    while error is not None and error not in chain:  # diffusers wraps the hub's errors in its own
        chain.append(error)
        error = error.__cause__ or error.__context__
    said = " ".join(str(e) for e in chain).lower()
    if any(isinstance(e, GatedRepoError) for e in chain) or "gated repo" in said:
        return ModelLoadError(f"{model} is a gated model: accept its licence on https://huggingface.co/{model} and log in "
                              "(`hf auth login`), then run again")
    if any(isinstance(e, RepositoryNotFoundError) for e in chain) or "not a valid model identifier" in said:
        return ModelLoadError(f"{model}: no such model on the Hugging Face hub, and no such local folder; check the spelling "
                              "(owner/name, e.g. stable-diffusion-v1-5/stable-diffusion-v1-5)")
    if any(isinstance(e, HFValidationError) for e in chain):
        return ModelLoadError(f"{model}: not a hub id (owner/name) and not an existing file or folder")
    damaged = next((e for e in chain if isinstance(e, json.JSONDecodeError)), None)
    if damaged is not None:
        return ModelLoadError(f"{model}: a config file of the cached model is damaged ({damaged.msg} at line {damaged.lineno}); "
                              "delete the model from the Hugging Face cache and download it again")
    return _not_cached_error(model, offline)


def _single_file_kind(path: Path, keys: list[str]) -> str:
    """"xl" for an SDXL base checkpoint (two text encoders under conditioner.embedders), "sd" otherwise; a refiner
    (one OpenCLIP encoder under conditioner) is refused by name."""
    if any(key.startswith("conditioner.embedders.1.") for key in keys):
        return "xl"
    if any(key.startswith("conditioner.embedders.0.model.") for key in keys):
        raise ModelLoadError(f"{path} is an SDXL refiner checkpoint, which only refines other models' images: use an SDXL base "
                             "checkpoint or a fine-tune of it")
    return "sd"


def _checkpoint_keys(path: Path) -> list[str]:
    """The weight names of a single-file checkpoint: .safetensors read lazily, a pickle (allowed by the caller) loaded
    whole, as diffusers will load it again."""
    from safetensors import SafetensorError, safe_open

    if path.suffix.lower() in PICKLE_SUFFIXES:
        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as error:  # a pickle can fail in any way its code likes
            raise ModelLoadError(f"{path}: not a readable checkpoint ({error.__class__.__name__}: {error})") from None
        state = state.get("state_dict", state) if isinstance(state, dict) else state
        if not isinstance(state, dict):
            raise ModelLoadError(f"{path}: holds a {type(state).__name__}, not a checkpoint's weights")
        return list(state)
    try:
        with safe_open(str(path), "pt") as weights:
            return list(weights.keys())
    except (SafetensorError, OSError) as error:
        raise ModelLoadError(f"{path}: not a readable .safetensors checkpoint ({error})") from None


def _from_single_file(path: Path, torch_dtype: torch.dtype, extra: dict, config: str | os.PathLike | None) -> DiffusionPipeline:
    """An original-layout (LDM) checkpoint; its configs come from `config` or, guessed from the weights, the hub."""
    keys = _checkpoint_keys(path)
    options = {}
    if config is not None:
        config_path = Path(config).expanduser()
        if config_path.exists() and not (config_path / "model_index.json").exists():
            raise ModelLoadError(f"{config}: the config for a single-file checkpoint must be a diffusers model folder (no model_index.json)")
        options = {"config": str(config_path) if config_path.exists() else str(config)}
    kind = _single_file_kind(path, keys)
    try:
        if kind == "xl":
            return StableDiffusionXLPipeline.from_single_file(str(path), torch_dtype=torch_dtype, **options)
        return StableDiffusionPipeline.from_single_file(str(path), torch_dtype=torch_dtype, **options, **extra)
    except OSError as error:  # the single-file loader fetches the model's config from the hub
        where = f"the config {str(config)!r}" if config is not None else "its base model's config"
        raise ModelLoadError(
            f"{path}: loading a single-file checkpoint needs {where}, which is not cached "
            f"and could not be downloaded ({error.__class__.__name__}); run once with network access, "
            "pass the base model's diffusers folder as config, or convert the file to a diffusers folder"
        ) from None


@dataclass(frozen=True)
class ModelSpec:
    """Which model to load and how: what a folder edit needs to load the model itself (after its cheap checks, and
    once per Ray actor). `ModelSpec("toyworld").load()` is `Editor.from_pretrained("toyworld")`."""

    model: str = DEFAULT_MODEL  # hub id, diffusers folder, .safetensors file, or a shipped toy model's name
    device: str | None = None  # None: the first of cuda, mps, cpu
    dtype: str | None = None  # None: float16 on cuda, float32 elsewhere
    config: str | None = None  # a single .safetensors file's base model (diffusers folder or hub id)
    memory: tuple[str, ...] = ()  # memory savers (editor/memory.py)
    allow_unsafe_pickle: bool = False  # .ckpt / .bin files can run code when loaded

    def __post_init__(self):
        object.__setattr__(self, "model", str(self.model))
        object.__setattr__(self, "memory", tuple(self.memory))
        resolve_device(self.device)  # a device that is not here is refused before any work

    @classmethod
    def of(cls, model, device=None, dtype=None, **kwargs) -> "ModelSpec":
        """The spec of a `load_pipeline(model, device, dtype, **kwargs)` call (its keywords that are not ours ignored)."""
        again = {key: str(value) if key == "config" and value is not None else value for key, value in kwargs.items()
                 if key in ("config", "memory", "allow_unsafe_pickle")}
        name = None if dtype is None else str(dtype).removeprefix("torch.")
        return cls(str(model), device=None if device is None else str(device), dtype=name, **again)

    def load(self):
        """The Editor of this model."""
        from editor.editor import Editor

        return Editor.from_pretrained(self.model, device=self.device, dtype=self.dtype, config=self.config, memory=self.memory,
                                      allow_unsafe_pickle=self.allow_unsafe_pickle)


def spec_of(model) -> ModelSpec:
    """What the file and folder calls take as `model`, as a spec: a ModelSpec itself, a model name's, an Editor's own."""
    return model if isinstance(model, ModelSpec) else ModelSpec(model) if isinstance(model, str) else model.spec


def editor_of(model):
    """What the file and folder calls take as `model`, as an Editor: an Editor itself, or a ModelSpec or name loaded."""
    return model.load() if isinstance(model, ModelSpec) else ModelSpec(model).load() if isinstance(model, str) else model
