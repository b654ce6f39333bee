"""Golden cases found by folder, and byte-for-byte tree comparison.

A case is ``tests/cases/<name>/tenants.yaml`` plus ``expected/``, the full tree
build writes under ``output`` (``.gitopsgen-manifest`` included). Invalid cases
live in ``tests/cases/invalid/<name>/`` with ``expected.txt``, the exact stderr.

The tests compare by default and never rewrite anything. To regenerate the
snapshots after an intended change, run

    GITOPSGEN_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_golden.py tests/test_validation.py

then review ``git diff tests/cases`` line by line: the snapshot is only as good as
its review.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

CASES = Path(__file__).resolve().parents[1] / "cases"
INVALID = CASES / "invalid"
UPDATE_ENV = "GITOPSGEN_UPDATE_GOLDEN"


def updating() -> bool:
    """True only when the user explicitly asked to rewrite the snapshots."""
    return os.environ.get(UPDATE_ENV, "") == "1"


def valid_cases() -> list[str]:
    return sorted(p.name for p in CASES.iterdir() if p.is_dir() and (p / "tenants.yaml").is_file())


def invalid_cases() -> list[str]:
    return sorted(
        p.name for p in INVALID.iterdir() if p.is_dir() and (p / "tenants.yaml").is_file()
    )


def tree_files(root: Path) -> dict[str, bytes]:
    """Every regular file under ``root`` (relative POSIX path -> bytes)."""
    if not root.is_dir():
        return {}
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def tree_differences(actual: dict[str, bytes], expected: dict[str, bytes]) -> list[str]:
    """Human-readable lines naming every file that differs; empty when equal."""
    lines: list[str] = []
    for rel in sorted(expected.keys() - actual.keys()):
        lines.append(f"missing from the build: {rel}")
    for rel in sorted(actual.keys() - expected.keys()):
        lines.append(f"not in expected/:      {rel}")
    for rel in sorted(expected.keys() & actual.keys()):
        if expected[rel] != actual[rel]:
            lines.append(f"content differs:       {rel}")
    return lines


def replace_tree(target: Path, source: Path) -> None:
    """Make ``target`` an exact copy of ``source`` (update mode only)."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every entry under ``root`` (links as their target, directories as ``dir``), to
    prove that nothing changed; empty when ``root`` does not exist."""
    out: dict[str, bytes | str] = {}
    if not root.exists():
        return out
    for dirpath, dirnames, names in os.walk(root):
        for name in dirnames + names:
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            if full.is_symlink():
                out[rel] = "-> " + os.readlink(full)
            elif full.is_file():
                out[rel] = full.read_bytes()
            else:
                out[rel] = "dir"
    return out
