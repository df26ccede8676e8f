"""Folders in, folders out: every photo edited once, subfolders mirrored, a JSON line per file, resumable."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from editor.photo_io import find_images
from editor.report import append_jsonl, drop_partial_line, record
from editor.result import EditResult
from editor.writing import write_image
from sd.errors import UnwantError

REPORT_NAME = "report.jsonl"
LOCK_NAME = ".unwant.lock"
STALE_AFTER = 60.0  # seconds: an atomic write's temporary file lives for the time one image takes to encode
# what writing.py's atomic writes leave behind when killed: ".<output name>.<random>.tmp"
STALE_TEMP = re.compile(r"^\..+\.(png|jpe?g|webp|bmp|tiff?)\.[A-Za-z0-9_]+\.tmp$", re.IGNORECASE)


@contextlib.contextmanager
def output_folder_lock(out_folder: Path) -> Iterator[None]:
    """One batch per output folder: an OS lock (released even if the process is killed) on OUT/.unwant.lock."""
    out_folder.mkdir(parents=True, exist_ok=True)
    path = out_folder / LOCK_NAME
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise UnwantError(f"{out_folder}: another unwant batch ({holder}) is writing there; wait for it to finish or choose another -o folder") from None
        with contextlib.suppress(FileNotFoundError):
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                break  # the file we locked is still the lock file (a finishing run may have just removed it)
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                path.unlink()  # ours while we hold it; a killed run leaves it, unlocked, and the next run reuses it
    finally:
        os.close(fd)


def remove_stale_temporaries(out_folder: Path, older_than: float = STALE_AFTER) -> int:
    """Delete the temporary files killed runs left: only ours, only while we hold the folder's lock, and only those
    untouched for `older_than` seconds (a single-photo edit writing into the same folder may be mid-write)."""
    removed = 0
    now = time.time()
    for path in out_folder.rglob(".*.tmp"):
        if path.is_file() and STALE_TEMP.match(path.name) and now - path.stat().st_mtime > older_than:
            with contextlib.suppress(OSError):
                path.unlink()
                removed += 1
    return removed


@dataclass
class BatchSummary:
    done: int = 0
    skipped: int = 0
    failed: int = 0
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return self.failed == 0 and not self.interrupted

    def line(self) -> str:
        tail = " (interrupted: rerun the same command to resume)" if self.interrupted else ""
        return f"done {self.done}, skipped {self.skipped}, failed {self.failed}{tail}"


class _StopAfterCurrent:
    """First Ctrl-C: finish the current file, then stop. Second Ctrl-C: stop now (outputs are atomic anyway)."""

    def __init__(self):
        self.requested = False

    def __enter__(self):
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        tqdm.write("stopping after the current file (Ctrl-C again to stop now)", file=sys.stderr)

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self._previous)


def output_for(relative: Path, out_folder: Path) -> Path:
    """The mirrored output path: same subfolders, same stem, PNG (lossless, keeps alpha)."""
    return out_folder / relative.with_suffix(".png")


def run_batch(
    editor,
    inputs: list[Path],
    out_folder: Path,
    edit: Callable[[Path], EditResult],
    *,
    overwrite: bool = False,
    quiet: bool = False,
    lock: bool = True,
    strip_metadata: bool = False,
) -> BatchSummary:
    """Edit every photo under `inputs` into `out_folder`; one bad file never stops the others.

    `lock=False`: the caller already holds `output_folder_lock(out_folder)` (the CLI takes it before loading the model)."""
    files = find_images(inputs, exclude=out_folder)
    report = out_folder / REPORT_NAME
    summary = BatchSummary()
    with output_folder_lock(out_folder) if lock else contextlib.nullcontext(), _StopAfterCurrent() as stop:
        remove_stale_temporaries(out_folder)
        drop_partial_line(report)
        for source, relative in tqdm(files, desc="photos", unit="photo", disable=quiet):
            if stop.requested:
                summary.interrupted = True
                break
            target = output_for(relative, out_folder)
            if target.exists() and not overwrite:
                summary.skipped += 1
                append_jsonl(record(source, target, editor, status="skipped", message="output exists (use --overwrite to redo)"), report)
                continue
            try:
                result = edit(source)
                write_image(result.image, target, overwrite=overwrite, inputs=[source], strip_metadata=strip_metadata)
            except UnwantError as error:
                summary.failed += 1
                append_jsonl(record(source, None, editor, status="error", message=str(error)), report)
                tqdm.write(f"error: {error}", file=sys.stderr)
                continue
            except Exception as error:  # a model failure on one photo must not stop the dataset
                summary.failed += 1
                message = f"{source}: {error.__class__.__name__}: {error}"
                append_jsonl(record(source, None, editor, status="error", message=message), report)
                tqdm.write(f"error: {message}", file=sys.stderr)
                continue
            summary.done += 1
            append_jsonl(record(source, target, editor, result), report)
    return summary
