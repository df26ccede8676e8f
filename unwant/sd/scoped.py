"""Changes to the caller's process that last only as long as our call (a library does not keep them), and whether
another process still runs."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    """Environment variables set for the time of the block, then as they were."""
    before = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def signal_handler(signum: int, handler: Callable) -> Iterator[None]:
    """A signal handler for the time of the block, then the one before it."""
    before = signal.signal(signum, handler)
    try:
        yield
    finally:
        signal.signal(signum, before)


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs (another user's counts; this one does)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
