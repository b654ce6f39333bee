"""The little git plumbing ``diff`` needs, through the ``git`` command.

Everything here reads: no checkout, no index or work-tree change, no network.
Failures become :class:`GitError` (a :class:`~gitopsgen.errors.GitopsgenError`)
with git's own message.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from gitopsgen.errors import GitopsgenError

__all__ = [
    "DEFAULT_BRANCHES",
    "Base",
    "GitError",
    "default_base",
    "named_base",
    "read_blob",
    "resolve_commit",
    "toplevel",
]

# Candidates for "the main branch", in order.
DEFAULT_BRANCHES = ("origin/HEAD", "main", "master")


class GitError(GitopsgenError):
    """git is missing, the directory is not a repository, or a revision is unknown."""


def _git(
    args: list[str], cwd: Path, *, check: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ)
    env.setdefault("GIT_TERMINAL_PROMPT", "0")
    env["GIT_OPTIONAL_LOCKS"] = "0"  # never take the index lock: diff only reads
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            input=None if stdin is None else stdin.encode() + b"\n",
            env=env,
            check=False,
        )
    except FileNotFoundError:
        raise GitError("git: command not found (diff needs git, or --base PATH)") from None
    except NotADirectoryError:
        raise GitError(f"{cwd}: not a directory") from None
    if check and proc.returncode != 0:
        message = proc.stderr.decode(errors="replace").strip() or f"exit {proc.returncode}"
        raise GitError(f"git {' '.join(args)}: {message}")
    return proc


def toplevel(path: Path) -> Path:
    """The top directory of the work tree that contains ``path`` (a directory)."""
    proc = _git(["rev-parse", "--show-toplevel"], path, check=False)
    if proc.returncode != 0:
        raise GitError(
            f"{path}: not inside a git work tree; pass --base PATH (another tenants.yaml) "
            "or --against-disk"
        )
    return Path(proc.stdout.decode().strip())


def resolve_commit(ref: str, cwd: Path) -> str | None:
    """The full commit id ``ref`` names, or None when it names no commit."""
    if ref.startswith("-"):
        return None
    proc = _git(
        ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"],
        cwd,
        check=False,
    )
    if proc.returncode != 0:
        return None
    return proc.stdout.decode().strip()


@dataclass(frozen=True)
class Base:
    """The commit the working tree is compared with, and how it was chosen."""

    commit: str
    label: str  # what a person reads: the ref given, or "<short> (merge base with main)"
    ref: str  # the ref as given, or the default branch whose merge base it is

    @property
    def short(self) -> str:
        return self.commit[:10]


def default_base(cwd: Path) -> Base:
    """The merge base of HEAD with the default branch (origin/HEAD, main or master)."""
    if resolve_commit("HEAD", cwd) is None:
        raise GitError(f"{cwd}: the repository has no commits yet; pass --base")
    for branch in DEFAULT_BRANCHES:
        if resolve_commit(branch, cwd) is None:
            continue
        proc = _git(["merge-base", "HEAD", branch], cwd, check=False)
        if proc.returncode != 0:
            raise GitError(
                f"HEAD and {branch} have no common ancestor (shallow clone? fetch with "
                "fetch-depth: 0); pass --base REF"
            )
        commit = proc.stdout.decode().strip()
        return Base(commit, f"{commit[:10]} (merge base of HEAD and {branch})", branch)
    tried = ", ".join(DEFAULT_BRANCHES)
    raise GitError(
        f"no default branch to compare with (tried {tried}); pass --base REF "
        "(in CI, fetch the base branch, e.g. actions/checkout with fetch-depth: 0)"
    )


def named_base(ref: str, cwd: Path) -> Base:
    commit = resolve_commit(ref, cwd)
    if commit is None:
        raise GitError(f"--base {ref}: not a commit, branch or tag in this repository")
    return Base(commit, ref, ref)


def read_blob(commit: str, relpath: str, cwd: Path, limit: int = 8 * 1024 * 1024) -> bytes | None:
    """The bytes of ``relpath`` (relative to the top level, '/'-separated) at
    ``commit``; None when the file does not exist there. A blob larger than
    ``limit`` is refused before it is read (the reader's size limit)."""
    spec = f"{commit}:{relpath}"
    proc = _git(["cat-file", "--batch-check=%(objecttype) %(objectsize)"], cwd, stdin=spec)
    head = proc.stdout.decode(errors="replace").split()
    if len(head) != 2 or not head[1].isdigit():
        return None  # "<spec> missing"
    if head[0] != "blob":
        raise GitError(f"{spec}: not a file")
    if int(head[1]) > limit:
        raise GitError(f"{spec}: {head[1]} bytes; the limit is {limit} bytes")
    return _git(["cat-file", "blob", spec], cwd).stdout
