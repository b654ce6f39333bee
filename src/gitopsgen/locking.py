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
    directory: Path,
    wait: float,
    timeout_error: Callable[[], Exception],
    waiting_for: str | None = None,
) -> Iterator[None]:
    """An exclusive lock on ``directory`` (held on the directory itself: files in it
    are replaced by rename, so a lock on a file would not exclude a later reader).
    ``wait_for_flock`` is looked up at call time so tests can observe the wait;
    ``waiting_for`` says on a terminal what a wait waits for."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if waiting_for is not None:
            try:  # free: taken here (taking it again below is a no-op)
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                from gitopsgen.progress import current

                # On a terminal only (gitopsgen.progress): what the wait is for.
                current().note(f"waiting for {waiting_for} (up to {wait:g} s)...")
        wait_for_flock(fd, wait, timeout_error)
        yield
    finally:
        os.close(fd)
