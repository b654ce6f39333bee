"""The one error hierarchy of gitopsgen.

Every failure a user can cause is a :class:`GitopsgenError`; the CLI catches it
once, prints it and exits with its ``exit_code``. Anything else is a bug.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One located problem in an input file (line and column are 1-based)."""

    line: int
    column: int
    key_path: str
    message: str
    path: str = "tenants.yaml"

    def format(self) -> str:
        where = f"{self.path}:{self.line}:{self.column}"
        if self.key_path:
            return f"{where}: {self.key_path}: {self.message}"
        return f"{where}: {self.message}"


class GitopsgenError(Exception):
    """Base of every error caused by input, configuration or environment."""

    exit_code = 2

    def lines(self) -> list[str]:
        return [str(self)]


class ConfigError(GitopsgenError):
    """tenants.yaml is invalid: one or more located problems."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: Sequence[Problem] = sorted(problems)
        super().__init__("\n".join(p.format() for p in self.problems))

    def lines(self) -> list[str]:
        return [p.format() for p in self.problems]


class OutputError(GitopsgenError):
    """The output tree cannot be written or read safely (foreign files, links, I/O)."""


class LockedError(OutputError):
    """Another gitopsgen process holds the output directory's lock."""
