"""The output directory on disk: compare it with a plan, and write a plan into it.

gitopsgen owns the files listed in the directory's manifest (``.gitopsgen-manifest``)
and files that start with its header line; it never overwrites or deletes any
other file, and never writes through a symbolic link.

Writing is crash-safe: the manifest is first widened to cover every file about to
be written, each file is written to a temporary file and renamed over the old one,
stale files are removed, and the manifest is narrowed last. Killed at any point,
every file is either its old or its new version, the manifest covers every owned
file, and the next build finishes the job. A lock on the directory keeps two
builds from interleaving.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from gitopsgen.errors import LockedError, OutputError
from gitopsgen.locking import wait_for_flock
from gitopsgen.plan import HEADER_PREFIX, MANIFEST, Plan
from gitopsgen.progress import current

__all__ = ["Comparison", "compare", "lock", "scan", "write"]

_HEADER = HEADER_PREFIX.encode()
_TMP_MARK = ".gitopsgen-tmp-"
LOCK_WAIT_SECONDS = 30.0

# Tests set this to inject failures between file operations (crash simulation).
_before_operation: Callable[[str, str], None] | None = None


def _step(kind: str, path: str) -> None:
    if _before_operation is not None:
        _before_operation(kind, path)


@dataclass
class DiskState:
    """What is under the output directory now."""

    # regular files: relative POSIX path -> OS path (a str: 80k Path objects of a
    # 5000-tenant tree would cost ~45 MB and ~0.1 s)
    files: dict[str, str] = field(default_factory=dict)
    links: set[str] = field(default_factory=set)  # symbolic links, never followed
    temporaries: list[Path] = field(default_factory=list)  # left over by a killed build
    manifest: set[str] = field(default_factory=set)


@dataclass
class Comparison:
    """A plan against the disk. Paths are relative POSIX paths."""

    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # owned, no longer planned
    foreign: list[str] = field(default_factory=list)  # not ours, not planned: left alone
    conflicts: list[str] = field(default_factory=list)  # not ours, but in a planned place
    old: dict[str, bytes] = field(default_factory=dict)  # disk bytes of changed files
    state: DiskState = field(default_factory=DiskState)


def scan(root: Path) -> DiskState:
    state = DiskState()
    if not root.exists():
        return state
    if root.is_symlink() or not root.is_dir():
        raise OutputError(f"{root}: the output path is not a directory (or is a symbolic link)")
    # os.scandir, not os.walk + os.path.islink: the directory entry's type says
    # whether it is a link or a directory, so no stat call per file.
    stack = [(str(root), "")]
    while stack:
        dirpath, base = stack.pop()
        try:
            with os.scandir(dirpath) as it:
                entries = list(it)
        except OSError:
            continue  # as os.walk: an unreadable directory is skipped
        subdirs: list[tuple[str, str]] = []
        for entry in entries:
            name = entry.name
            rel = base + name
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                if entry.is_symlink():
                    state.links.add(rel)
                elif name != ".git":
                    subdirs.append((entry.path, rel + "/"))
            elif _TMP_MARK in name:
                state.temporaries.append(Path(entry.path))
            elif entry.is_symlink():
                state.links.add(rel)
            else:
                state.files[rel] = entry.path
        stack.extend(sorted(subdirs, reverse=True))
    manifest = state.files.get(MANIFEST)
    if manifest is not None:
        state.manifest = _manifest_paths(manifest)
    return state


def _manifest_paths(path: str) -> set[str]:
    found: set[str] = set()
    for line in _read(path).decode("utf-8", "replace").splitlines():
        # Only plain relative paths: a line such as "../x" or "/x" (a hand-edited
        # or forged manifest) must never let build touch anything outside root.
        if line and not line.startswith("#") and _is_relative(line):
            found.add(line)
    return found


def read_manifest(root: Path) -> set[str] | None:
    """The paths the manifest of ``root`` lists; None without one."""
    path = os.path.join(root, MANIFEST)
    if not os.path.isfile(path) or os.path.islink(path):
        return None
    return _manifest_paths(path)


def scan_paths(root: Path, rels: Iterable[str]) -> DiskState:
    """What :func:`scan` says about ``rels`` and the directories on their way, without
    walking the rest of the tree: an incremental build trusts the manifest for the
    files it does not touch. Temporary files are not looked for (an incremental
    build runs only after a build that finished: see gitopsgen.incremental)."""
    state = DiskState()
    seen: set[str] = set()
    for rel in rels:
        parts = rel.split("/")
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            if sub in seen:
                if sub in state.links or sub in state.files:
                    break
                continue
            seen.add(sub)
            path = os.path.join(root, sub)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                break
            except OSError as exc:
                raise OutputError(f"{path}: cannot read: {exc.strerror or exc}") from None
            if stat.S_ISLNK(st.st_mode):
                state.links.add(sub)
                break
            if not stat.S_ISDIR(st.st_mode):
                state.files[sub] = path
                break
    manifest = os.path.join(root, MANIFEST)
    if os.path.isfile(manifest) and not os.path.islink(manifest):
        state.files[MANIFEST] = manifest
        state.manifest = _manifest_paths(manifest)
    return state


def _is_relative(rel: str) -> bool:
    parts = rel.split("/")
    return "" not in parts and "." not in parts and ".." not in parts and "\0" not in rel


def _read(path: str | Path) -> bytes:
    try:
        with open(path, "rb") as handle:  # cheaper than Path.read_bytes
            return handle.read()
    except OSError as exc:
        raise OutputError(f"{path}: cannot read: {exc.strerror}") from None


def _through_link(rel: str, links: set[str]) -> str | None:
    parts = rel.split("/")
    for i in range(1, len(parts) + 1):
        candidate = "/".join(parts[:i])
        if candidate in links:
            return candidate
    return None


def compare(plan: Plan, root: Path, state: DiskState | None = None) -> Comparison:
    """How the directory differs from the plan. Reads, never writes."""
    state = scan(root) if state is None else state
    result = Comparison(state=state)
    for rel, planned in plan.items():
        link = _through_link(rel, state.links) if state.links else None
        if link is not None:
            result.conflicts.append(rel)
            continue
        path = state.files.get(rel)
        if path is None:
            result.missing.append(rel)
            continue
        data = _read(path)
        if data == planned.data:
            result.unchanged.append(rel)
        elif rel in state.manifest or data.startswith(_HEADER) or rel == MANIFEST:
            result.changed.append(rel)
            result.old[rel] = data
        else:
            result.conflicts.append(rel)
    for rel, path in state.files.items():
        if rel in plan:
            continue
        if rel in state.manifest or _starts_with_header(path):
            result.stale.append(rel)
        else:
            result.foreign.append(rel)
    result.foreign.extend(sorted(link for link in state.links if link not in plan))
    result.stale.sort()
    result.foreign.sort()
    return result


def _starts_with_header(path: str | Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(len(_HEADER)) == _HEADER
    except OSError:
        return False


@contextlib.contextmanager
def lock(root: Path, wait: float | None = None) -> Iterator[None]:
    """An exclusive lock on the output directory for the duration of a build;
    waits up to ``wait`` seconds (default ``LOCK_WAIT_SECONDS``, read at call time)."""
    wait = LOCK_WAIT_SECONDS if wait is None else wait
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        wait_for_flock(
            fd,
            wait,
            lambda: LockedError(
                f"{root}: another gitopsgen build holds the lock; waited {wait:g} s"
            ),
            waiting_for=f"another gitopsgen build to release the lock on {root}",
        )
        yield
    finally:
        os.close(fd)


def _atomic_write(root: Path, rel: str, data: bytes, make_parent: bool = True) -> None:
    target = root / rel
    tmp = target.with_name(f".{target.name}{_TMP_MARK}{os.getpid()}")
    try:
        _step("write", rel)  # inside the try: tests raise OSError here for a full disk
        if make_parent:
            target.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as handle:
            handle.write(data)
        _step("rename", rel)
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise OutputError(f"{target}: cannot write: {exc.strerror or exc}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


# A cold build creates thousands of files, each a few system calls that wait for the
# file system, not for Python: a few writer threads overlap them. Fewer files are
# written in order on this thread (the crash-safety tests count their operations).
POOL_MIN_FILES = 256
WRITERS = 4


def _write_files(root: Path, rels: list[str], plan: Plan) -> None:
    """Write ``rels`` (each atomically): their directories first, once each, then the
    files, by a pool of writer threads when there are many. A failure stops the
    pool (files not yet started are not written) and is raised; every file is its
    old or its new version, as when written in order."""
    progress = current()
    if len(rels) < POOL_MIN_FILES:
        for done, rel in enumerate(rels, 1):
            _atomic_write(root, rel, plan[rel].data)
            progress.count("files written", done, len(rels))
        return
    for directory in sorted({rel.rpartition("/")[0] for rel in rels} - {""}):
        try:
            os.makedirs(root / directory, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{root / directory}: cannot create: {exc.strerror}") from None
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    with ThreadPoolExecutor(WRITERS, thread_name_prefix="gitopsgen-writer") as pool:
        futures = [pool.submit(_atomic_write, root, rel, plan[rel].data, False) for rel in rels]
        done_count = 0
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=0.1, return_when=FIRST_EXCEPTION)
            done_count += len(finished)
            progress.count("files written", done_count, len(rels))
            failed = next((f for f in finished if f.exception() is not None), None)
            if failed is not None:
                for future in pending:
                    future.cancel()
                wait(pending)
                raise failed.exception()  # type: ignore[misc]


def _manifest_bytes(plan: Plan, paths: set[str]) -> bytes:
    head = [line for line in plan[MANIFEST].data.decode().splitlines() if line.startswith("#")]
    return ("\n".join([*head, *sorted(paths)]) + "\n").encode()


@dataclass
class WriteResult:
    """What a build did; paths of content files (the manifest is not counted)."""

    written: list[str]
    unchanged: list[str]
    removed: list[str]
    foreign: list[str]


def _remove_empty_dirs(root: Path, rels: list[str]) -> None:
    """Remove the directories of ``rels`` that are now empty, deepest first."""
    dirs = {parent for rel in rels for parent in Path(rel).parents if parent != Path(".")}
    for rel in sorted(dirs, key=lambda d: len(d.parts), reverse=True):
        with contextlib.suppress(OSError):
            (root / rel).rmdir()


def write(
    plan: Plan, root: Path, *, scope: Iterable[str] | None = None, locked: bool = False
) -> WriteResult:
    """Make the directory match the plan; refuse before writing if a foreign file or
    a symbolic link stands in a planned place. ``scope``: an incremental plan
    (gitopsgen.incremental) speaks only for these paths and its own; every other
    file is left as the manifest says, unread. ``locked``: the caller holds
    :func:`lock` on ``root``."""
    try:
        return _write(plan, root, None if scope is None else frozenset(scope), locked)
    except OSError as exc:
        # Any I/O failure not explained where it happened (lock, manifest, ...):
        # a message and exit 2, never a traceback. Every file is old or new.
        where = exc.filename or root
        raise OutputError(f"{where}: {exc.strerror or exc}") from None


def _write(plan: Plan, root: Path, scope: frozenset[str] | None, locked: bool) -> WriteResult:
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{root}: cannot create: {exc.strerror}") from None
    if root.is_symlink():
        raise OutputError(f"{root}: the output directory is a symbolic link; refusing to follow it")
    with contextlib.nullcontext() if locked else lock(root):
        state = scan(root) if scope is None else scan_paths(root, scope | set(plan))
        result = compare(plan, root, state)
        if result.conflicts:
            lines = [
                f"  {rel}"
                + (
                    f" (symbolic link {_through_link(rel, state.links)})"
                    if _through_link(rel, state.links)
                    else ""
                )
                for rel in result.conflicts
            ]
            raise OutputError(
                f"{root}: {len(result.conflicts)} file(s) that gitopsgen did not write stand "
                "where it must write; move them away (nothing was written):\n" + "\n".join(lines)
            )
        for tmp in state.temporaries:
            with contextlib.suppress(OSError):
                tmp.unlink()
        to_write = [rel for rel in (*result.missing, *result.changed) if rel != MANIFEST]
        escaping = [rel for rel in to_write if not _is_relative(rel)]
        if escaping:  # a renderer bug or a name validation missed: never write there
            raise OutputError(f"{root}: refusing to write outside the output directory: {escaping}")
        planned = set(plan) - {MANIFEST}
        if to_write or result.stale:
            # Widen the ownership record first: it covers every file about to exist.
            wide = (state.manifest | planned) - {MANIFEST}
            if wide != state.manifest:
                _atomic_write(root, MANIFEST, _manifest_bytes(plan, wide))
        _write_files(root, to_write, plan)
        for rel in result.stale:
            try:
                _step("remove", rel)
                (root / rel).unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise OutputError(f"{root / rel}: cannot remove: {exc.strerror}") from None
        gone = sorted(state.manifest - planned - set(result.stale))
        if scope is not None:  # only what the incremental plan speaks for
            gone = [rel for rel in gone if rel in scope]
        _remove_empty_dirs(root, result.stale + gone)
        final = plan[MANIFEST].data
        manifest_path = root / MANIFEST
        if not manifest_path.exists() or manifest_path.read_bytes() != final:
            _atomic_write(root, MANIFEST, final)
        unchanged = [rel for rel in result.unchanged if rel != MANIFEST]
        return WriteResult(
            written=sorted(to_write),
            unchanged=unchanged,
            removed=result.stale,
            foreign=result.foreign,
        )
