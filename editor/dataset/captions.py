"""The captions a dataset already has, one per photo: a .txt beside each image (as training sets keep them), or one file
in the photo's folder that pairs file names with captions (captions.json, metadata.jsonl as Hugging Face's imagefolder
reads it, or captions.csv). A caption names what is in the photo, so the removal's mask finds the target more surely
than from its name alone (README, "Which object")."""

from __future__ import annotations

import csv
import json
from functools import lru_cache
from pathlib import Path

from unwant.sd.errors import UnwantError

FOLDER_FILES = ("captions.json", "metadata.jsonl", "captions.jsonl", "captions.csv")
NAME_KEYS = ("file_name", "file", "image", "filename", "path")  # the column or key that names the image
TEXT_KEYS = ("caption", "text", "prompt")  # the one that holds its caption


def caption_for(photo: Path) -> tuple[str | None, Path | None]:
    """The photo's own caption and the file it came from, or (None, None): its .txt first, then its folder's file."""
    sidecar = photo.with_suffix(".txt")
    if sidecar.is_file():
        text = sidecar.read_text(encoding="utf-8", errors="replace").strip()
        if text:
            return text, sidecar
    for name in FOLDER_FILES:
        listing = photo.parent / name
        if listing.is_file():
            text = folder_captions(listing, listing.stat().st_mtime_ns).get(photo.name)
            if text:
                return text, listing
    return None, None


@lru_cache(maxsize=32)
def folder_captions(listing: Path, modified: int) -> dict[str, str]:
    """File name -> caption from one folder file (`modified` keys the cache: an edited file is read again)."""
    try:
        if listing.suffix == ".json":
            data = json.loads(listing.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("expected an object of file name: caption")
            return {Path(str(k)).name: str(v).strip() for k, v in data.items()}
        if listing.suffix == ".jsonl":
            rows = [json.loads(line) for line in listing.read_text(encoding="utf-8").splitlines() if line.strip()]
        else:
            with listing.open(newline="", encoding="utf-8") as file:
                rows = list(csv.DictReader(file))
        return dict(_pair(row) for row in rows)
    except (ValueError, KeyError, TypeError, csv.Error) as error:
        raise UnwantError(f"{listing}: cannot read its captions ({error}); each entry needs a file name "
                          f"({' or '.join(NAME_KEYS)}) and a caption ({' or '.join(TEXT_KEYS)})") from None


def _pair(row: dict) -> tuple[str, str]:
    name = next((row[k] for k in NAME_KEYS if row.get(k)), None)
    if name is None:
        raise KeyError(f"an entry names no file: {row!r}")
    text = next((row[k] for k in TEXT_KEYS if row.get(k) is not None), None)
    if text is None:
        raise KeyError(f"no caption for {name!r}")
    return Path(str(name)).name, str(text).strip()
