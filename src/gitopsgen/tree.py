"""The output directory on disk: compare it with a plan, and write a plan into it.

gitopsgen owns the files listed in the directory's manifest (``.gitopsgen-manifest``)
and files that start with its header line; it never overwrites or deletes any
other file, and never writes through a symbolic link.

Every planned path is checked against the disk (a foreign file, a file where a
directory must be or the reverse, a symbolic link on the way): anything in the way
stops the build with nothing written.

Writing is crash-safe: the build's temporary-file token is recorded in a journal
(``.gitopsgen-journal``) before the first temporary file exists. :func:`write` (a
whole plan: incremental builds) checks every path first, widens the manifest to
cover every file about to be written, and writes each file to a temporary file
renamed over the old one (:func:`gitopsgen.fsio.write_atomic`). :func:`write_stream`
(a full build) writes each file's temporary as the plan streams, and renames them
only once every path was checked and the plan judged consistent, after widening the
manifest; a refusal removes the temporaries and the directories made for them.
Stale files are removed and the manifest is narrowed last. Killed at any point,
every file is either its old or its new version, the manifest covers every owned
file, and the next build removes the journalled temporaries (only those) and
finishes the job. A lock on the directory keeps two builds from interleaving; the
CLI reads tenants.yaml inside it.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Callable, Container, Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from sys import intern
from typing import Any

from gitopsgen import fsio
from gitopsgen.errors import LockedError, OutputError
from gitopsgen.locking import directory_lock
from gitopsgen.plan import HEADER_PREFIX, MANIFEST, Plan, PlanStream
from gitopsgen.progress import current

__all__ = [
    "JOURNAL",
    "Comparison",
    "compare",
    "compare_stream",
    "lock",
    "read_manifest",
    "scan",
    "scan_paths",
    "write",
    "write_stream",
]

_HEADER = HEADER_PREFIX.encode()
# Where a build records the token of its temporary files before it creates any
# (see fsio.Journal); it exists only while a build runs or after one was killed.
JOURNAL = ".gitopsgen-journal"
# Builds queue on the lock: each reads and plans tenants.yaml inside it, so ten
# add-tenant commands at 1,000 tenants hold it one after the other for ~30 s on a
# busy 2-core machine. The wait only bounds a stuck holder.
LOCK_WAIT_SECONDS = 300.0


def _step(kind: str, path: str) -> None:
    fsio.step(kind, path)


class FileMap(MutableMapping[str, str]):
    """Relative POSIX path -> OS path of the regular files under ``root``: a set of
    the relative paths, the OS path made on demand (a dict holding both strings
    cost some 50 MB at 20,000 tenants)."""

    def __init__(self, root: str = "") -> None:
        self._root = root.rstrip(os.sep) + os.sep if root else ""
        self._rels: set[str] = set()
        self._other: dict[str, str] = {}  # an OS path that is not root + rel

    def _path(self, rel: str) -> str:
        other = self._other.get(rel)
        if other is not None:
            return other
        return self._root + (rel if os.sep == "/" else rel.replace("/", os.sep))

    def __getitem__(self, rel: str) -> str:
        if rel not in self._rels:
            raise KeyError(rel)
        return self._path(rel)

    def __setitem__(self, rel: str, path: str) -> None:
        self._rels.add(rel)
        if path != self._path(rel):
            self._other[rel] = path
        else:
            self._other.pop(rel, None)

    def __delitem__(self, rel: str) -> None:
        self._rels.remove(rel)
        self._other.pop(rel, None)

    def __contains__(self, rel: object) -> bool:
        return rel in self._rels

    def __iter__(self) -> Iterator[str]:
        return iter(self._rels)

    def __len__(self) -> int:
        return len(self._rels)


@dataclass
class DiskState:
    """What is under the output directory now."""

    # regular files: relative POSIX path -> OS path (a str: 80k Path objects of a
    # 5000-tenant tree would cost ~45 MB and ~0.1 s)
    files: FileMap = field(default_factory=FileMap)
    dirs: set[str] = field(default_factory=set)  # real directories (not links)
    links: set[str] = field(default_factory=set)  # symbolic links, never followed
    # temporary files of a killed build: named with a token its journal recorded
    temporaries: list[Path] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)  # the journal's tokens
    journal: bool = False
    manifest: set[str] = field(default_factory=set)


@dataclass
class Comparison:
    """A plan against the disk. Paths are relative POSIX paths."""

    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # owned, no longer planned
    foreign: list[str] = field(default_factory=list)  # not ours, not planned: left alone
    links: list[str] = field(default_factory=list)  # symbolic links, not planned: left alone
    # not ours, but in a planned place or in the way of one (a file where a
    # directory must be, a directory where a file must be, a link on the way)
    conflicts: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)  # conflict -> what is in the way
    old: dict[str, bytes] = field(default_factory=dict)  # disk bytes of changed files
    state: DiskState = field(default_factory=DiskState)


def scan(root: Path) -> DiskState:
    state = DiskState(files=FileMap(str(root)))
    if not root.exists():
        return state
    if root.is_symlink() or not root.is_dir():
        raise OutputError(f"{root}: the output path is not a directory (or is a symbolic link)")
    journal = fsio.Journal(root / JOURNAL, OutputError)
    state.tokens = journal.tokens()
    # os.scandir, not os.walk + os.path.islink: the directory entry's type says
    # whether it is a link or a directory, so no stat call per file.
    stack = [(str(root), "")]
    while stack:
        dirpath, base = stack.pop()
        try:
            with os.scandir(dirpath) as it:
                entries = list(it)
        except OSError as exc:
            # Never guess what an unreadable directory holds: a "missing" file
            # there would make build fail half-way.
            raise OutputError(
                f"{dirpath}: cannot read the directory: {exc.strerror or exc}; gitopsgen "
                f"must read everything under {root} (nothing was written)"
            ) from None
        subdirs: list[tuple[str, str]] = []
        for entry in entries:
            name = entry.name
            rel = intern(base + name)  # one string per path: the plan's and the manifest's
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                if entry.is_symlink():
                    state.links.add(rel)
                elif name != ".git":
                    state.dirs.add(rel)
                    subdirs.append((entry.path, rel + "/"))
            elif entry.is_symlink():
                state.links.add(rel)
            elif rel == JOURNAL:
                state.journal = True
            elif state.tokens and fsio.token_of(name) in state.tokens:
                state.temporaries.append(Path(entry.path))
            else:
                state.files[rel] = entry.path
        stack.extend(sorted(subdirs, reverse=True))
    manifest = state.files.get(MANIFEST)
    if manifest is not None:
        state.manifest = _manifest_paths(manifest)
    return state


# A line that is not a plain relative path: "/x", "x/", "a//b", a "." or ".." part, NUL.
_NOT_RELATIVE = re.compile(r"^/|/$|//|(?:^|/)\.\.?(?:/|$)|\x00", re.MULTILINE)


def _manifest_paths(path: str, share: bool = True) -> set[str]:
    """The plain relative paths the manifest lists; ``share``: interned, for a scan
    whose paths a plan stream meets again (the intern table costs ~25 MB at 20,000
    tenants, worth it only then)."""
    text = _read(path).decode("utf-8", "replace")
    lines = text.splitlines()
    # Only plain relative paths: a line such as "../x" or "/x" (a hand-edited or
    # forged manifest) must never let build touch anything outside root. One search
    # of the whole text clears every line at once (a manifest gitopsgen wrote);
    # otherwise each line is judged on its own.
    only_newlines = len(lines) == text.count("\n") + (1 if text[-1:] not in ("", "\n") else 0)
    if not only_newlines or _NOT_RELATIVE.search(text):
        lines = [line for line in lines if _is_relative(line)]
    if not share:
        return {line for line in lines if line and not line.startswith("#")}
    return {intern(line) for line in lines if line and not line.startswith("#")}


def read_manifest(root: Path) -> set[str] | None:
    """The paths the manifest of ``root`` lists; None without one, or while the
    journal of a build stands (a killed build: only a full build finishes it)."""
    if os.path.lexists(os.path.join(root, JOURNAL)):
        return None
    path = os.path.join(root, MANIFEST)
    if not os.path.isfile(path) or os.path.islink(path):
        return None
    return _manifest_paths(path, share=False)


def scan_paths(
    root: Path, rels: Iterable[str], manifest_paths: set[str] | None = None
) -> DiskState:
    """What :func:`scan` says about ``rels`` and the directories on their way, without
    walking the rest of the tree: an incremental build (gitopsgen.incremental)
    trusts the manifest for the files it does not touch. It runs only when no
    journal stands (:func:`read_manifest`), so there are no temporaries to find."""
    state = DiskState(files=FileMap(str(root)))
    seen: set[str] = set()
    for rel in rels:
        parts = rel.split("/")
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            if sub in seen:
                if sub in state.dirs:
                    continue
                break
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
            if stat.S_ISDIR(st.st_mode):
                state.dirs.add(sub)
                continue
            if sub == JOURNAL:
                state.journal = True
            else:
                state.files[sub] = path
            break
    manifest = os.path.join(root, MANIFEST)
    if os.path.isfile(manifest) and not os.path.islink(manifest):
        state.files[MANIFEST] = manifest
        # the caller's read of it under the same lock (read_manifest), else read now
        state.manifest = (
            _manifest_paths(manifest, share=False) if manifest_paths is None else manifest_paths
        )
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


def _parents(rel: str) -> list[str]:
    parts = rel.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _obstacle(
    rel: str, state: DiskState, result: Comparison, blocked: dict[str, str]
) -> str | None:
    """Where the file ``rel`` stands on disk (its OS path), or None: then it is
    recorded in ``result`` as missing, or as a conflict (a symbolic link on its way,
    a directory in its place, a file where one of its directories must be)."""
    link = _through_link(rel, state.links) if state.links else None
    if link is not None:
        if link not in result.reasons:
            result.conflicts.append(link)
            result.reasons[link] = "a symbolic link; gitopsgen never writes through one"
        return None
    if rel in state.dirs:
        result.conflicts.append(rel)
        result.reasons[rel] = "a directory stands where build must write a file"
        return None
    in_the_way = next((p for p in _parents(rel) if p in state.files), None)
    if in_the_way is not None:
        first = blocked.get(in_the_way)
        if first is None:
            result.conflicts.append(in_the_way)
        if first is None or rel < first:  # named by the first path it blocks
            blocked[in_the_way] = rel
            result.reasons[in_the_way] = f"a file stands where build needs a directory (for {rel})"
        return None
    path = state.files.get(rel)
    if path is None:
        result.missing.append(rel)
    return path


def _differs(
    rel: str, data: bytes, state: DiskState, result: Comparison, blocked: dict[str, str]
) -> bool:
    """Classify the planned file ``rel`` (``data``) against the disk into ``result``:
    True when it must be written (missing, or changed and gitopsgen's to overwrite)."""
    path = _obstacle(rel, state, result, blocked)
    if path is None:  # missing (to write), or in conflict
        return bool(result.missing) and result.missing[-1] == rel
    disk = _read(path)
    if disk == data:
        result.unchanged.append(rel)
        return False
    if not _owned(rel, disk, state):
        result.conflicts.append(rel)
        result.reasons[rel] = "a file gitopsgen did not write"
        return False
    result.changed.append(rel)
    result.old[rel] = disk
    return True


def compare_stream(
    stream: PlanStream, root: Path
) -> tuple[Comparison, dict[str, bytes], list[Any]]:
    """:func:`compare` of the plan ``stream`` yields, file by file, keeping no file's
    bytes but those of the changed ones: the comparison, the planned bytes of the
    changed files (for the caller to show) and the stream's consistency problems."""
    state = scan(root)
    stream.intern_paths = bool(state.files)
    result = Comparison(state=state)
    blocked: dict[str, str] = {}
    planned: dict[str, bytes] = {}
    for out, data in stream:
        rel = out.path  # interned by the stream when the tree has files
        if _differs(rel, data, state, result, blocked) and rel in result.old:
            planned[rel] = data
    problems, manifest = stream.finish()
    if _differs(MANIFEST, manifest.data, state, result, blocked) and MANIFEST in result.old:
        planned[MANIFEST] = manifest.data
    for found in (result.missing, result.changed, result.unchanged):
        found.sort()
    _leftovers(state, stream.paths, blocked, result)
    return result, planned, problems


def _owned(rel: str, data: bytes, state: DiskState) -> bool:
    """Whether the file ``rel`` holding ``data`` is gitopsgen's to overwrite."""
    return rel in state.manifest or data.startswith(_HEADER) or rel == MANIFEST


def _leftovers(
    state: DiskState, planned: Container[str], blocked: Container[str], result: Comparison
) -> None:
    """The files on disk that are not planned: stale (ours) or foreign (left alone)."""
    for rel, path in state.files.items():
        if rel in planned or rel in blocked or rel == MANIFEST:
            continue
        if rel in state.manifest or _starts_with_header(path):
            result.stale.append(rel)
        else:
            result.foreign.append(rel)
    result.links = sorted(link for link in state.links if link not in result.reasons)
    result.conflicts.sort()
    result.stale.sort()
    result.foreign.sort()


def compare(plan: Plan, root: Path, state: DiskState | None = None) -> Comparison:
    """How the directory differs from the plan. Reads, never writes."""
    state = scan(root) if state is None else state
    result = Comparison(state=state)
    blocked: dict[str, str] = {}  # files standing where a planned path needs a directory
    for rel, planned in plan.items():
        path = _obstacle(rel, state, result, blocked)
        if path is None:
            continue
        data = _read(path)
        if data == planned.data:
            result.unchanged.append(rel)
        elif _owned(rel, data, state):
            result.changed.append(rel)
            result.old[rel] = data
        else:
            result.conflicts.append(rel)
            result.reasons[rel] = "a file gitopsgen did not write"
    _leftovers(state, plan, blocked, result)
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
    with directory_lock(
        root,
        wait,
        lambda: LockedError(f"{root}: another gitopsgen build holds the lock; waited {wait:g} s"),
        waiting_for=f"another gitopsgen build to release the lock on {root}",
    ):
        yield


def _atomic_write(root: Path, rel: str, data: bytes, token: str, make_parent: bool = True) -> None:
    target = root / rel
    try:
        if make_parent:
            target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{target.parent}: cannot create: {exc.strerror or exc}") from None
    # No fsync: a build is rerun after a power loss (README "Safety").
    fsio.write_atomic(target, data, token=token, durable=False, error=OutputError)


# A cold build creates thousands of files, each a few system calls that wait for the
# file system, not for Python: a few writer threads overlap them. Fewer files are
# written in order on this thread (the crash-safety tests count their operations).
POOL_MIN_FILES = 256
WRITERS = 4


def _write_files(root: Path, rels: list[str], plan: Plan, token: str) -> None:
    """Write ``rels`` (each atomically): their directories first, once each, then the
    files, by a pool of writer threads when there are many. A failure stops the
    pool (files not yet started are not written) and is raised; every file is its
    old or its new version, as when written in order."""
    if len(rels) < POOL_MIN_FILES:
        _in_pool(rels, lambda rel: _atomic_write(root, rel, plan[rel].data, token), "files written")
        return
    for directory in sorted({rel.rpartition("/")[0] for rel in rels} - {""}):
        try:
            os.makedirs(root / directory, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{root / directory}: cannot create: {exc.strerror}") from None
    _in_pool(
        rels, lambda rel: _atomic_write(root, rel, plan[rel].data, token, False), "files written"
    )


def _widen(
    root: Path, owned: set[str], planned: set[str], final: bytes, token: str
) -> bytes | None:
    """Widen the manifest (the ``owned`` paths) to cover every ``planned`` file about to
    exist, before the first of them is written: the bytes written, or None when it
    covers them already. When it owns nothing but planned files (a first build), the
    widened record is the final manifest, written once, and no copy of the 300,000
    paths is made."""
    if owned <= planned and len(owned) != len(planned):
        _atomic_write(root, MANIFEST, final, token)
        return final
    if planned <= owned:
        return None
    widened = _manifest_bytes(final, (owned | planned) - {MANIFEST})
    _atomic_write(root, MANIFEST, widened, token)
    return widened


def _narrow(
    root: Path,
    state: DiskState,
    planned: set[str],
    stale: list[str],
    final: bytes,
    token: str,
    *,
    widened: bytes | None,
    rewrite: bool,
    scope: frozenset[str] | None = None,
) -> None:
    """After the writes: remove the ``stale`` files and the directories left empty by
    them and by files no longer planned (only those ``scope`` speaks for, when given),
    then narrow the manifest to the ``final`` one (when ``rewrite``, unless the widened
    record already was it)."""
    _remove_stale(root, stale)
    gone = sorted(state.manifest - planned - set(stale) - {MANIFEST})
    if scope is not None:  # only what the incremental plan speaks for
        gone = [rel for rel in gone if rel in scope]
    _remove_empty_dirs(root, stale + gone, state.links)
    if rewrite and widened is not final:
        current = root / MANIFEST
        if not current.exists() or current.read_bytes() != final:
            _atomic_write(root, MANIFEST, final, token)


def _remove_stale(root: Path, stale: list[str]) -> None:
    for rel in stale:
        try:
            _step("remove", rel)
            (root / rel).unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise OutputError(f"{root / rel}: cannot remove: {exc.strerror}") from None


def _manifest_bytes(manifest: bytes, paths: set[str]) -> bytes:
    # The header: the leading comment lines (not a split of every listed path).
    head = []
    for line in manifest.split(b"\n", 8)[:-1]:
        if not line.startswith(b"#"):
            break
        head.append(line.decode())
    return "\n".join([*head, *sorted(paths), ""]).encode()


@dataclass
class WriteResult:
    """What a build did; paths of content files (the manifest is not counted)."""

    written: list[str]
    unchanged: list[str]
    removed: list[str]
    foreign: list[str]


def _remove_empty_dirs(root: Path, rels: list[str], links: set[str]) -> None:
    """Remove the directories of ``rels`` that are now empty, deepest first; never
    one reached through a symbolic link or outside the real output directory."""
    real_root = os.path.realpath(root)
    dirs = {parent for rel in rels for parent in _parents(rel)}
    for rel in sorted(dirs, key=lambda d: d.count("/"), reverse=True):
        if _through_link(rel, links) is not None:
            continue
        path = os.path.join(root, rel)
        real = os.path.realpath(path)
        if os.path.dirname(real) != os.path.realpath(os.path.dirname(path)):
            continue  # the last component is a link (planted since the scan)
        if not real.startswith(real_root + os.sep):
            continue
        with contextlib.suppress(OSError):
            os.rmdir(path)


def write(
    plan: Plan,
    root: Path,
    *,
    locked: bool = False,
    scope: Iterable[str] | None = None,
    manifest: set[str] | None = None,
) -> WriteResult:
    """Make the directory match the plan; refuse before writing if a foreign file,
    a directory or a symbolic link stands in a planned place or in its way.
    ``locked``: the caller already holds :func:`lock` on ``root``. ``scope``: an
    incremental plan (gitopsgen.incremental) speaks only for these paths and its
    own; every other file is left as the manifest says, unread (``manifest``: its
    paths, as the caller read them under the lock)."""
    try:
        return _write(plan, root, locked, None if scope is None else frozenset(scope), manifest)
    except OSError as exc:
        # Any I/O failure not explained where it happened (lock, manifest, ...):
        # a message and exit 2, never a traceback. Every file is old or new.
        where = exc.filename or root
        raise OutputError(f"{where}: {exc.strerror or exc}") from None


def prepare(root: Path) -> None:
    """Create the output directory (before taking its lock)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{root}: cannot create: {exc.strerror}") from None
    if root.is_symlink():
        raise OutputError(f"{root}: the output directory is a symbolic link; refusing to follow it")


def _write(
    plan: Plan,
    root: Path,
    locked: bool,
    scope: frozenset[str] | None,
    manifest: set[str] | None = None,
) -> WriteResult:
    if locked:
        return _write_locked(plan, root, scope, manifest)
    prepare(root)
    with lock(root):
        return _write_locked(plan, root, scope, manifest)


def _write_locked(
    plan: Plan, root: Path, scope: frozenset[str] | None, manifest: set[str] | None = None
) -> WriteResult:
    state = scan(root) if scope is None else scan_paths(root, scope | set(plan), manifest)
    result = compare(plan, root, state)
    if result.conflicts:
        lines = [f"  {rel} ({result.reasons.get(rel, 'in the way')})" for rel in result.conflicts]
        raise OutputError(
            f"{root}: {len(result.conflicts)} thing(s) that gitopsgen did not write stand "
            "where it must write; move them away (nothing was written):\n" + "\n".join(lines)
        )
    to_write = [rel for rel in (*result.missing, *result.changed) if rel != MANIFEST]
    escaping = [rel for rel in to_write if not _is_relative(rel)]
    if escaping:  # a renderer bug or a name validation missed: never write there
        raise OutputError(f"{root}: refusing to write outside the output directory: {escaping}")
    planned = set(plan) - {MANIFEST}
    final = plan[MANIFEST].data
    manifest_path = state.files.get(MANIFEST)
    manifest_differs = manifest_path is None or _read(manifest_path) != final
    journal = fsio.Journal(root / JOURNAL, OutputError)
    busy = bool(to_write or result.stale or manifest_differs)
    if busy:
        journal.begin()  # before the first temporary file exists
    # Temporaries of a killed build, by the tokens its journal recorded: only
    # those; a file that merely looks like one is someone else's.
    journal.remove_leftovers(state.temporaries, state.tokens)
    token = journal.token
    widened = (
        _widen(root, state.manifest, planned, final, token) if to_write or result.stale else None
    )
    _write_files(root, to_write, plan, token)
    _narrow(
        root,
        state,
        planned,
        result.stale,
        final,
        token,
        scope=scope,
        widened=widened,
        rewrite=manifest_differs or bool(to_write or result.stale),
    )
    if busy or state.journal:
        journal.finish()
    unchanged = [rel for rel in result.unchanged if rel != MANIFEST]
    return WriteResult(
        written=sorted(to_write),
        unchanged=unchanged,
        removed=result.stale,
        foreign=result.foreign,
    )


# --------------------------------------------------------------- the streaming build


class _Writers:
    """Writer threads fed through a bounded queue: at most ``bound`` files' bytes wait
    in memory. The first failure stops the pool and is raised by :meth:`put` or
    :meth:`close`; files not yet taken are not written."""

    def __init__(self, work: Callable[[str, bytes], None], threads: int, bound: int) -> None:
        import queue
        import threading

        self._work = work
        self._queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue(maxsize=bound)
        self._stop = threading.Event()
        self.failures: list[BaseException] = []
        self.done = 0
        self._guard = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, name=f"gitopsgen-writer-{i}", daemon=True)
            for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._stop.is_set():
                continue  # drain: a failure or an interrupt stopped the pool
            try:
                self._work(*item)
            except BaseException as exc:  # raised again on the main thread
                with self._guard:
                    self.failures.append(exc)
                self._stop.set()
                continue
            with self._guard:
                self.done += 1

    def put(self, rel: str, data: bytes) -> None:
        if self.failures:
            raise self.failures[0]
        self._queue.put((rel, data))

    def close(self, abort: bool = False) -> None:
        if abort:
            self._stop.set()
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()
        if self.failures and not abort:
            raise self.failures[0]


def _in_pool(rels: list[str], work: Callable[[str], None], what: str) -> None:
    """``work`` for each of ``rels``: in order on this thread when there are few, else
    by WRITERS threads, each taking every WRITERS-th one (no queue, no futures)."""
    progress = current()
    if len(rels) < POOL_MIN_FILES:
        for done, rel in enumerate(rels, 1):
            work(rel)
            progress.count(what, done, len(rels))
        return
    import threading

    stop = threading.Event()
    failures: list[BaseException] = []
    finished = [0]
    guard = threading.Lock()

    def run(part: list[str]) -> None:
        for rel in part:
            if stop.is_set():
                return
            try:
                work(rel)
            except BaseException as exc:  # raised again on the main thread
                with guard:
                    failures.append(exc)
                stop.set()
                return
            with guard:
                finished[0] += 1

    threads = [
        threading.Thread(target=run, args=(rels[i::WRITERS],), name=f"gitopsgen-writer-{i}")
        for i in range(WRITERS)
    ]
    for thread in threads:
        thread.start()
    try:
        alive = threads
        while alive:
            alive[0].join(0.1)
            progress.count(what, finished[0], len(rels))
            alive = [thread for thread in alive if thread.is_alive()]
    except BaseException:
        stop.set()  # interrupted: the writers stop after their current file
        for thread in threads:
            thread.join()
        raise
    if failures:
        raise failures[0]


def write_stream(
    stream: PlanStream,
    root: Path,
    accept: Callable[[list[Any]], None] = lambda problems: None,
) -> WriteResult:
    """Make the directory match the plan ``stream`` yields, keeping only one file's
    bytes at a time (and a bounded queue of files waiting for a writer): the caller
    holds :func:`lock` on ``root``, which exists.

    The same result and the same guarantees as :func:`write`, in two phases. While
    the stream runs, each file is compared with the disk as it comes; a changed or
    missing one is written to a journalled temporary file next to its place (its
    directory created if need be), nothing is renamed. After the last file,
    ``accept`` judges the stream's consistency problems (it raises to refuse).
    Anything in the way (a foreign file, a directory, a symbolic link, as
    :func:`compare` says), a path outside the directory or a refusal removes the
    temporaries and the directories made for them, and raises: nothing was written.
    Otherwise the manifest is widened, the temporaries are renamed into place, stale
    files are removed and the manifest is narrowed, as :func:`write` does; killed at
    any point, every file is its old or its new version."""
    state = scan(root)
    stream.intern_paths = bool(state.files)
    result = Comparison(state=state)
    blocked: dict[str, str] = {}
    journal = fsio.Journal(root / JOURNAL, OutputError)
    journal.remove_leftovers(state.temporaries, state.tokens)
    token = journal.token
    began = False
    pending: list[str] = []  # files written to temporaries, in the order written
    escaping: list[str] = []
    # Directories known to exist: the scan's, and the last ones made or met (files come
    # grouped by directory; a set of every new one cost ~13 MB at 20,000 tenants).
    recent: dict[str, None] = {}
    # directories this build created whose parent it did not just create: a refusal
    # removes each, with what it made below (only empty directories go)
    made_tops: list[str] = []

    def temporary(rel: str, data: bytes) -> None:
        # No fsync: a build is rerun after a power loss (README "Safety"). A new file
        # gets 0644 without asking the disk (the scan says nothing stands there).
        mode = None if rel in state.files else 0o644
        fsio.write_temporary(
            root / rel, data, token=token, mode=mode, durable=False, error=OutputError
        )

    writers: _Writers | None = None
    progress = current()

    def rollback() -> None:
        if writers is not None:
            writers.close(abort=True)
        for rel in pending:
            with contextlib.suppress(OSError):
                os.unlink(fsio.temporary_path(root / rel, token))
        for top in reversed(made_tops):
            for directory, _, _ in os.walk(root / top, topdown=False):
                with contextlib.suppress(OSError):
                    os.rmdir(directory)
        if began and not state.journal:
            journal.finish()

    try:
        for out, data in stream:
            rel = out.path  # interned by the stream when the tree has files
            if not _differs(rel, data, state, result, blocked):
                continue
            result.old.pop(rel, None)  # a build keeps no old bytes
            if result.conflicts:
                continue  # refused at the end; nothing more is written meanwhile
            if not _is_relative(rel):
                escaping.append(rel)
                continue
            if not began:
                journal.begin()  # before the first temporary file exists
                began = True
            parent = rel.rpartition("/")[0]
            if parent and parent not in recent and parent not in state.dirs:
                parts = parent.split("/")
                above = False  # this loop made the directory above
                for i in range(1, len(parts) + 1):
                    sub = "/".join(parts[:i])
                    if sub in recent or sub in state.dirs:
                        above = False
                        continue
                    try:
                        os.mkdir(root / sub)
                    except FileExistsError:
                        above = False  # made before (by this build, or meanwhile)
                    except OSError as exc:
                        raise OutputError(
                            f"{root / sub}: cannot create: {exc.strerror or exc}"
                        ) from None
                    else:
                        if not above:
                            made_tops.append(sub)
                        above = True
                    recent[sub] = None
                    if len(recent) > 256:
                        del recent[next(iter(recent))]
            pending.append(rel)
            if writers is None and len(pending) >= POOL_MIN_FILES:
                writers = _Writers(temporary, WRITERS, bound=4 * POOL_MIN_FILES)
            if writers is not None:
                writers.put(rel, data)
            else:
                temporary(rel, data)
        if writers is not None:
            pool, writers = writers, None
            pool.close()
        if result.conflicts:
            lines = [
                f"  {rel} ({result.reasons.get(rel, 'in the way')})"
                for rel in sorted(result.conflicts)
            ]
            raise OutputError(
                f"{root}: {len(result.conflicts)} thing(s) that gitopsgen did not write stand "
                "where it must write; move them away (nothing was written):\n" + "\n".join(lines)
            )
        if escaping:  # a renderer bug or a name validation missed: never write there
            raise OutputError(f"{root}: refusing to write outside the output directory: {escaping}")
        problems, manifest = stream.finish()
        accept(problems)
    except BaseException:
        rollback()
        raise
    planned = stream.paths
    _leftovers(state, planned, blocked, result)
    final = manifest.data
    manifest_path = state.files.get(MANIFEST)
    manifest_differs = manifest_path is None or _read(manifest_path) != final
    busy = bool(pending or result.stale or manifest_differs)
    widened: bytes | None = None

    def commit(rel: str) -> None:
        target = root / rel
        fsio.commit_temporary(fsio.temporary_path(target, token), target, error=OutputError)

    try:
        if busy and not began:
            journal.begin()
        if pending or result.stale:
            widened = _widen(root, state.manifest, planned, final, token)
        _in_pool(pending, commit, "files written")
    except BaseException:
        # Failed or interrupted before or while renaming: the files not renamed keep
        # their old version, and their temporaries go (for a build killed here, the
        # journal names them to the next one).
        for rel in pending:
            with contextlib.suppress(OSError):
                os.unlink(fsio.temporary_path(root / rel, token))
        raise
    progress.clear()
    _narrow(
        root,
        state,
        planned,
        result.stale,
        final,
        token,
        widened=widened,
        rewrite=manifest_differs or bool(pending or result.stale),
    )
    if busy or state.journal:
        journal.finish()
    return WriteResult(
        written=sorted(pending),
        unchanged=sorted(result.unchanged),
        removed=result.stale,
        foreign=result.foreign,
    )
