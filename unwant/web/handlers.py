"""What the page's buttons do: the Editor's calls with the page's fields, and the files the page offers for download.

No web framework here: these take and return plain values, so the same code serves the page, its API and the tests.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from editor import Editor
from editor.files import absent_line
from editor.photos.figures import attention_figure
from editor.settings import EditSettings
from editor.photos.photo_io import photo_from_any
from editor.photos.writing import write_image
from unwant.sd.errors import UnwantError

PRESET_INVERSION = "the preset's"  # the inversion field's first choice: what the chosen preset runs
MAX_PAGE_STEPS = 150  # what a person waits for on a page shared by a queue (50 is the default; the CLI allows 1000)


@dataclass
class RemovalOutput:
    photo: Image.Image  # the upload as the model reads it: upright, RGB
    mask: Image.Image  # where the object was, white
    result: Image.Image
    attention: Image.Image  # the target's cross-attention, original branch (| suppressed branch when it ran)
    download: Path  # the result as PNG, with the upload's metadata


@dataclass
class GenerationOutput:
    image: Image.Image
    download: Path
    seed: int


def parse_targets(text: str | None) -> list[str]:
    """"glasses, hat" -> ["glasses", "hat"]: commas (or semicolons) separate the objects to remove."""
    return [part.strip() for part in re.split(r"[,;]", text or "") if part.strip()]


def _page_steps(steps) -> int | None:
    """The steps field: empty is the default; more than MAX_PAGE_STEPS is refused (one person's edit holds the queue)."""
    if steps in (None, ""):
        return None
    if int(steps) > MAX_PAGE_STEPS:
        raise UnwantError(f"at most {MAX_PAGE_STEPS} steps on the page (50 is the default); the command line takes more")
    return int(steps)


RESULTS_KEPT_FOR = 3600.0  # seconds a request's files stay downloadable; older ones go at the next request


def _work_folder(root: Path) -> Path:
    """A fresh folder per request: two people downloading at once never get each other's files; earlier requests'
    folders older than RESULTS_KEPT_FOR go, so a long-running page does not fill the disk."""
    root.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for folder in root.iterdir():
        with contextlib.suppress(OSError):
            if folder.is_dir() and now - folder.stat().st_mtime > RESULTS_KEPT_FOR:
                shutil.rmtree(folder, ignore_errors=True)
    return Path(tempfile.mkdtemp(dir=root))


def remove_in_page(editor: Editor, photo: str | None, targets: str, caption: str | None, preset: str, *, root: Path,
                   max_megapixels: float = 50.0,
                   seed: int | None = None, steps: int | None = None, mask_threshold: float | None = None, fill: str = "repaint",
                   inversion: str | None = None, name: str | None = None) -> RemovalOutput:
    """Editor.remove on an uploaded file with the page's settings (`EditSettings`, as the command line's); an empty field
    means the default. `name`: what the
    user calls the file (errors and the download say it instead of the server's upload path)."""
    name = name or (Path(photo).name if photo else None)
    if not photo:
        raise UnwantError("no photo yet: drop one on the photo box, paste one, or pick an example below")
    names = parse_targets(targets)
    if not names:
        raise UnwantError("type what to remove in 'Remove' (several: glasses, hat)")
    try:
        source = photo_from_any(photo, max_megapixels)  # one clear line for a file that is not a photo, or is too large
    except UnwantError as error:  # named as the user knows it, not by the server's upload folder; the limit is the server's
        said = str(error).replace(str(photo), name).replace("pass --max-megapixels", "ask whoever runs the page to start it with "
                                                             "unwant serve --max-megapixels")
        raise UnwantError(said) from None
    settings = EditSettings(remove=tuple(names), prompt=(caption or "").strip() or None, seed=None if seed in (None, "") else int(seed),
                            preset=preset, inversion=None if inversion in (None, "", PRESET_INVERSION) else inversion,
                            steps=_page_steps(steps), fill=fill, mask_threshold=None if mask_threshold is None else float(mask_threshold),
                            max_megapixels=max_megapixels)  # what the command line checks, checked the same way
    result = settings.edit(editor, source, progress=True)
    if result.absent:  # the page has no --edit-all: the command line does it
        raise UnwantError(absent_line(editor, result, name).replace("--edit-all", "the command line's --edit-all"))
    if result.found is False:
        raise UnwantError(f"could not find {' or '.join(repr(t) for t in names)} in {name}; give a caption, or a lower mask threshold")
    download = write_image(result.image, _work_folder(root) / f"{Path(name).stem}.edited.png")
    attention = attention_figure(np.asarray(result.attention), None if result.suppressed_attention is None else np.asarray(result.suppressed_attention))
    return RemovalOutput(source.rgb, result.mask.convert("RGB"), result.image, attention, download)


def generate_in_page(editor: Editor, prompt: str, *, root: Path, seed: int | None = None, steps: int | None = None) -> GenerationOutput:
    """Editor.generate: the objects the prompt negates ("a cat without a collar") are suppressed."""
    if not (prompt or "").strip():
        raise UnwantError("type a prompt, such as 'a red circle without a blue square'")
    result = editor.generate(prompt.strip(), seed=None if seed in (None, "") else int(seed), steps=_page_steps(steps) or 50, progress=True)
    download = write_image(result.image, _work_folder(root) / f"generated-{result.seed}.png")
    return GenerationOutput(result.image, download, result.seed)
