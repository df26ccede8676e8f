"""Model loading, offline: local diffusers folders, single .safetensors files, pickle refusal and clear errors."""

import re

import huggingface_hub.constants
import pytest
import torch
from safetensors.torch import load_file, save_file
from tiny_models import tiny_pipeline

from editor.loading import ModelLoadError, load_pipeline, resolve_device, resolve_dtype
from unwant.sd.text import encode_prompt



@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No test here may reach the network or the user's cache: an empty HF_HOME, offline mode on."""
    home = tmp_path / "hf_home"
    home.mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read once at import otherwise
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(home / "hub"))
    return home


@pytest.fixture(scope="module")
def reference():
    return tiny_pipeline()


@pytest.fixture(scope="module")
def folder(reference, tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny") / "tiny-sd"
    reference.save_pretrained(path, safe_serialization=True)
    return path


@pytest.fixture(scope="module")
def pickle_folder(reference, tmp_path_factory):
    """A diffusers folder whose weights are .bin only (transformers 5 writes the text encoder as .safetensors
    whatever it is told, so that one is rewritten as pytorch_model.bin by hand)."""
    path = tmp_path_factory.mktemp("tiny") / "tiny-sd-bin"
    reference.save_pretrained(path, safe_serialization=False)
    for weights in (path / "text_encoder").glob("*.safetensors"):
        torch.save(load_file(weights), path / "text_encoder" / "pytorch_model.bin")
        weights.unlink()
    assert not list(path.rglob("*.safetensors"))
    return path


def same_weights(a, b) -> bool:
    a, b = a.state_dict(), b.state_dict()
    return a.keys() == b.keys() and all(torch.equal(a[k].float(), b[k].float()) for k in a)


# -- local diffusers folders -----------------------------------------------------------------------


@pytest.mark.parametrize("dtype, expected", [(None, torch.float32), ("float32", torch.float32), (torch.float16, torch.float16), ("bfloat16", torch.bfloat16)])
def test_local_folder_loads_in_the_requested_dtype(folder, reference, dtype, expected):
    pipe = load_pipeline(folder, device="cpu", dtype=dtype)
    assert pipe.unet.dtype == expected and pipe.vae.dtype == expected and pipe.text_encoder.dtype == expected
    assert pipe.unet.device.type == "cpu"
    assert pipe.safety_checker is None
    if expected == torch.float32:
        assert same_weights(pipe.unet, reference.unet) and same_weights(pipe.text_encoder, reference.text_encoder)


def test_local_folder_as_a_string_path(folder):
    assert load_pipeline(str(folder), device="cpu").unet.config.sample_size == 16


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="no such file or folder"):
        load_pipeline(str(tmp_path / "nowhere" / "model"), device="cpu")
    with pytest.raises(ModelLoadError, match="no such file or folder"):
        load_pipeline("./not-here", device="cpu")


def test_folder_without_model_index_is_a_clear_error(tmp_path):
    (tmp_path / "unet").mkdir()
    with pytest.raises(ModelLoadError, match=re.escape("not a diffusers model folder (no model_index.json)")):
        load_pipeline(tmp_path, device="cpu")


def test_folder_with_missing_weights_is_a_clear_error(folder, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for item in folder.iterdir():
        target = broken / item.name
        if item.is_dir():
            target.mkdir()
            for file in item.iterdir():
                if item.name != "unet" or not file.name.endswith(".safetensors"):
                    target.joinpath(file.name).write_bytes(file.read_bytes())
        else:
            target.write_bytes(item.read_bytes())
    with pytest.raises(ModelLoadError, match="not a loadable diffusers model folder"):
        load_pipeline(broken, device="cpu")


def test_other_file_types_are_refused(tmp_path):
    notes = tmp_path / "model.txt"
    notes.write_text("hello")
    with pytest.raises(ModelLoadError, match="expected a .safetensors checkpoint or a diffusers folder"):
        load_pipeline(notes, device="cpu")


@pytest.mark.parametrize("name", ["toyworld", "toyworld2"])
def test_shipped_models_load_by_name_from_the_package_folder(monkeypatch, tmp_path, folder, reference, name):
    import shutil

    import editor.loading

    shutil.copytree(folder, tmp_path / name)
    monkeypatch.setattr(editor.loading, "MODELS_FOLDER", tmp_path)
    assert same_weights(load_pipeline(name, device="cpu").unet, reference.unet)


@pytest.mark.parametrize("name, command", [("toyworld", "python -m benchmarks.toyworld.train --out"),
                                           ("toyworld2", "python -m benchmarks.toyworld.train --world toyworld2 --out")])
def test_a_missing_shipped_model_says_how_to_make_it(monkeypatch, tmp_path, name, command):
    import editor.loading

    monkeypatch.setattr(editor.loading, "MODELS_FOLDER", tmp_path)
    with pytest.raises(ModelLoadError, match=re.escape(command)):
        load_pipeline(name, device="cpu")


# -- devices and dtypes ----------------------------------------------------------------------------


def test_unknown_dtype_lists_the_choices(folder):
    with pytest.raises(ModelLoadError) as error:
        load_pipeline(folder, device="cpu", dtype="float8")
    assert "'float8'" in str(error.value)
    assert "float32, float16, bfloat16" in str(error.value)


@pytest.mark.skipif(torch.cuda.is_available() or torch.backends.mps.is_available(), reason="this machine has an accelerator")
def test_resolve_device_defaults_to_cpu_here():
    assert resolve_device(None) == torch.device("cpu")


def test_resolve_device_and_dtype():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert resolve_dtype(None, torch.device("cpu")) == torch.float32
    assert resolve_dtype(None, torch.device("cuda")) == torch.float16
    assert resolve_dtype("bfloat16", torch.device("cuda")) == torch.bfloat16
    assert resolve_dtype(torch.float64, torch.device("cpu")) == torch.float64


# -- hub ids, offline ------------------------------------------------------------------------------


def test_uncached_hub_model_offline_says_what_to_do(offline):
    with pytest.raises(ModelLoadError) as error:
        load_pipeline("someone/not-a-model", device="cpu")
    message = str(error.value)
    assert "'someone/not-a-model'" in message
    assert "not in the local Hugging Face cache" in message
    assert str(offline) in message  # the cache it looked in
    assert "--model" in message and "toyworld" in message
    assert "HF_HUB_OFFLINE is set" in message  # offline by choice: the fix is to unset it


def test_uncached_hub_model_without_network_says_so():
    from editor.loading import _not_cached_error

    message = str(_not_cached_error("someone/not-a-model", offline=False))
    assert "could not be downloaded (no network" in message and "HF_HUB_OFFLINE" not in message


# -- pickle refusal --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["model.ckpt", "model.bin", "model.pt"])
def test_pickle_file_is_refused(tmp_path, name):
    checkpoint = tmp_path / name
    checkpoint.write_bytes(b"not even a pickle")
    with pytest.raises(ModelLoadError, match="--allow-unsafe-pickle") as error:
        load_pipeline(checkpoint, device="cpu")
    assert "pickle" in str(error.value)


def test_pickle_folder_is_refused_without_the_flag(pickle_folder):
    with pytest.raises(ModelLoadError, match="--allow-unsafe-pickle") as error:
        load_pipeline(pickle_folder, device="cpu")
    assert "unet" in str(error.value) and "vae" in str(error.value)


def test_pickle_folder_loads_with_the_flag(pickle_folder, reference):
    pipe = load_pipeline(pickle_folder, device="cpu", dtype="float32", allow_unsafe_pickle=True)
    assert same_weights(pipe.unet, reference.unet)
    assert same_weights(pipe.vae, reference.vae)
    assert same_weights(pipe.text_encoder, reference.text_encoder)


def test_folder_with_one_pickled_component_is_refused_and_loads_with_the_flag(reference, tmp_path):
    """save_pretrained(safe_serialization=False) under transformers 5: .bin UNet and VAE, .safetensors text encoder."""
    path = tmp_path / "mixed"
    reference.save_pretrained(path, safe_serialization=False)
    if not list(path.rglob("*.bin")):
        pytest.skip("this diffusers saved no .bin files")
    with pytest.raises(ModelLoadError, match="--allow-unsafe-pickle"):
        load_pipeline(path, device="cpu")
    assert same_weights(load_pipeline(path, device="cpu", allow_unsafe_pickle=True).unet, reference.unet)


# -- single .safetensors files in the original (LDM) layout ----------------------------------------
# The inverse of diffusers' convert_ldm_unet_checkpoint / convert_ldm_vae_checkpoint / convert_ldm_clip_checkpoint,
# for SD 1.x-layout models, so that from_single_file's conversion is exercised on a tiny checkpoint.

RESNET = [("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("norm2", "out_layers.0"), ("conv2", "out_layers.3"),
          ("time_emb_proj", "emb_layers.1"), ("conv_shortcut", "skip_connection")]  # fmt: skip
UNET_TOP = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2", "conv_in": "input_blocks.0.0",
            "conv_norm_out": "out.0", "conv_out": "out.2"}  # fmt: skip
VAE_ATTENTION = [("group_norm", "norm"), ("to_q", "q"), ("to_k", "k"), ("to_v", "v"), ("to_out.0", "proj_out")]


def _rename(rest, pairs):
    for new, old in pairs:
        if rest.startswith(new + "."):
            return old + rest[len(new) :]
    return rest


def ldm_unet_key(key, config):
    per = config["layers_per_block"] + 1  # LDM numbers the layers of all blocks in one sequence
    for new, old in UNET_TOP.items():
        if key.startswith(new + "."):
            return old + key[len(new) :]
    if m := re.match(r"down_blocks\.(\d+)\.(resnets|attentions|downsamplers)\.(\d+)\.(.*)", key):
        block, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
        if kind == "downsamplers":
            return f"input_blocks.{(block + 1) * per}.0.op.{rest.removeprefix('conv.')}"
        i = 1 + block * per + j
        return f"input_blocks.{i}.0.{_rename(rest, RESNET)}" if kind == "resnets" else f"input_blocks.{i}.1.{rest}"
    if m := re.match(r"mid_block\.(resnets|attentions)\.(\d+)\.(.*)", key):
        return f"middle_block.{2 * int(m[2])}.{_rename(m[3], RESNET)}" if m[1] == "resnets" else f"middle_block.1.{m[3]}"
    if m := re.match(r"up_blocks\.(\d+)\.(resnets|attentions|upsamplers)\.(\d+)\.(.*)", key):
        block, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
        if kind == "upsamplers":
            has_attention = "CrossAttn" in config["up_block_types"][block]
            return f"output_blocks.{block * per + per - 1}.{2 if has_attention else 1}.{rest}"
        i = block * per + j
        return f"output_blocks.{i}.0.{_rename(rest, RESNET)}" if kind == "resnets" else f"output_blocks.{i}.1.{rest}"
    raise KeyError(key)


def ldm_vae_key(key, n_blocks):
    part, _, rest = key.partition(".")
    if part not in ("encoder", "decoder"):
        return key  # quant_conv, post_quant_conv
    if rest.startswith("conv_norm_out."):
        return f"{part}.norm_out.{rest.removeprefix('conv_norm_out.')}"
    if m := re.match(r"(down|up)_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", rest):
        i = int(m[2]) if m[1] == "down" else n_blocks - 1 - int(m[2])  # LDM's decoder counts up blocks backwards
        return f"{part}.{m[1]}.{i}.block.{m[3]}.{m[4].replace('conv_shortcut', 'nin_shortcut')}"
    if m := re.match(r"(down|up)_blocks\.(\d+)\.(?:down|up)samplers\.0\.(.*)", rest):
        i = int(m[2]) if m[1] == "down" else n_blocks - 1 - int(m[2])
        return f"{part}.{m[1]}.{i}.{m[1]}sample.{m[3]}"
    if m := re.match(r"mid_block\.resnets\.(\d+)\.(.*)", rest):
        return f"{part}.mid.block_{int(m[1]) + 1}.{m[2].replace('conv_shortcut', 'nin_shortcut')}"
    if rest.startswith("mid_block.attentions.0."):
        return f"{part}.mid.attn_1.{_rename(rest.removeprefix('mid_block.attentions.0.'), VAE_ATTENTION)}"
    return key


def ldm_state_dict(pipe) -> dict[str, torch.Tensor]:
    """The pipeline's weights as one original-layout SD 1.x checkpoint."""
    out = {"model.diffusion_model." + ldm_unet_key(k, pipe.unet.config): v for k, v in pipe.unet.state_dict().items()}
    n = len(pipe.vae.config.block_out_channels)
    for key, value in pipe.vae.state_dict().items():
        new = ldm_vae_key(key, n)
        if ".mid.attn_1." in new and value.ndim == 2:
            value = value[:, :, None, None]  # LDM's VAE attention projections are 1 x 1 convolutions
        out["first_stage_model." + new] = value
    for key, value in pipe.text_encoder.state_dict().items():
        out["cond_stage_model.transformer.text_model." + key.removeprefix("text_model.")] = value
    return {k: v.contiguous() for k, v in out.items()}


@pytest.fixture(scope="module")
def single_file(reference, tmp_path_factory):
    path = tmp_path_factory.mktemp("single") / "tiny-sd.safetensors"
    save_file(ldm_state_dict(reference), str(path))
    return path


def test_ldm_layout_is_not_the_diffusers_layout(single_file):
    keys = set(load_file(single_file))
    assert "model.diffusion_model.input_blocks.0.0.weight" in keys
    assert "first_stage_model.encoder.mid.attn_1.q.weight" in keys
    assert not any("down_blocks" in k or "resnets" in k for k in keys)


def test_single_file_round_trip_with_a_local_config(single_file, folder, reference):
    pipe = load_pipeline(single_file, device="cpu", dtype="float32", config=folder)
    assert same_weights(pipe.unet, reference.unet)
    assert same_weights(pipe.vae, reference.vae)
    assert same_weights(pipe.text_encoder, reference.text_encoder)
    assert type(pipe.scheduler) is type(reference.scheduler) and pipe.safety_checker is None
    assert torch.equal(encode_prompt(pipe, "a man with glasses"), encode_prompt(reference, "a man with glasses"))
    assert load_pipeline(single_file, device="cpu", dtype=torch.float16, config=str(folder)).unet.dtype == torch.float16


def test_a_pickle_single_file_loads_when_allowed(reference, folder, tmp_path):
    checkpoint = tmp_path / "tiny-sd.ckpt"
    torch.save({"state_dict": ldm_state_dict(reference)}, checkpoint)
    with pytest.raises(ModelLoadError, match="pickle checkpoint"):
        load_pipeline(checkpoint, device="cpu", config=folder)
    pipe = load_pipeline(checkpoint, device="cpu", dtype="float32", config=folder, allow_unsafe_pickle=True)
    assert same_weights(pipe.unet, reference.unet)


def test_single_file_without_config_offline_is_a_clear_error(single_file):
    with pytest.raises(ModelLoadError) as error:
        load_pipeline(single_file, device="cpu")
    message = str(error.value)
    assert str(single_file) in message
    assert "config" in message and "network access" in message


def test_single_file_with_a_config_folder_lacking_model_index(single_file, tmp_path):
    with pytest.raises(ModelLoadError, match="no model_index.json"):
        load_pipeline(single_file, device="cpu", config=tmp_path)


def test_single_file_with_an_uncached_config_id(single_file):
    with pytest.raises(ModelLoadError, match="someone/base-model"):
        load_pipeline(single_file, device="cpu", config="someone/base-model")


def test_corrupt_safetensors_file_is_named_as_such(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"garbage")
    with pytest.raises(ModelLoadError, match="not a readable .safetensors checkpoint"):
        load_pipeline(bad, device="cpu")


def test_config_applies_only_to_single_files(folder):
    with pytest.raises(ModelLoadError, match="single .safetensors"):
        load_pipeline(folder, device="cpu", config=folder)


# -- SDXL single files: the UNet and VAE as above, CLIP ViT-L and OpenCLIP bigG under conditioner.embedders ---------

OPEN_CLIP_TOP = {"text_model.embeddings.position_embedding.weight": "positional_embedding", "text_model.embeddings.token_embedding.weight":
                 "token_embedding.weight", "text_model.final_layer_norm.weight": "ln_final.weight", "text_model.final_layer_norm.bias": "ln_final.bias"}  # fmt: skip
OPEN_CLIP_LAYER = [("layer_norm1", "ln_1"), ("layer_norm2", "ln_2"), ("mlp.fc1", "mlp.c_fc"), ("mlp.fc2", "mlp.c_proj"), ("self_attn.out_proj", "attn.out_proj")]


def open_clip_state_dict(encoder) -> dict[str, torch.Tensor]:
    """A CLIPTextModelWithProjection's weights in OpenCLIP's layout (q, k, v in one in_proj; the projection transposed)."""
    state, out = encoder.state_dict(), {}
    for key, value in state.items():
        if key in OPEN_CLIP_TOP:
            out[OPEN_CLIP_TOP[key]] = value
        elif key == "text_projection.weight":
            out["text_projection"] = value.T
        elif m := re.match(r"text_model\.encoder\.layers\.(\d+)\.(.*)", key):
            layer, rest = m[1], m[2]
            if rest.startswith("self_attn.q_proj."):
                kind = rest.rsplit(".", 1)[1]
                parts = [state[f"text_model.encoder.layers.{layer}.self_attn.{p}_proj.{kind}"] for p in "qkv"]
                out[f"transformer.resblocks.{layer}.attn.in_proj_{kind}"] = torch.cat(parts)
            elif not rest.startswith(("self_attn.k_proj.", "self_attn.v_proj.")):
                out[f"transformer.resblocks.{layer}.{_rename(rest, OPEN_CLIP_LAYER)}"] = value
    return out


def ldm_xl_state_dict(pipe) -> dict[str, torch.Tensor]:
    """The pipeline's weights as one original-layout SDXL checkpoint (Stability-AI/generative-models' key names)."""
    added = {"add_embedding.linear_1.": "label_emb.0.0.", "add_embedding.linear_2.": "label_emb.0.2."}
    out = {}
    for key, value in pipe.unet.state_dict().items():
        prefix = next((p for p in added if key.startswith(p)), None)
        new = added[prefix] + key[len(prefix):] if prefix else ldm_unet_key(key, pipe.unet.config)
        out["model.diffusion_model." + new] = value
    n = len(pipe.vae.config.block_out_channels)
    for key, value in pipe.vae.state_dict().items():
        new = ldm_vae_key(key, n)
        out["first_stage_model." + new] = value[:, :, None, None] if ".mid.attn_1." in new and value.ndim == 2 else value
    for key, value in pipe.text_encoder.state_dict().items():
        out["conditioner.embedders.0.transformer.text_model." + key.removeprefix("text_model.")] = value
    for key, value in open_clip_state_dict(pipe.text_encoder_2).items():
        out["conditioner.embedders.1.model." + key] = value
    return {k: v.contiguous() for k, v in out.items()}


@pytest.fixture(scope="module")
def xl_reference():
    from benchmarks.real_configs import build_pipeline

    return build_pipeline("sdxl", tiny=True)


def test_sdxl_single_file_round_trip_with_a_local_config(xl_reference, tmp_path):
    xl_reference.save_pretrained(tmp_path / "config", safe_serialization=True)
    save_file(ldm_xl_state_dict(xl_reference), str(tmp_path / "tiny-sdxl.safetensors"))
    pipe = load_pipeline(tmp_path / "tiny-sdxl.safetensors", device="cpu", dtype="float32", config=tmp_path / "config")
    assert type(pipe).__name__ == "StableDiffusionXLPipeline"
    for name in ("unet", "vae", "text_encoder", "text_encoder_2"):
        assert same_weights(getattr(pipe, name), getattr(xl_reference, name)), name
    assert torch.equal(encode_prompt(pipe, "a red circle"), encode_prompt(xl_reference, "a red circle"))
    assert pipe.tokenizer_2.pad_token == "!" and type(pipe.scheduler).__name__ == "EulerDiscreteScheduler"


def test_sdxl_refiners_are_named_and_refused(xl_reference, tmp_path):
    refiner = {f"conditioner.embedders.0.model.{k}": v for k, v in open_clip_state_dict(xl_reference.text_encoder_2).items()}
    save_file({k: v.contiguous() for k, v in refiner.items()}, str(tmp_path / "refiner.safetensors"))
    with pytest.raises(ModelLoadError, match="SDXL refiner"):
        load_pipeline(tmp_path / "refiner.safetensors", device="cpu")


def _raising(error: BaseException):
    def from_pretrained(*args, **kwargs):
        raise error

    return from_pretrained


def _hub_error(kind, message: str) -> BaseException:
    error = kind.__new__(kind)
    Exception.__init__(error, message)
    return error


@pytest.mark.parametrize("make, said", [
    (lambda e: _hub_error(e.GatedRepoError, "Access to model x is restricted"), "is a gated model: accept its licence"),
    (lambda e: _hub_error(e.RepositoryNotFoundError, "404"), "no such model on the Hugging Face hub"),
    (lambda e: OSError("someone/misspelt is not a local folder and is not a valid model identifier listed on hub"),
     "no such model on the Hugging Face hub"),
    (lambda e: e.HFValidationError("Repo id must use alphanumeric chars"), "not a hub id (owner/name)"),
    (lambda e: __import__("json").JSONDecodeError("Expecting value", "{", 0), "a config file of the cached model is damaged"),
    (lambda e: e.LocalEntryNotFoundError("not cached"), "is not in the local Hugging Face cache"),
])
def test_each_hub_failure_has_its_own_line(monkeypatch, make, said):
    import huggingface_hub.errors as errors
    from diffusers import DiffusionPipeline

    monkeypatch.setattr(DiffusionPipeline, "from_pretrained", _raising(make(errors)))
    with pytest.raises(ModelLoadError, match=re.escape(said)):
        load_pipeline("someone/some-model", device="cpu")


def test_a_wrapped_gated_error_is_still_called_gated(monkeypatch):
    import huggingface_hub.errors as errors
    from diffusers import DiffusionPipeline

    try:
        try:
            raise _hub_error(errors.GatedRepoError, "restricted")
        except OSError as inner:
            raise OSError("We couldn't connect to load this model") from inner
    except OSError as wrapped:
        monkeypatch.setattr(DiffusionPipeline, "from_pretrained", _raising(wrapped))
    with pytest.raises(ModelLoadError, match="gated model"):
        load_pipeline("someone/gated", device="cpu")
