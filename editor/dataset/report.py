"""The audit record of one edit: what was done to which file, by which model, and what it cost."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
from pathlib import Path

from editor.result import EditResult
from unwant.sd.errors import UnwantError


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record(
    input_path: Path | None, output_path: Path | None, editor, result: EditResult | None = None, status: str = "ok", message: str | None = None
) -> dict:
    """One JSON-ready dict: input and its sha256, targets, prompt, model, device, dtype, seed, inversion, steps,
    mask area fraction, seconds per stage, output, status (ok / skipped / error) and the error message."""
    entry: dict = {
        "input": str(input_path) if input_path else None,
        "sha256": sha256_of(input_path) if input_path and input_path.is_file() else None,
        "output": str(output_path) if output_path else None,
        "status": status,
        "model": editor.model if editor else None,
        "device": str(editor.device) if editor else None,
        "dtype": str(editor.pipe.unet.dtype).removeprefix("torch.") if editor else None,
    }
    if result is not None:
        entry |= {
            "targets": result.targets,
            "prompt": result.prompt,
            "seed": result.seed,
            "inversion": result.inversion,
            "steps": result.steps,
            "guidance": result.guidance,
            "mask_fraction": result.mask_fraction,
            "instances": result.instances,
            "seconds": {k: round(v, 3) for k, v in result.timings.items()},
            "unet_forwards": result.unet_calls.forwards,
            "psnr": result.psnr,
        }
    if message:
        entry["message"] = message
    return entry


def strict_json(value):
    """`value` with every NaN or infinity (which JSON has no word for) as None, so any JSON reader takes the report."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: strict_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(item) for item in value]
    return value


def write_json(entry: dict, path: Path) -> None:
    """Write one record as a JSON file, atomically; a failure leaves no temporary file and says why in one line."""
    path = Path(path)
    if path.is_dir():
        raise UnwantError(f"{path}: is a folder; give the report a file name such as report.json")
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(json.dumps(strict_json(entry), indent=2, allow_nan=False) + "\n")
        os.replace(tmp, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise UnwantError(f"{path}: could not write the report ({(error.strerror or type(error).__name__).lower()}); "
                          "check disk space and permissions") from None


def append_jsonl(entry: dict, path: Path) -> None:
    """Append one record as a line in a single write, flushed to disk: a kill at any moment leaves whole lines."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(fd, (json.dumps(strict_json(entry), allow_nan=False) + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def drop_partial_line(path: Path) -> None:
    """Cut a last line that has no newline (a power cut between write and flush), so every line parses."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)
