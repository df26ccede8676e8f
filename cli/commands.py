"""What each command line does, in terms of the Editor API; cli/__init__.py only parses options and prints errors."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path

import click
from PIL import Image

from editor.batch import REPORT_NAME, SUMMARY_NAME, already_done, check_settings, latest_entries, output_folder_lock, run_batch, to_check
from editor.checks import (check_file_name, check_guidance, check_megapixels, check_output_location, check_seed, check_steps,
                           check_text)
from editor.editor import Editor
from editor.figures import attention_figure, side_by_side
from editor.loading import resolve_device
from editor.masks import MaskConfig
from editor.photo_io import Photo, find_images, output_path_for, read_photo
from editor.presets import PRESETS
from editor.report import record, write_json
from editor.result import EditResult
from editor.sanitize import Outcome, sanitize
from editor.writing import WRITE_FORMATS, refuse_inputs, remove_stale_temporaries, write_image
from presence import PresenceConfig
from sd.errors import UnwantError

log = logging.getLogger("unwant")
# measured by benchmarks.speed (toy model, CPU): removal with the reference preset 21.8 s, with quality 4.0 s
QUALITY_SPEEDUP_ON_CPU = 5


def _load(options: dict) -> Editor:
    return Editor.from_pretrained(
        options["model"], device=options["device"], dtype=options["dtype"], allow_unsafe_pickle=options["allow_unsafe_pickle"],
        config=options["model_config"],
        memory=options["memory"],
    )


def _suppression_options(options: dict) -> dict:
    chosen = {"alpha": options["alpha"]}
    if options["no_optimize"]:
        chosen["optimize"] = False
    return chosen


def _check_writable(path: Path | None, overwrite: bool, inputs: list[Path]) -> None:
    """Refuse a bad output before minutes of work, not after."""
    if path is None:
        return
    check_file_name(path)
    if path.suffix.lower() not in WRITE_FORMATS:
        raise UnwantError(f"{path}: unknown output format; use one of {', '.join(sorted(WRITE_FORMATS))}")
    refuse_inputs(path, inputs)  # however it is spelled: links, '..', a hard link
    if path.exists() and not overwrite:
        raise UnwantError(f"{path}: exists; pass --overwrite to replace it")
    check_output_location(path)


def _check_outputs(options: dict, inputs: list[Path], output: Path) -> None:
    """Every file this edit will write, checked before the model loads: the image, the mask, the attention figure and
    the report, none onto an input, onto another of them, or over an existing file unasked."""
    overwrite = options["overwrite"]
    _check_writable(output, overwrite, inputs)
    extras = [options[flag] for flag in ("save_mask", "save_attention") if options[flag]]
    written = [output]
    for path in extras:
        _check_writable(path, overwrite, inputs)
        if any(path.resolve() == other.resolve() for other in written):
            raise UnwantError(f"{path}: is also where another output of this edit goes; give each its own file")
        written.append(path)
    _check_report(options["report"], overwrite, inputs, written)


def _check_report(path: Path | None, overwrite: bool, inputs: list[Path], outputs: list[Path]) -> None:
    """Refuse a --report that would replace an input, an output of this edit, an existing file unasked, or a folder:
    before the model loads, not after the edit."""
    if path is None:
        return
    if path.is_dir():
        raise UnwantError(f"{path}: is a folder; give --report a file name such as report.json")
    for other in [*inputs, *outputs]:
        if path.resolve() == other.resolve() or (path.exists() and other.exists() and os.path.samefile(path, other)):
            role = "input" if other in inputs else "output"
            raise UnwantError(f"{path}: --report would replace the {role} {other}; choose another report file")
    if path.exists() and not overwrite:
        raise UnwantError(f"{path}: exists; pass --overwrite to replace it, or choose another report file")
    check_output_location(path)


def _save_extras(result: EditResult, options: dict, inputs: list[Path]) -> None:
    overwrite = options["overwrite"]
    if options["save_attention"]:
        if result.attention is None:
            raise UnwantError("--save-attention needs something to remove: pass --remove or a prompt with 'without X'")
        write_image(attention_figure(result.attention, result.suppressed_attention), options["save_attention"], overwrite, inputs)
    if options["save_mask"]:
        if result.mask is None:
            raise UnwantError("--save-mask needs a photo and --remove")
        write_image(result.mask, options["save_mask"], overwrite, inputs)


def _generate(options: dict) -> int:
    output = options["output"] or Path("generated.png")
    _check_outputs(options, [], output)
    editor = _load(options)
    result = editor.generate(
        options["prompt"],
        remove=list(options["targets"]) or None,
        seed=options["seed"],
        steps=options["steps"] or 50,
        guidance=options["guidance"],
        negative_prompt=options["negative_prompt"],
        progress=not options["quiet"],
        **_suppression_options(options),
    )
    if result.targets and not options["targets"]:
        log.info("removing %s (read from the prompt)", ", ".join(repr(t) for t in result.targets))
    _save_extras(result, options, [])
    write_image(result.image, output, options["overwrite"])
    if options["report"]:
        write_json(record(None, output, editor, result), options["report"])
    log.info("wrote %s (seed %d)", output, result.seed)
    return 0


def _say_what_runs(editor: Editor, options: dict) -> None:
    """One line before the work: which preset runs, and on a CPU what the quality preset would save over reference."""
    if options["reconstruct"]:
        return
    preset = PRESETS[options["preset"]]
    steps = options["steps"] or preset.steps
    line = f"{options['preset']} preset: {options['inversion'] or preset.inversion} inversion, {steps} steps"
    if options["preset"] == "reference" and editor.device.type == "cpu":
        line += f"; on a CPU, --preset quality is about {QUALITY_SPEEDUP_ON_CPU}x faster"
    log.info(line)
    shaping = [flag for flag, given in (("--alpha", options["alpha"] is not None), ("--no-optimize", options["no_optimize"])) if given]
    if shaping and options["fill"] != "model" and not options["no_blend"]:
        log.warning("note: %s %s the suppressed branch, which removal uses only with --fill model or --no-blend: "
                    "this edit is the same without it", " and ".join(shaping), "shapes" if len(shaping) == 1 else "shape")


def _removal_options(options: dict) -> dict:
    """Editor.remove's keyword arguments from the command line."""
    mask = MaskConfig() if options["mask_threshold"] is None else MaskConfig(threshold=options["mask_threshold"])
    return dict(prompt=options["prompt"], preset=options["preset"], inversion=options["inversion"], steps=options["steps"],
                guidance=options["guidance"], blend=not options["no_blend"], fill=options["fill"], mask=mask,
                progress=not options["quiet"], **_suppression_options(options))


def _edit_one(editor: Editor, source: Path | Image.Image, options: dict) -> EditResult:
    if options["reconstruct"]:
        return editor.reconstruct(
            source, prompt=options["prompt"], inversion=options["inversion"] or "null-text", steps=options["steps"] or 50,
            guidance=options["guidance"], negative_prompt=options["negative_prompt"], progress=not options["quiet"],
        )
    return editor.remove(source, list(options["targets"]), **_removal_options(options))


def _concat(photo: Image.Image, result: EditResult) -> Image.Image:
    mask = result.mask or Image.new("L", photo.size, 0)
    return side_by_side([photo, mask.convert("RGB"), result.image.convert("RGB")])


def _single(source: Path, options: dict) -> int:
    photo = read_photo(source, options["max_megapixels"])  # bad input fails before the model loads
    output = options["output"] or output_path_for(source)
    check_file_name(output)
    if output.is_dir():
        output = output / output_path_for(source).name
    _check_outputs(options, [source], output)
    if output.parent.is_dir():
        remove_stale_temporaries(output.parent, output.name, recursive=False)  # a killed edit of the same output
    editor = _load(options)
    _say_what_runs(editor, options)
    result = _edit_one(editor, photo, options)
    _save_extras(result, options, [source])
    image = _concat(photo.rgb, result) if options["concat"] else result.image
    write_image(image, output, options["overwrite"], inputs=[source], strip_metadata=options["strip_metadata"])
    if options["report"]:
        write_json(record(source, output, editor, result), options["report"])
    if result.psnr is not None:
        click.echo(f"reconstruction PSNR {result.psnr:.2f} dB ({result.inversion})")
    log.info("wrote %s", output)
    return 0


def _batch(inputs: list[Path], options: dict) -> int:
    out_folder = options["output"]
    if out_folder is None and len(inputs) == 1:
        raise UnwantError(f"{inputs[0]}: is a folder; a folder of photos needs an output folder: pass -o FOLDER")
    if out_folder is None:
        raise UnwantError("several inputs need an output folder: pass -o FOLDER")
    if out_folder.suffix.lower() in WRITE_FORMATS:
        raise UnwantError(f"{out_folder}: several inputs need an output folder, not a file name")
    for flag in ("save_attention", "save_mask", "report"):
        if options[flag]:
            raise UnwantError(f"--{flag.replace('_', '-')} is for one photo; a batch writes {out_folder}/report.jsonl")
    files = find_images(inputs, exclude=out_folder)  # a bad path or a folder without images fails before the model loads
    check_output_location(out_folder / "report.jsonl")
    if options["ray_address"]:
        from editor.ray_batch import import_ray

        import_ray()  # a missing extra is said before any work
    with output_folder_lock(out_folder):  # held from before the model loads: a second batch is refused at once
        return _run_locked_batch(inputs, files, out_folder, options)


def process_photos(editor: Editor, options: dict, sources: list[Path]) -> list[Outcome | Exception]:
    """A batch's step for some photos: read them, look for the targets, remove those there (--batch-size of them in
    each UNet forward), look again (editor/sanitize.py). A photo that will not read gets its error in its place."""
    quiet = {**options, "quiet": True}  # one progress bar for the batch, not one per photo
    outcomes: list[Outcome | Exception | None] = [None] * len(sources)
    photos: dict[int, Photo] = {}
    for i, source in enumerate(sources):
        try:
            photos[i] = read_photo(source, options["max_megapixels"])
        except UnwantError as error:
            outcomes[i] = error
    if options["reconstruct"]:
        done = [Outcome("ok", _edit_one(editor, photo, quiet)) for photo in photos.values()]
    else:
        def edit(some: list[Photo], targets: list[str]) -> list[EditResult]:
            return editor.remove_batch(some, targets, batch_size=options["batch_size"], **_removal_options(quiet))

        done = sanitize(editor, list(photos.values()), list(options["targets"]), edit, check_first=not options["edit_all"],
                        verify=not options["no_verify"], config=PresenceConfig().with_(threshold=options["presence_threshold"]))
    for i, outcome in zip(photos, done):
        if options["concat"] and outcome.result is not None:
            outcome.result.image = _concat(photos[i].rgb, outcome.result)
        outcomes[i] = outcome
    return outcomes


def make_processor(options: dict) -> tuple[Editor, Callable[[list[Path]], list[Outcome | Exception]]]:
    """What each Ray actor builds once: its own Editor, and the local batch's per-photo step bound to it."""
    editor = _load(options)
    return editor, functools.partial(process_photos, editor, options)


# what a batch's photos are made with: a rerun into the same folder must ask the same (editor/batch.py: check_settings)
BATCH_SETTINGS = ("targets", "prompt", "preset", "model", "model_config", "inversion", "steps", "guidance", "fill", "no_blend",
                  "mask_threshold", "presence_threshold", "edit_all", "no_verify", "alpha", "no_optimize", "reconstruct", "concat",
                  "strip_metadata")  # not --no-copy-unchanged: it decides whether a copy is written, not what an output holds


def _batch_settings(options: dict) -> dict:
    return {key: str(options[key]) if isinstance(options[key], Path) else options[key] for key in BATCH_SETTINGS}


def _run_locked_batch(inputs: list[Path], files: list[tuple[Path, Path]], out_folder: Path, options: dict) -> int:
    settings = _batch_settings(options)
    if not options["overwrite"]:
        check_settings(out_folder, settings, overwrite=False)  # another target into the same folder is refused, not "done"
        latest = latest_entries(out_folder / REPORT_NAME)
        if all(already_done(source, relative, out_folder, latest) for source, relative in files):
            remove_stale_temporaries(out_folder)  # what a killed run left, even when nothing is left to do
            click.echo(f"nothing to do: all {len(files)} photos are already done in {out_folder} (--overwrite redoes them)", err=True)
            _say_what_to_check(out_folder)
            return 0
    common = {"overwrite": options["overwrite"], "quiet": options["quiet"], "lock": False, "strip_metadata": options["strip_metadata"],
              "copy_unchanged": options["copy_unchanged"]}
    if options["ray_address"]:
        from editor.ray_batch import run_ray_batch

        address = None if options["ray_address"] == "local" else options["ray_address"]
        log.info("on Ray (%s): one model per actor", address or "this machine, or the cluster RAY_ADDRESS names")
        summary = run_ray_batch(inputs, out_folder, functools.partial(make_processor, options), address=address,
                                actors=options["ray_actors"], batch_size=options["batch_size"], settings=settings, **common)
        return _finish_batch(summary, out_folder)
    editor = _load(options)
    _say_what_runs(editor, options)
    summary = run_batch(editor, inputs, out_folder, functools.partial(process_photos, editor, options), batch_size=options["batch_size"],
                        settings=settings, **common)
    return _finish_batch(summary, out_folder)


def _finish_batch(summary, out_folder: Path) -> int:
    """The summary line, OUT/summary.json (this run, and every photo of the folder still to review), and the exit code."""
    click.echo(summary.line(), err=True)
    pending = to_check(out_folder / "report.jsonl")  # the whole folder's, earlier runs' included: read once
    write_json({**summary.as_dict(), "to_check": pending}, out_folder / SUMMARY_NAME)
    _say_what_to_check(out_folder, pending)
    return 0 if summary.ok else 1


def _say_what_to_check(out_folder: Path, pending: list[str] | None = None, shown: int = 10) -> None:
    """Name the photos whose target still seems present, so a person reviews only those."""
    pending = to_check(out_folder / "report.jsonl") if pending is None else pending
    if pending:
        click.echo(f"to check ({len(pending)}: the target may still be there; all listed in {out_folder / SUMMARY_NAME}):", err=True)
        for path in pending[:shown]:
            click.echo(f"  {path}", err=True)
        if len(pending) > shown:
            click.echo(f"  ... and {len(pending) - shown} more", err=True)


def _check_arguments(options: dict) -> None:
    """What can be refused without looking at any photo: numbers in range, a device that is here."""
    resolve_device(options["device"])
    if options["ray_actors"] and not options["ray_address"]:
        raise UnwantError("--ray-actors is for a batch on Ray: add --ray")
    for extra in ("save_attention", "save_mask", "report"):
        if options[extra]:
            check_output_location(options[extra])


def run(inputs: list[Path], options: dict) -> int:
    """Dispatch: no input -> generation; one file -> one edit; folders or several files -> batch."""
    _check_arguments(options)
    if not inputs:
        if not options["prompt"]:
            raise UnwantError("nothing to do: give a photo (edit photo.jpg --remove X) or a prompt (edit --prompt TEXT)")
        if options["reconstruct"]:
            raise UnwantError("--reconstruct needs a photo")
        return _generate(options)
    if not options["reconstruct"] and not options["targets"]:
        raise UnwantError("what should go? pass --remove TARGET (or --reconstruct to check the inversion)")
    if options["negative_prompt"] is not None and not options["reconstruct"]:
        raise UnwantError("--negative-prompt is for generation and --reconstruct: a removal suppresses the target itself "
                          "and reads no negative prompt")
    if len(inputs) == 1 and not inputs[0].is_dir():
        if not inputs[0].exists():
            raise UnwantError(f"{inputs[0]}: no such file")
        if options["ray_address"]:
            raise UnwantError("--ray spreads a batch over a cluster: give a folder or several photos")
        return _single(inputs[0], options)
    return _batch(inputs, options)
