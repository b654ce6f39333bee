"""Advisory locks on directories (flock), shared by build and the tenants.yaml editor."""

from __future__ import annotations

import fcntl
import time
from collections.abc import Callable

__all__ = ["wait_for_flock"]


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
