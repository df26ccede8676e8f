"""Arguments checked before any work: one line each, saying what is wrong and what would do."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from unwant.sd.errors import UnwantError, check_number

SEED_RANGE = (0, 2**64 - 1)  # what torch.Generator.manual_seed takes


MAX_STEPS = 1000  # Stable Diffusion's training timesteps: DDIM cannot take more steps than there are


def check_steps(steps: int | None, name: str = "steps") -> None:
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS):
        raise UnwantError(f"{name} must be a whole number from 1 to {MAX_STEPS}, not {steps!r}")


GUIDANCE_RANGE = (0.0, 50.0)  # classifier-free guidance: 1 is none, 7.5 SD's usual; far beyond 30 the latents blow up
MEGAPIXELS_RANGE = (0.001, 1000.0)  # --max-megapixels: a 1000-megapixel photo needs some 12 GB just to read


def check_guidance(guidance: float | None) -> None:
    if guidance is None:
        return
    check_number(guidance, "guidance", *GUIDANCE_RANGE, usual="7.5 is usual")


MASK_THRESHOLD_RANGE = (0.0, 1.0)  # of the attention's maximum, above 0: at 0 every pixel is the object


def check_mask_threshold(threshold: float) -> None:
    check_number(threshold, "mask threshold", *MASK_THRESHOLD_RANGE, low_open=True, usual="a fraction of the attention's maximum; 0.1 by default")


def check_megapixels(limit: float | None) -> None:
    if limit is not None:
        check_number(limit, "max megapixels", *MEGAPIXELS_RANGE, usual="50 by default")


def check_text(value, name: str, *, empty: bool = False) -> None:
    """A string with words in it (or None); a blank one only with `empty`."""
    if value is None:
        return
    if not isinstance(value, str):
        raise UnwantError(f"{name} must be text, not a {type(value).__name__} ({value!r})")
    if not empty and not value.strip():
        raise UnwantError(f"{name} is empty: give it words, e.g. 'glasses'")


def check_fill(fill: str) -> None:
    from editor.removal.fill import FILLS

    if fill not in FILLS:
        raise UnwantError(f"fill must be one of {', '.join(FILLS)}, not {fill!r}")


def check_seed(seed: int | None) -> None:
    low, high = SEED_RANGE
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not low <= seed <= high):
        raise UnwantError(f"seed must be a whole number from {low} to {high}, not {seed!r}")


NAME_MAX = 255  # bytes in one file name on nearly every disk (ext4, APFS, NTFS in UTF-16 units)


def check_file_name(path: str | os.PathLike) -> None:
    """A file name the disk can hold."""
    name = os.fsencode(Path(path).name)
    if len(name) > NAME_MAX:
        raise UnwantError(f"{Path(path).name[:40]}...: file name is {len(name)} bytes, over the {NAME_MAX} most disks allow; "
                          "choose a shorter name (-o NAME)")


def check_output_location(path: str | os.PathLike) -> None:
    """The output's folder exists or can be made, and a file can be created in it: tried now, not after the edit."""
    check_file_name(path)
    folder = Path(path).expanduser().absolute().parent
    existing = folder
    try:
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir():
            raise UnwantError(f"{path}: cannot write there, {existing} is a file, not a folder")
        if existing == folder:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".unwant-check-"):
                pass
        elif not os.access(existing, os.W_OK | os.X_OK):
            raise PermissionError
    except OSError as error:
        reason = "permission denied" if isinstance(error, PermissionError) else (error.strerror or type(error).__name__).lower()
        raise UnwantError(f"{path}: cannot create files in {existing} ({reason}); choose another --output") from None
