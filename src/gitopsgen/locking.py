"""Advisory locks on directories (flock), shared by build and the tenants.yaml editor."""

from __future__ import annotations

import fcntl
import time
from collections.abc import Callable

__all__ = ["wait_for_flock"]


def wait_for_flock(
    fd: int,
    wait: float,
    timeout_error: Callable[[], Exception],
    waiting_for: str | None = None,
) -> None:
    """Take an exclusive flock on ``fd``, polling for up to ``wait`` seconds; raise
    ``timeout_error()`` when another process still holds it. When it must wait, the
    progress line (a terminal only) says for what: ``waiting_for``."""
    deadline = time.monotonic() + wait
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise timeout_error() from None
            if not told:
                from gitopsgen.progress import current

                what = waiting_for or "a lock another gitopsgen command holds"
                current().note(f"waiting for {what} (up to {wait:g} s)...")
                told = True
            time.sleep(0.05)
