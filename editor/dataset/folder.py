"""Folders in, folder out, as one Python call: `edit_folder`, what `edit photos/ --remove X -o out/` runs, locally or on Ray."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from editor.checks import check_output_location
from editor.dataset.batch import (REPORT_NAME, SUMMARY_NAME, BatchSummary, already_done, check_settings, latest_entries,
                                  output_folder_lock, run_batch, to_check)
from editor.dataset.report import write_json
from editor.dataset.sanitize import Outcome, sanitize
from editor.loading import ModelSpec, editor_of, spec_of
from editor.dataset.captions import caption_for
from editor.settings import EditSettings
from suppression.tokens import locate_tokens
from editor.photos.figures import input_mask_result
from editor.photos.photo_io import Photo, find_images, read_photo
from editor.photos.writing import WRITE_FORMATS, remove_stale_temporaries
from editor.result import EditResult
from unwant.sd.errors import UnwantError

log = logging.getLogger("unwant")


@dataclass(frozen=True)
class FolderSettings(EditSettings):
    """What every photo of a folder is made with. Each report line records them, and a rerun into the same output folder
    must ask the same (or pass `overwrite`): otherwise one folder would mix two edits."""

    verify: bool = True  # look again in each edited photo: a target still found gives status "check"
    captions: bool = True  # with no prompt, each photo's own caption where the dataset has one (editor/dataset/captions.py)
    batch_size: int = 1  # photos of one size per UNet forward: faster on a GPU with memory to spare, the same pixels

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise UnwantError(f"batch_size must be a whole number of photos, at least 1, not {self.batch_size!r}")


def edit_photos(editor, settings: FolderSettings, sources: list[Path]) -> list[Outcome | Exception]:
    """A batch's step for some photos: read them, look for the targets, remove those there (`batch_size` of them in each
    UNet forward), look again (editor/dataset/sanitize.py). A photo that will not read gets its error in its place."""
    outcomes: list[Outcome | Exception | None] = [None] * len(sources)
    photos: dict[int, Photo] = {}
    for i, source in enumerate(sources):
        try:
            photos[i] = read_photo(source, settings.max_megapixels)
        except UnwantError as error:
            outcomes[i] = error
    if settings.reconstruct:
        done = [Outcome("ok", settings.edit(editor, photo, progress=False)) for photo in photos.values()]
    else:
        def edit(some: list[Photo], targets: list[str], caption: str | None) -> list[EditResult]:  # one progress bar for the batch
            options = settings.removal_options(progress=False) | ({"prompt": caption} if caption else {})
            return editor.remove_batch(some, targets, batch_size=settings.batch_size, **options)

        captions = {i: own_caption(editor, sources[i], settings) for i in photos}
        done = sanitize(editor, list(photos.values()), list(settings.remove), edit, check_first=settings.check_first,
                        verify=settings.verify, config=settings.presence_config(), captions=[captions[i][0] for i in photos])
        for i, outcome in zip(photos, done):
            outcome.caption_from = str(captions[i][1]) if captions[i][1] and outcome.result is not None else None
    for i, outcome in zip(photos, done):
        if settings.concat and outcome.result is not None:
            outcome.result.image = input_mask_result(photos[i].rgb, outcome.result)
        outcomes[i] = outcome
    return outcomes


def own_caption(editor, source: Path, settings: FolderSettings) -> tuple[str | None, Path | None]:
    """The photo's own caption from the dataset (editor/dataset/captions.py) and its file, where the batch has no
    --prompt and the caption names every target; else (None, None): the batch's prompt."""
    if settings.prompt is not None or not settings.captions:
        return None, None
    caption, where = caption_for(source)
    if caption is None:
        return None, None
    try:
        locate_tokens(editor.pipe.tokenizer, caption, list(settings.remove))
    except UnwantError:
        log.info("%s: its caption (%s) does not name %s; the batch's prompt is used", source, where, " and ".join(settings.remove))
        return None, None
    return caption, where


def load_and_bind(spec: ModelSpec, settings: FolderSettings) -> tuple[object, Callable[[list[Path]], list[Outcome | Exception]]]:
    """What each Ray actor builds once: its own Editor, and the per-photo step bound to it."""
    editor = spec.load()
    return editor, functools.partial(edit_photos, editor, settings)


def check_output_folder(inputs: Sequence[Path], output: Path) -> list[tuple[Path, Path]]:
    """The photos under `inputs` (source, path inside the dataset), and an output folder that can take them: refused
    in one line before the model loads."""
    if output.suffix.lower() in WRITE_FORMATS:
        raise UnwantError(f"{output}: a folder edit needs an output folder, not a file name")
    files = find_images(list(inputs), exclude=output)  # a bad path or a folder without images fails here
    check_output_location(output / REPORT_NAME)
    return files


def edit_folder(
    model,
    inputs: str | os.PathLike | Sequence[str | os.PathLike],
    output: str | os.PathLike,
    remove: str | Sequence[str] = (),
    *,
    ray: str | None = None,
    ray_actors: int | None = None,
    overwrite: bool = False,
    copy_unchanged: bool = True,
    progress: bool = True,
    **settings,
) -> BatchSummary:
    """Remove `remove` from every photo under `inputs` (folders are walked, subfolders mirrored) into the folder `output`.

    Each photo is checked for each target first; only those that show one are edited, then checked again. Every photo
    gets a line in OUTPUT/report.jsonl (status ok, check, absent, skipped or error: one bad file never stops the others);
    OUTPUT/summary.json has the counts and every photo of the folder a person should look at. A rerun resumes: photos
    done by an earlier run are skipped. Photos without a target are copied as they are (`copy_unchanged`), so the
    output folder holds the whole dataset.

    `model`: an `Editor`, or a `ModelSpec` (or a model name) to load after the cheap checks, only if there is work.
    `ray`: spread the photos over a Ray cluster, one model per actor ("local": start one on this machine; "auto" or
    "ray://host:10001": a running cluster); each actor loads the model's `ModelSpec` (an Editor's own, if one is given).
    `settings`: `FolderSettings`' fields (prompt, preset, fill, check_first, verify, presence_threshold, ...)."""
    job = FolderSettings(remove=remove, **settings)
    spec = spec_of(model)
    inputs = [Path(inputs)] if isinstance(inputs, (str, os.PathLike)) else [Path(path) for path in inputs]
    output = Path(output)
    files = check_output_folder(inputs, output)
    ray_module = _ray_if_asked(ray, ray_actors)
    with output_folder_lock(output):  # from before the model loads: a second batch into the folder is refused at once
        recorded = job.recorded(spec)
        check_settings(output, recorded, overwrite)  # another target into the same folder is refused, not "done"
        if not overwrite and _all_done(files, output):
            remove_stale_temporaries(output)  # what a killed run left, even when nothing is left to do
            return _finish(BatchSummary(done_earlier=len(files)), output)
        common = dict(overwrite=overwrite, quiet=not progress, lock=False, strip_metadata=job.strip_metadata,
                      copy_unchanged=copy_unchanged, settings=recorded, batch_size=job.batch_size)
        if ray_module is not None:
            from editor.dataset.ray_batch import run_ray_batch

            address = None if ray == "local" else ray
            log.info("on Ray (%s): one model per actor", address or "this machine, or the cluster RAY_ADDRESS names")
            summary = run_ray_batch(inputs, output, functools.partial(load_and_bind, spec, job), address=address, actors=ray_actors,
                                    **common)
        else:
            editor = editor_of(model)
            job.say_what_runs(editor)
            summary = run_batch(editor, inputs, output, functools.partial(edit_photos, editor, job), **common)
    return _finish(summary, output)


def _ray_if_asked(ray: str | None, actors: int | None):
    """Ray's module when `ray` asks for it, or one line saying how to install it, before any work."""
    if ray is None:
        if actors:
            raise UnwantError("ray_actors (--ray-actors) is for a batch on Ray: add ray (--ray)")
        return None
    from editor.dataset.ray_batch import import_ray

    return import_ray()


def _all_done(files: list[tuple[Path, Path]], output: Path) -> bool:
    latest = latest_entries(output / REPORT_NAME)
    return all(already_done(source, relative, output, latest) for source, relative in files)


def _finish(summary: BatchSummary, output: Path) -> BatchSummary:
    """OUTPUT/summary.json: this run's counts, and every photo of the folder (earlier runs' too) still to review."""
    summary.folder_to_check = to_check(output / REPORT_NAME)
    write_json({**summary.as_dict(), "to_check": summary.folder_to_check}, output / SUMMARY_NAME)
    return summary

