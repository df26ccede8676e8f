"""One photo file in, one image file out (and the mask, attention figure and report asked for): what `edit photo.jpg
--remove X` and `edit --prompt TEXT` run. Every output is checked before the model loads, and none may replace an
input, another output, or an existing file unasked."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from editor.checks import check_file_name, check_output_location
from editor.dataset.report import record, write_json
from editor.loading import editor_of
from editor.photos.figures import attention_figure, input_mask_result
from editor.photos.photo_io import output_path_for, read_photo
from editor.photos.writing import WRITE_FORMATS, refuse_inputs, remove_stale_temporaries, write_image
from editor.result import EditResult
from editor.settings import EditSettings
from unwant.sd.errors import UnwantError

log = logging.getLogger("unwant")


@dataclass(frozen=True)
class Extras:
    """What an edit writes besides its image, each to its own file (None: not written)."""

    mask: Path | None = None  # the removal mask
    attention: Path | None = None  # the targets' attention, original | suppressed branch
    report: Path | None = None  # what was done, as JSON

    def __post_init__(self):
        for name in ("mask", "attention", "report"):
            value = getattr(self, name)
            object.__setattr__(self, name, None if value is None else Path(value))


def edit_file(model, source: str | os.PathLike, output: str | os.PathLike | None = None, settings: EditSettings | None = None, *,
              extras: Extras = Extras(), overwrite: bool = False, progress: bool = True) -> tuple[EditResult, Path]:
    """Edit the photo at `source` as `settings` say (remove, or reconstruct), and write it to `output` (default:
    <stem>.edited.png beside it; a folder: that name inside it), keeping the photo's metadata unless told not to.

    `model`: an `Editor`, or a `ModelSpec` (or a model name) loaded after the photo and the outputs pass their checks.
    Returns the result and where it went."""
    settings = settings or EditSettings()
    source = Path(source)
    if not source.exists():
        raise UnwantError(f"{source}: no such file")
    photo = read_photo(source, settings.max_megapixels)  # a bad input fails before the model loads
    output = Path(output) if output is not None else output_path_for(source)
    check_file_name(output)
    if output.is_dir():
        output = output / output_path_for(source).name
    check_outputs(output, extras, [source], overwrite)
    if output.parent.is_dir():
        remove_stale_temporaries(output.parent, output.name, recursive=False)  # a killed edit of the same output
    editor = editor_of(model)
    settings.say_what_runs(editor)
    result = settings.edit(editor, photo, progress)
    if result.absent:
        raise UnwantError(absent_line(editor, result, source))
    if result.found is False:
        raise UnwantError(f"could not find {' or '.join(repr(t) for t in settings.remove)} in {source}; try --prompt with a caption, "
                          "or a lower --mask-threshold")
    _write_extras(result, extras, [source], overwrite)
    image = input_mask_result(photo.rgb, result) if settings.concat else result.image
    write_image(image, output, overwrite, inputs=[source], strip_metadata=settings.strip_metadata)
    if extras.report:
        write_json(record(source, output, editor, result), extras.report)
    return result, output


def absent_line(editor, result: EditResult, source) -> str:
    """Why a photo was left alone: a word the model does not know, or each target's presence score."""
    unknown = list(dict.fromkeys(word for target in result.presence for word in editor.checks.unknown_words(target)))
    if unknown:
        names = editor.checks.vocabulary
        reason = (f"this model does not know {' or '.join(repr(w) for w in unknown)} (it knows {', '.join(names[:6])}"
                  f"{', ...' if len(names) > 6 else ''})")
    else:
        scores = ", ".join(f"{target!r} {check.score:.2f}" for target, check in result.presence.items())
        reason = f"the target seems absent (presence {scores}; present above {next(iter(result.presence.values())).threshold:.2f})"
    return f"{source} left as it is: {reason}; --edit-all edits it anyway"


def generate_file(model, prompt: str, output: str | os.PathLike = "generated.png", *, remove: list[str] | None = None,
                  extras: Extras = Extras(), overwrite: bool = False, progress: bool = True, **options) -> tuple[EditResult, Path]:
    """`Editor.generate(prompt, remove=..., **options)` written to `output`, with the extras asked for."""
    output = Path(output)
    check_outputs(output, extras, [], overwrite)
    editor = editor_of(model)
    result = editor.generate(prompt, remove=remove or None, progress=progress, **options)
    _write_extras(result, extras, [], overwrite)
    write_image(result.image, output, overwrite)
    if extras.report:
        write_json(record(None, output, editor, result), extras.report)
    return result, output


def check_writable(path: Path, inputs: list[Path], overwrite: bool) -> None:
    """An image output that is a file name we can write, no input, and not an existing file unasked."""
    check_file_name(path)
    if path.suffix.lower() not in WRITE_FORMATS:
        raise UnwantError(f"{path}: unknown output format; use one of {', '.join(sorted(WRITE_FORMATS))}")
    refuse_inputs(path, inputs)  # however it is spelled: links, '..', a hard link
    if path.exists() and not overwrite:
        raise UnwantError(f"{path}: exists; pass --overwrite to replace it")
    check_output_location(path)


def check_outputs(output: Path, extras: Extras, inputs: list[Path], overwrite: bool) -> None:
    """Every file this edit will write, checked before the model loads: the image, the mask, the attention figure and
    the report, none onto an input, onto another of them, or over an existing file unasked."""
    check_writable(output, inputs, overwrite)
    written = [output]
    for path in (extras.mask, extras.attention):
        if path is None:
            continue
        check_writable(path, inputs, overwrite)
        if any(path.resolve() == other.resolve() for other in written):
            raise UnwantError(f"{path}: is also where another output of this edit goes; give each its own file")
        written.append(path)
    _check_report(extras.report, inputs, written, overwrite)


def _check_report(path: Path | None, inputs: list[Path], outputs: list[Path], overwrite: bool) -> None:
    """A report that would replace an input, an output of this edit, an existing file unasked, or is a folder: refused."""
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


def _write_extras(result: EditResult, extras: Extras, inputs: list[Path], overwrite: bool) -> None:
    if extras.attention:
        if result.attention is None:
            raise UnwantError("--save-attention needs something to remove: pass --remove or a prompt with 'without X'")
        write_image(attention_figure(result.attention, result.suppressed_attention), extras.attention, overwrite, inputs)
    if extras.mask:
        if result.mask is None:
            raise UnwantError("--save-mask needs a photo and --remove")
        write_image(result.mask, extras.mask, overwrite, inputs)
