"""Folders in, folders out: every photo checked, edited where the target is, subfolders mirrored, a JSON line per file,
resumable."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from editor.photos.photo_io import find_images
from editor.dataset.sanitize import Outcome
from editor.dataset.report import append_jsonl, drop_partial_line, record
from editor.photos.writing import copy_file, remove_stale_temporaries, write_image
from unwant.sd.errors import UnwantError

REPORT_NAME = "report.jsonl"
SUMMARY_NAME = "summary.json"
# every status a report line can carry, with the word the summary line uses for it
STATUS_LABELS = {"ok": "ok", "check": "check", "absent": "absent", "not-found": "not found", "skipped": "skipped", "error": "failed"}
LOCK_NAME = ".unwant.lock"
TO_CHECK = ("check", "not-found")  # statuses a person should look at: the target may still be there
WITHOUT_OUTPUT = ("absent", "not-found")  # statuses done with nothing written in the output folder (unless copied)



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


@dataclass
class BatchSummary:
    """What one run did: files per status, seconds per photo worked on, the photos a person should look at."""

    counts: Counter = field(default_factory=Counter)  # status -> files
    seconds: list[float] = field(default_factory=list)  # per file edited or checked, for p50 / p95
    to_check: list[str] = field(default_factory=list)  # outputs whose target still seems present
    interrupted: bool = False
    done_earlier: int = 0  # photos an earlier run finished, when this run found nothing left to do (the model never loaded)
    folder_to_check: list[str] = field(default_factory=list)  # every output of the folder to look at, earlier runs' too

    def add(self, entry: dict) -> None:
        self.counts[entry["status"]] += 1
        if entry["status"] != "skipped" and entry.get("seconds_total") is not None:
            self.seconds.append(entry["seconds_total"])
        if entry["status"] in TO_CHECK:
            self.to_check.append(entry["output"] or entry["input"])

    @property
    def ok(self) -> bool:
        return self.counts["error"] == 0 and not self.interrupted

    def line(self) -> str:
        """One line: the count of every status, then seconds per photo."""
        counts = ", ".join(f"{label} {self.counts[status]}" for status, label in STATUS_LABELS.items())
        if self.seconds:
            p50, p95 = np.percentile(self.seconds, [50, 95])
            counts += f"; seconds per photo p50 {p50:.1f}, p95 {p95:.1f}"
        tail = " (interrupted: rerun the same command to resume)" if self.interrupted else ""
        return counts + tail

    def as_dict(self) -> dict:
        p50, p95 = np.percentile(self.seconds, [50, 95]).round(3).tolist() if self.seconds else (None, None)
        return {"counts": {status: self.counts[status] for status in STATUS_LABELS}, "seconds_p50": p50, "seconds_p95": p95,
                "to_check": self.to_check, "interrupted": self.interrupted}


class StopAfterCurrent:
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
    """The mirrored output path of an edited photo: same subfolders, same stem, PNG (lossless, keeps alpha)."""
    return out_folder / relative.with_suffix(".png")


def copy_for(relative: Path, out_folder: Path) -> Path:
    """The mirrored path of a photo left as it was: its own name, so the bytes and the extension agree."""
    return out_folder / relative


def photo_key(relative: Path) -> str:
    """One photo, one key: its path inside the dataset (however the input folder was spelled on the command line)."""
    return relative.as_posix()


def latest_entries(report: Path) -> dict[str, dict]:
    """Each photo's last report line that did something (not "skipped"), by its key (older reports: by input path)."""
    latest: dict[str, dict] = {}
    if report.exists():
        for line in report.read_text(encoding="utf-8", errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if entry.get("status") != "skipped":
                    latest[entry.get("key") or entry.get("input")] = entry
    return latest


def to_check(report: Path) -> list[str]:
    """What a person should look at: the outputs whose target still seems present, and the inputs whose target the
    removal could not locate (nothing was written for them)."""
    return [entry["output"] or entry["input"] for entry in latest_entries(report).values() if entry.get("status") in TO_CHECK]


def already_done(source: Path, relative: Path, out_folder: Path, latest: dict[str, dict]) -> bool:
    """An earlier run finished this photo: its report line says so (found absent, or edited or copied), and the file
    it wrote is there. An output without a line was written by a run killed before its line: not done."""
    entry = latest.get(photo_key(relative)) or latest.get(str(source))
    if entry is None or entry["status"] not in ("ok", *TO_CHECK, *WITHOUT_OUTPUT):
        return False
    return entry["status"] in WITHOUT_OUTPUT or _output_exists(relative, out_folder)


def left_by_a_killed_run(relative: Path, out_folder: Path, latest: dict[str, dict]) -> bool:
    """This photo's output exists but no report line says it is done, in a folder an earlier batch wrote (it has a
    report): a run killed between writing the file and its line. It is redone over that file."""
    return bool(latest or (out_folder / REPORT_NAME).exists()) and _output_exists(relative, out_folder)


def check_settings(out_folder: Path, settings: dict | None, overwrite: bool) -> None:
    """A folder's photos are made with one set of settings (target, caption, preset, model, thresholds...), which
    each report line records: a rerun with others is refused in one line, or with `overwrite` redoes every photo."""
    if settings is None or overwrite:
        return
    settings = json.loads(json.dumps(settings))  # as they read back: tuples become lists
    for entry in latest_entries(out_folder / REPORT_NAME).values():
        before = entry.get("settings")
        if before is not None and before != settings:
            changed = [key for key in sorted(set(before) | set(settings)) if before.get(key) != settings.get(key)]
            said = ", ".join(f"{key} {before.get(key)!r} (now {settings.get(key)!r})" for key in changed)
            raise UnwantError(f"{out_folder}: its photos were made with {said}; choose another -o folder, or pass --overwrite "
                              "to redo every photo with the new settings")


# one batch's step: outcomes for several photos, one per photo in order; an exception in place of a photo's outcome is
# that photo's failure (a file that will not read), the others go on
Process = Callable[[list[Path]], list[Outcome | Exception]]


def process_files(editor, files: list[tuple[Path, Path]], out_folder: Path, process: Process, *, overwrite: bool = False,
                  copy_unchanged: bool = True, strip_metadata: bool = False) -> list[dict]:
    """Process photos (several share the model's batches) and write each one's output: the edit, or (no target found)
    a byte-for-byte copy; returns their report lines. Any failure becomes that photo's "error" line: one bad file never
    stops the others.

    `overwrite`: replace what is at the outputs; a batch passes True for the files it chose because they were not done
    (`pending_files`), since anything there was written by a killed attempt at the same photo."""
    started = time.perf_counter()
    try:
        outcomes = process([source for source, _ in files])
    except Exception as error:  # the model failed on the batch as a whole: every photo of it says so
        outcomes = [error] * len(files)
    seconds = (time.perf_counter() - started) / len(files)
    entries = []
    for (source, relative), outcome in zip(files, outcomes):
        started = time.perf_counter()
        entry = _write_outcome(editor, source, relative, out_folder, outcome, overwrite, copy_unchanged, strip_metadata)
        entry["key"] = photo_key(relative)
        entry["seconds_total"] = round(seconds + time.perf_counter() - started, 3)
        entries.append(entry)
    return entries


def _write_outcome(editor, source: Path, relative: Path, out_folder: Path, outcome, overwrite: bool, copy_unchanged: bool,
                   strip_metadata: bool) -> dict:
    """Write one photo's output and return its report line; its failure, here or before, as an "error" line."""
    try:
        if isinstance(outcome, Exception):
            raise outcome
        if outcome.status == "not-found":
            return record(source, None, editor, status="not-found", message=f"{source}: the removal could not locate the target; "
                          "nothing written (a caption, or a lower --mask-threshold, may find it)") | _checks(outcome)
        if outcome.result is None:
            target = copy_file(source, copy_for(relative, out_folder), overwrite, strip_metadata) if copy_unchanged else None
        else:
            target = write_image(outcome.result.image, output_for(relative, out_folder), overwrite=overwrite, inputs=[source],
                                 strip_metadata=strip_metadata)
        caption = {"caption_from": outcome.caption_from} if outcome.caption_from else {}  # the prompt was the photo's own
        return record(source, target, editor, outcome.result, status=outcome.status, message=outcome.why) | _checks(outcome) | caption
    except UnwantError as error:
        return record(source, None, editor, status="error", message=str(error))
    except Exception as error:  # a model failure on one photo must not stop the dataset
        return record(source, None, editor, status="error", message=f"{source}: {error.__class__.__name__}: {error}")


def _checks(outcome) -> dict:
    """The presence scores of a photo's report line, where they were measured."""
    if not (outcome.presence or outcome.residual):
        return {}
    return {"presence": outcome.presence or None, "residual": outcome.residual or None, "threshold": outcome.threshold,
            "check_seconds": round(outcome.seconds, 3)}


def pending_files(editor, files: list[tuple[Path, Path]], out_folder: Path, overwrite: bool) -> tuple[list[tuple[Path, Path]], list[dict]]:
    """Clean what killed runs left, then split the files: those to process, and a "skipped" line for each one done.

    A photo whose output is there but not its report line is to process (a run killed between the two); an output
    the folder's report knows nothing of, in a folder no batch wrote, is someone else's file: that photo fails in its
    own line unless `overwrite`. Call it holding the folder's lock: it deletes stale temporaries and cuts a
    half-written report line."""
    report = out_folder / REPORT_NAME
    remove_stale_temporaries(out_folder)
    drop_partial_line(report)
    latest = latest_entries(report)
    todo, skipped = [], []
    for source, relative in files:
        if not overwrite and already_done(source, relative, out_folder, latest):
            skipped.append(record(source, None, editor, status="skipped", message="done by an earlier run (use --overwrite to redo)")
                           | {"key": photo_key(relative)})
        elif not overwrite and not left_by_a_killed_run(relative, out_folder, latest) and _output_exists(relative, out_folder):
            skipped.append(record(source, None, editor, status="error", message=f"{output_for(relative, out_folder)}: exists and no "
                                  "unwant batch wrote it; pass --overwrite to replace it, or choose another -o folder") | {"key": photo_key(relative)})
        else:
            todo.append((source, relative))
    return todo, skipped


def _output_exists(relative: Path, out_folder: Path) -> bool:
    """The photo's edit or its copy is in the output folder."""
    return output_for(relative, out_folder).exists() or copy_for(relative, out_folder).exists()


@dataclass
class OpenBatch:
    """A batch run under way: the files left to do, where their lines go, the counts so far, Ctrl-C's flag."""

    todo: list[tuple[Path, Path]]
    report: Path
    summary: BatchSummary
    stop: StopAfterCurrent
    settings: dict | None = None  # what the photos are made with, in every line

    def log(self, entry: dict) -> None:
        """Append a file's line to the report, count it, and say a failure as it happens."""
        if self.settings is not None:
            entry = {**entry, "settings": self.settings}
        append_jsonl(entry, self.report)
        self.summary.add(entry)
        if entry["status"] == "error":
            tqdm.write(f"error: {entry['message']}", file=sys.stderr)

    def stopping(self) -> bool:
        """Ctrl-C was pressed: the run ends after the photos under way (and says so in its summary)."""
        self.summary.interrupted |= self.stop.requested
        return self.stop.requested


@contextlib.contextmanager
def open_batch(editor, inputs: list[Path], out_folder: Path, *, overwrite: bool, lock: bool, settings: dict | None = None) -> Iterator[OpenBatch]:
    """What every batch does around its work, locally or on Ray: the folder's lock (`lock=False`: the caller holds it),
    the run's settings against the folder's (`check_settings`), Ctrl-C caught, a killed run's leftovers cleaned, a
    "skipped" line for each photo an earlier run finished."""
    files = find_images(inputs, exclude=out_folder)
    with output_folder_lock(out_folder) if lock else contextlib.nullcontext(), StopAfterCurrent() as stop:
        check_settings(out_folder, settings, overwrite)
        todo, skipped = pending_files(editor, files, out_folder, overwrite)
        run = OpenBatch(todo, out_folder / REPORT_NAME, BatchSummary(), stop, settings)
        for entry in skipped:
            run.log(entry)
        yield run


def run_batch(
    editor,
    inputs: list[Path],
    out_folder: Path,
    process: Process,
    *,
    batch_size: int = 1,
    overwrite: bool = False,
    quiet: bool = False,
    lock: bool = True,
    strip_metadata: bool = False,
    copy_unchanged: bool = True,
    settings: dict | None = None,
) -> BatchSummary:
    """Process every photo under `inputs` into `out_folder`, `batch_size` at a time, one report line each; one bad file
    never stops the others.

    `lock=False`: the caller already holds `output_folder_lock(out_folder)` (the CLI takes it before loading the model).
    `settings`: what the photos are made with; a rerun into the same folder with other settings is refused."""
    with open_batch(editor, inputs, out_folder, overwrite=overwrite, lock=lock, settings=settings) as run, \
            tqdm(total=len(run.todo), desc="photos", unit="photo", disable=quiet) as bar:
        for start in range(0, len(run.todo), batch_size):
            if run.stopping():
                break
            chunk = run.todo[start:start + batch_size]
            for entry in process_files(editor, chunk, out_folder, process, overwrite=True, copy_unchanged=copy_unchanged,
                                       strip_metadata=strip_metadata):
                run.log(entry)
            bar.update(len(chunk))
    return run.summary
