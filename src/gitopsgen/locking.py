"""Advisory locks on directories (flock), shared by build and the tenants.yaml editor."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["directory_lock", "wait_for_flock"]


def wait_for_flock(fd: int, wait: float, timeout_error: Callable[[], Exception]) -> None:
    """Take an exclusive flock on ``fd``, polling for up to ``wait`` seconds; raise
    ``timeout_error()`` when another process still holds it."""
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise timeout_error() from None
            time.sleep(0.05)


@contextlib.contextmanager
def directory_lock(
    directory: Path, wait: float, timeout_error: Callable[[], Exception]
) -> Iterator[None]:
    """An exclusive lock on ``directory`` (held on the directory itself: files in it
    are replaced by rename, so a lock on a file would not exclude a later reader).
    ``wait_for_flock`` is looked up at call time so tests can observe the wait."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        wait_for_flock(fd, wait, timeout_error)
        yield
    finally:
        os.close(fd)
