"""Progress of long work on a terminal: tenants rendered, files written, lock waits.

The CLI turns it on (:func:`reporting`) only when standard error is a terminal and
the command is not ``--quiet``; otherwise every call here is a no-op, so piped and
captured output never changes. The core reports through :func:`current` and never
learns where the text goes (no click here).

A counter is redrawn in place (carriage return, at most ten times a second) and
erased when the work is done; a note (such as what a lock wait waits for) is a
line of its own.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TextIO

__all__ = ["Progress", "current", "reporting"]

_INTERVAL = 0.1  # seconds between redraws


class Progress:
    """Where progress goes; the default one is silent."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self._last = 0.0
        self._width = 0

    @property
    def enabled(self) -> bool:
        return self.stream is not None

    def count(self, what: str, done: int, total: int | None = None) -> None:
        """``what``: ``done`` of ``total`` so far, redrawn in place (throttled)."""
        if self.stream is None:
            return
        now = time.monotonic()
        if now - self._last < _INTERVAL and (total is None or done < total):
            return
        self._last = now
        text = f"{what}: {done:,}" + (f" of {total:,}" if total is not None else "")
        self._draw(text)

    def note(self, message: str) -> None:
        """One line of its own (clears a counter first)."""
        if self.stream is None:
            return
        self.clear()
        self.stream.write(message + "\n")
        self.stream.flush()

    def clear(self) -> None:
        if self.stream is None or not self._width:
            return
        self.stream.write("\r" + " " * self._width + "\r")
        self.stream.flush()
        self._width = 0

    def _draw(self, text: str) -> None:
        assert self.stream is not None
        pad = max(0, self._width - len(text))
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._width = len(text)


_SILENT = Progress()
_current = _SILENT


def current() -> Progress:
    """The progress of this command (silent unless the CLI turned it on)."""
    return _current


@contextlib.contextmanager
def reporting(stream: TextIO | None) -> Iterator[Progress]:
    """Report progress to ``stream`` for the duration (None: stay silent)."""
    global _current
    previous = _current
    _current = Progress(stream) if stream is not None else _SILENT
    try:
        yield _current
    finally:
        _current.clear()
        _current = previous
