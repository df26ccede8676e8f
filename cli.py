"""The `edit` / `unwant` command: a thin click front over the `editor` API (`edit_file`, `edit_folder`, `generate_file`).

Nothing heavy is imported at module level, so `--help` and `--version` answer at once.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from pathlib import Path

import click

from unwant.sd.errors import UnwantError  # imports nothing heavy

log = logging.getLogger("unwant")

DEFAULT_MODEL = "stable-diffusion-v1-5/stable-diffusion-v1-5"  # = editor.loading.DEFAULT_MODEL (tested)
INVERSIONS = ["null-text", "ddim", "negative-prompt", "direct"]  # = inversion.METHODS (tested)
PRESETS = ["quality", "fast", "reference"]  # = editor.presets.PRESETS (tested)
FILLS = ["repaint", "surroundings", "model", "suppressed"]  # = editor.removal.fill.FILLS (tested)
MEMORY_OPTIONS = ["attention-slicing", "vae-slicing", "vae-tiling", "offload"]  # = editor.memory.MEMORY_OPTIONS (tested)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("unwant")
    except PackageNotFoundError:
        return "0+unknown"


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


# --help in sections, in the order a newcomer needs them; anything not listed falls into the last one
HELP_SECTIONS = {
    "Input and output": ["output", "overwrite", "save_mask", "save_attention", "concat", "report", "strip_metadata", "max_megapixels"],
    "Datasets (folders in, folders out)": ["copy_unchanged", "captions", "no_verify", "batch_size", "ray_address", "ray_actors"],
    "Removal and generation": ["targets", "prompt", "preset", "reconstruct", "inversion", "steps", "guidance", "seed", "negative_prompt",
                               "edit_all", "presence_threshold"],
    "Model and device": ["model", "model_config", "device", "dtype", "memory", "allow_unsafe_pickle"],
    "Advanced": ["alpha", "no_optimize", "mask_threshold", "fill", "no_blend"],
}


class OneLineErrors(click.Command):
    """Click's own refusals (an unknown option, a bad choice) in our style: one line, "error: ...", exit code 2."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as error:
            name = prog_name or Path(sys.argv[0]).name
            hint = f" (see {name} --help)" if isinstance(error, click.UsageError) else ""
            click.echo(f"error: {error.format_message().rstrip('.')}{hint}", err=True)
            sys.exit(error.exit_code)
        except click.Abort:
            click.echo("error: aborted", err=True)
            sys.exit(1)
        if not standalone_mode:
            return code
        sys.exit(code or 0)  # --help and --version end here with 0


class SectionedCommand(OneLineErrors):
    """A click command whose --help lists its options in HELP_SECTIONS."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        records = {param.name: param.get_help_record(ctx) for param in self.get_params(ctx)}
        records = {name: record for name, record in records.items() if record}
        for title, names in [*HELP_SECTIONS.items(), ("Other", [n for n in records if not any(n in v for v in HELP_SECTIONS.values())])]:
            rows = [records[name] for name in names if name in records]
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


@click.command(cls=SectionedCommand, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("inputs", nargs=-1, type=click.Path(path_type=Path))
@click.option("-p", "--prompt", help="Describe the image (generation), or caption the photo including the object (removal).")
@click.option("-r", "--remove", "targets", multiple=True, help="Object to remove; repeat for several. Generation also reads 'without X' from --prompt.")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Output file, or output folder for several inputs. Default: <stem>.edited.png beside the input.")
@click.option("-m", "--model", default=DEFAULT_MODEL, show_default=True, help="Hub id, local diffusers folder, .safetensors file, or a toy-world model that ships with unwant: 'toyworld' (shapes) or 'toyworld2' (faces, textures, shadows).")
@click.option("--config", "model_config", help="For a single .safetensors file: its base model's diffusers folder or hub id (needed offline).")
@click.option("--reconstruct", is_flag=True, help="Invert the photo and resample it with no edit; prints the PSNR against the input.")
@click.option("--inversion", type=click.Choice(INVERSIONS), help="Inversion for real photos (default: the preset's).")
@click.option("--preset", type=click.Choice(PRESETS), default="quality", show_default=True, help="quality: direct inversion, 50 steps; fast: 40 steps, no ITO; reference: the paper's null-text inversion (slow).")
@click.option("--seed", type=int, help="Noise seed: generation's starting noise (same seed, same image on every device), or a removal's repaint noise.")
@click.option("--steps", type=int, help="Denoising steps (default 50; the preset's for removal).")
@click.option("--guidance", type=float, help="Classifier-free guidance scale, 0 to 50 (default 7.5); a removal reads it with --fill suppressed or model.")
@click.option("--negative-prompt", help="Plain negative prompt for generation and --reconstruct (a baseline; a removal reads none).")
@click.option("--alpha", type=float, help="SWR strength: singular values s * exp(-alpha s), -0.01 to 10 (default 1.0).")
@click.option("--no-optimize", is_flag=True, help="SWR only: skip the inference-time attention optimization.")
@click.option("--mask-threshold", type=float, help="Object mask: attention above this fraction of its maximum, above 0 and up to 1 (default 0.1; each blob is then kept where the presence check finds the target).")
@click.option("--fill", type=click.Choice(FILLS), default=FILLS[0], show_default=True, help="What goes where the object was: painted in from its surroundings then repainted by the model for texture; the surroundings alone; the model's suppressed image (the paper's; it may draw a neighbour's copy there); or the repaint's start denoised by the suppressed branch with --guidance.")
@click.option("--no-blend", is_flag=True, help="Return the suppressed branch as is, without keeping the input outside the mask.")
@click.option("--save-attention", type=click.Path(path_type=Path), help="Write the target's attention maps (original | suppressed) to this image.")
@click.option("--save-mask", type=click.Path(path_type=Path), help="Write the removal mask to this image.")
@click.option("--concat", is_flag=True, help="Write input | mask | result side by side instead of the result alone.")
@click.option("--strip-metadata", is_flag=True, help="Write no EXIF, ICC profile, XMP or DPI (GPS, camera serials...); by default the input's are kept.")
@click.option("--report", type=click.Path(path_type=Path), help="Write what was done (inputs, model, seconds...) to this JSON file.")
@click.option("--device", help="cuda, mps or cpu (default: the first available).")
@click.option("--dtype", type=click.Choice(["float16", "bfloat16", "float32"]), help="Default: float16 on cuda, float32 elsewhere.")
@click.option("--low-memory", "memory", multiple=True, type=click.Choice(MEMORY_OPTIONS), help="Memory savers for large photos and small GPUs (offload: CUDA only); repeat to combine.")
@click.option("--max-megapixels", type=float, default=50.0, show_default=True, help="Refuse larger photos (0.001 to 1000).")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs (batch: redo them).")
@click.option("--copy-unchanged/--no-copy-unchanged", default=True, show_default=True, help="Batch: copy photos without the target to the output folder as they are, so it holds the whole dataset.")
@click.option("--edit-all", is_flag=True, help="Edit even where the target seems absent (a batch: every photo). The presence check still runs: it places the target for the mask.")
@click.option("--captions/--no-captions", default=True, show_default=True, help="Batch, without --prompt: each photo's own caption where the dataset has one (a .txt beside it, or captions.json, metadata.jsonl or captions.csv in its folder) and it names the target; the report's prompt says which each used.")
@click.option("--no-verify", is_flag=True, help="Batch: do not look for the target again in the edited photo (no 'check' status, no residual).")
@click.option("--presence-threshold", type=float, help="A target counts as present above this score (0 to 1), before editing and, in a batch, after (default 0.55, tuned on the toy world: check it on a sample of your own data).")
@click.option("--batch-size", type=click.IntRange(min=1), default=1, show_default=True, help="Batch: photos of one size per UNet forward in the inversion and the loop (faster on a GPU with memory to spare); the same pixels.")
@click.option("--ray", "ray_address", is_flag=False, flag_value="local", metavar="[ADDRESS]", help="Batch: spread the photos over a Ray cluster, one model per actor: at ADDRESS ('auto', 'ray://host:10001'), or started on this machine. Needs unwant[ray].")
@click.option("--ray-actors", type=click.IntRange(min=1), help="With --ray: how many actors (default: one per GPU in the cluster, else 2 on CPUs).")
@click.option("--allow-unsafe-pickle", is_flag=True, help="Allow .ckpt/.bin checkpoints, which can run code when loaded.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or log lines.")
@click.option("--debug", is_flag=True, envvar="UNWANT_DEBUG", help="Show the Python traceback of an unexpected failure (also UNWANT_DEBUG=1).")
@click.version_option(_version(), "--version", prog_name="unwant")
def main(inputs: tuple[Path, ...], **options) -> None:
    """Remove a named object from a photo, or generate an image without it.

    \b
      edit photo.jpg --remove glasses
      edit photos/ --remove watermark -o cleaned/     # only where it is; report.jsonl says what was done
      edit --prompt "a man without glasses" -o man.png
      edit photo.jpg --reconstruct --inversion direct
      unwant serve --model toyworld                   # the same in a web page (needs unwant[web])

    \b
    Commands:
      serve    A web page for removal and generation (unwant serve --help)
    """
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # optional-dependency notices are not for our users
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    logging.basicConfig(level=logging.WARNING if options["quiet"] else logging.INFO, format="%(message)s")
    try:
        _check_numbers_and_words(options)  # before torch is imported: a bad number is refused at once
        sys.exit(run(list(inputs), options))
    except UnwantError as error:
        _fail(str(error))
    except Exception as error:  # a bug or an environment we did not foresee: one line, the traceback on request
        if options["debug"]:
            raise
        click.echo(f"error: unexpected {type(error).__name__}: {error} (rerun with --debug for the traceback, and please report it)", err=True)
        sys.exit(1)


@click.command("serve", cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-m", "--model", default=DEFAULT_MODEL, show_default=True, help="Hub id, local diffusers folder, .safetensors file, or a toy-world model that ships with unwant: 'toyworld' (shapes) or 'toyworld2' (faces, textures, shadows).")
@click.option("--config", "model_config", help="For a single .safetensors file: its base model's diffusers folder or hub id (needed offline).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on: 127.0.0.1 is this machine only; 0.0.0.0 opens the page to your network.")
@click.option("--port", type=click.IntRange(1, 65535), default=7860, show_default=True, help="Port to listen on.")
@click.option("--device", help="cuda, mps or cpu (default: the first available).")
@click.option("--dtype", type=click.Choice(["float16", "bfloat16", "float32"]), help="Default: float16 on cuda, float32 elsewhere.")
@click.option("--low-memory", "memory", multiple=True, type=click.Choice(MEMORY_OPTIONS), help="Memory savers (offload: CUDA only); repeat to combine.")
@click.option("--max-upload-mb", type=click.IntRange(min=1), default=50, show_default=True, help="Refuse larger uploads.")
@click.option("--max-megapixels", type=float, default=50.0, show_default=True, help="Refuse larger photos (0.001 to 1000).")
@click.option("--allow-unsafe-pickle", is_flag=True, help="Allow .ckpt/.bin checkpoints, which can run code when loaded.")
@click.option("-q", "--quiet", is_flag=True, help="No log lines but the address.")
def serve_command(model: str, model_config: str | None, host: str, port: int, device: str | None, dtype: str | None,
                  memory: tuple[str, ...], max_upload_mb: int, max_megapixels: float, allow_unsafe_pickle: bool, quiet: bool) -> None:
    """A web page for removal and generation: upload a photo, type what to remove, see input | mask | result.

    \b
      unwant serve --model toyworld        # then open http://localhost:7860
    """
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s")
    if importlib.util.find_spec("gradio") is None:
        _fail('the web page needs Gradio, which is not installed: pip install "unwant[web]"')
    from unwant.web.server import serve

    try:
        serve(model, host, port, device=device, dtype=dtype, memory=memory, max_upload_mb=max_upload_mb, max_megapixels=max_megapixels,
              config=model_config, allow_unsafe_pickle=allow_unsafe_pickle)
    except UnwantError as error:
        _fail(str(error))


def _check_numbers_and_words(options: dict) -> None:
    """What can be refused from the options alone, with modules that import no torch."""
    from editor.checks import check_guidance, check_mask_threshold, check_megapixels, check_seed, check_steps, check_text
    from unwant.presence.config import PresenceConfig
    from suppression.config import SuppressionConfig

    check_steps(options["steps"], "--steps")
    check_guidance(options["guidance"])
    check_seed(options["seed"])
    check_megapixels(options["max_megapixels"])
    for target in options["targets"]:
        check_text(target, "--remove")
    if options["mask_threshold"] is not None:
        check_mask_threshold(options["mask_threshold"])
    PresenceConfig().with_(threshold=options["presence_threshold"])
    SuppressionConfig().with_(alpha=options["alpha"])


def run(inputs: list[Path], options: dict) -> int:
    """One call into the API: no input -> `generate_file`; one file -> `edit_file`; folders or several files -> `edit_folder`."""
    from editor.files import Extras, edit_file, generate_file
    from editor.loading import ModelSpec

    model = ModelSpec(options["model"], device=options["device"], dtype=options["dtype"], config=options["model_config"],
                      memory=options["memory"], allow_unsafe_pickle=options["allow_unsafe_pickle"])
    extras = Extras(mask=options["save_mask"], attention=options["save_attention"], report=options["report"])
    if options["ray_actors"] and not options["ray_address"]:
        raise UnwantError("--ray-actors is for a batch on Ray: add --ray")
    if not inputs:
        if not options["prompt"]:
            raise UnwantError("nothing to do: give a photo (edit photo.jpg --remove X) or a prompt (edit --prompt TEXT)")
        if options["reconstruct"]:
            raise UnwantError("--reconstruct needs a photo")
        result, output = generate_file(model, options["prompt"], options["output"] or Path("generated.png"), remove=list(options["targets"]),
                                       extras=extras, overwrite=options["overwrite"], progress=not options["quiet"], seed=options["seed"],
                                       steps=options["steps"] or 50, negative_prompt=options["negative_prompt"],
                                       **_suppression(options), **({} if options["guidance"] is None else {"guidance": options["guidance"]}))
        if result.targets and not options["targets"]:
            log.info("removing %s (read from the prompt)", ", ".join(repr(t) for t in result.targets))
        log.info("wrote %s (seed %d)", output, result.seed)
        return 0
    if len(inputs) == 1 and not inputs[0].is_dir():
        settings = _settings(options)
        if options["ray_address"]:
            raise UnwantError("--ray spreads a batch over a cluster: give a folder or several photos")
        result, output = edit_file(model, inputs[0], options["output"], settings, extras=extras, overwrite=options["overwrite"],
                                   progress=not options["quiet"])
        if result.psnr is not None:
            click.echo(f"reconstruction PSNR {result.psnr:.2f} dB ({result.inversion})")
        log.info("wrote %s", output)
        return 0
    return _folder(inputs, model, options)


def _folder(inputs: list[Path], model, options: dict) -> int:
    """`edit_folder`, then the summary line, and the photos a person should look at."""
    from editor.dataset.folder import edit_folder

    settings = _settings(options, folder=True)
    output = options["output"]
    if output is None:
        raise UnwantError(f"{inputs[0]}: is a folder; a folder of photos needs an output folder: pass -o FOLDER" if len(inputs) == 1
                          else "several inputs need an output folder: pass -o FOLDER")
    for flag in ("save_attention", "save_mask", "report"):
        if options[flag]:
            raise UnwantError(f"--{flag.replace('_', '-')} is for one photo; a batch writes {output}/report.jsonl")
    summary = edit_folder(model, inputs, output, settings.remove, ray=options["ray_address"], ray_actors=options["ray_actors"],
                          overwrite=options["overwrite"], copy_unchanged=options["copy_unchanged"], progress=not options["quiet"],
                          **{key: value for key, value in vars(settings).items() if key != "remove"})
    if summary.done_earlier:
        click.echo(f"nothing to do: all {summary.done_earlier} photos are already done in {output} (--overwrite redoes them)", err=True)
    else:
        click.echo(summary.line(), err=True)
    pending, shown = summary.folder_to_check, 10
    if pending:
        click.echo(f"to check ({len(pending)}: the target may still be there; all listed in {output / 'summary.json'}):", err=True)
        for path in pending[:shown]:
            click.echo(f"  {path}", err=True)
        if len(pending) > shown:
            click.echo(f"  ... and {len(pending) - shown} more", err=True)
    return 0 if summary.ok else 1


def _suppression(options: dict) -> dict:
    return {"alpha": options["alpha"]} | ({"optimize": False} if options["no_optimize"] else {})


def _settings(options: dict, folder: bool = False):
    """EditSettings (one photo) or FolderSettings (a batch) from the command line: checked before the model loads."""
    from editor.dataset.folder import FolderSettings
    from editor.settings import EditSettings

    chosen = dict(remove=options["targets"], prompt=options["prompt"], preset=options["preset"], inversion=options["inversion"],
                  steps=options["steps"], guidance=options["guidance"], seed=options["seed"], fill=options["fill"], blend=not options["no_blend"],
                  mask_threshold=options["mask_threshold"], alpha=options["alpha"], optimize=not options["no_optimize"],
                  negative_prompt=options["negative_prompt"], reconstruct=options["reconstruct"], concat=options["concat"],
                  strip_metadata=options["strip_metadata"], max_megapixels=options["max_megapixels"], check_first=not options["edit_all"],
                  presence_threshold=options["presence_threshold"])
    if not folder:
        return EditSettings(**chosen)
    return FolderSettings(**chosen, verify=not options["no_verify"], batch_size=options["batch_size"], captions=options["captions"])


def entry() -> None:
    """`edit ...` / `unwant ...`, and `unwant serve ...` for the web page (a file or folder named "serve" is an input)."""
    if sys.argv[1:2] == ["serve"] and not Path("serve").exists():
        serve_command.main(args=sys.argv[2:], prog_name=f"{Path(sys.argv[0]).name} serve")
    else:
        main()


if __name__ == "__main__":
    entry()
