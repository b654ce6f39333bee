"""A cache of what ``validate`` and ``check`` learnt about one exact tenants.yaml.

At 10 tenants nearly all of a command's time is interpreter start and imports
(pydantic and building its models about 0.1 s, ruamel.yaml 15 ms), not work. So a
successful ``validate``, ``check`` or ``build`` records, under a key made of

- the code: every source file of this package (path, size, mtime) and the
  pydantic, pydantic_core and ruamel.yaml installations,
- the command's inputs: the tenants.yaml path as given and resolved, its bytes,
  ``--allow-outside``,

what those inputs imply: the tenant count, the output directory and repository root,
the links wiring checks, and (for trees of at most :data:`MAX_DIGESTS` files) the
BLAKE2b digest of every planned file. Everything else a command depends on is read
again every time: the real paths and the Git work tree the output rules look at
(a different answer is a miss), the wiring kustomizations, and every file of the
tree, which ``check`` hashes and compares. Only the success path is served from the
cache: any drift, stale or foreign-in-place file, or invalid input runs the full
command, which produces the located messages and diffs.

The cache is a directory of small JSON files (never pickles: nothing in it is run)
under ``$GITOPSGEN_CACHE_DIR``, else ``$XDG_CACHE_HOME/gitopsgen``, else
``~/.cache/gitopsgen``; ``GITOPSGEN_NO_CACHE=1`` turns it off. A lost, corrupt or
unwritable cache is a miss, never an error.

This module imports neither pydantic nor ruamel.yaml nor the renderers: that is
the point of it.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from gitopsgen.config import Project
    from gitopsgen.report import Report
    from gitopsgen.tree import Comparison
    from gitopsgen.wiring import Link

try:  # the BLAKE2 module alone: hashlib would load OpenSSL first (2 ms)
    from _blake2 import blake2b
except ImportError:  # pragma: no cover
    from hashlib import blake2b

__all__ = [
    "MAX_DIGESTS",
    "Entry",
    "Probe",
    "TreeSum",
    "cached_check",
    "compare_cached",
    "compare_digests",
    "compare_tree",
    "digest",
    "dirs_fingerprint",
    "enabled",
    "entry_links",
    "key_for",
    "load_entry",
    "lookup",
    "remember",
    "schema_text",
    "store",
]

FORMAT = 2
MAX_DIGESTS = 5000  # planned files whose digests are cached (about 0.5 MB of JSON)
MAX_ENTRIES = 64  # entries kept; the oldest go first
_PACKAGE = Path(__file__).resolve().parent
_DEPENDENCIES = ("pydantic", "pydantic_core", "ruamel.yaml")


def enabled() -> bool:
    return os.environ.get("GITOPSGEN_NO_CACHE", "") in ("", "0")


def cache_dir() -> Path:
    explicit = os.environ.get("GITOPSGEN_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gitopsgen"


def digest(data: bytes) -> str:
    return blake2b(data, digest_size=16).hexdigest()


def _code_fingerprint() -> str:
    """Every source file of gitopsgen and where its YAML and model libraries live."""
    h = blake2b(digest_size=16)
    h.update(f"{FORMAT} {sys.version}\n".encode())
    stack = [str(_PACKAGE)]
    while stack:
        directory = stack.pop()
        with os.scandir(directory) as it:
            for entry in sorted(it, key=lambda e: e.name):
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__":
                        stack.append(entry.path)
                elif entry.name.endswith(".py"):
                    st = entry.stat()
                    h.update(f"{entry.path} {st.st_size} {st.st_mtime_ns}\n".encode())
    import importlib.util

    for name in _DEPENDENCIES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        origin = spec.origin if spec is not None else None
        if origin:
            st = os.stat(origin)
            h.update(f"{name} {origin} {st.st_size} {st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def key_for(config: str, raw: bytes, allow_outside: bool) -> str:
    h = blake2b(digest_size=20)
    for part in (
        _code_fingerprint(),
        config,
        os.path.abspath(config),
        str(allow_outside),
    ):
        h.update(part.encode("utf-8", "surrogateescape") + b"\0")
    h.update(raw)
    return h.hexdigest()


def dirs_fingerprint(config_path: Path, output_dir: Path, repository_root: Path) -> list[str]:
    """What the output directory rules read from the file system (config.load):
    the real paths of the three directories and the Git work tree above the file."""
    base = os.path.realpath(config_path.parent)
    top = base
    while not os.path.exists(os.path.join(top, ".git")) and os.path.dirname(top) != top:
        top = os.path.dirname(top)
    return [
        base,
        os.path.realpath(repository_root),
        os.path.realpath(output_dir),
        top if os.path.exists(os.path.join(top, ".git")) else "",
    ]


@dataclass(frozen=True)
class Entry:
    """What one successful command learnt about one tenants.yaml."""

    tenants: int
    config_path: str
    output_dir: str
    repository_root: str
    source_name: str
    dirs: list[str]
    links: list[list[str]]  # [key, root_file, target, line] per wiring link
    # check reads files that only the model says how to judge (a FluxInstance's
    # shards, the repository Flux builds from a version 2 entry point): such a check
    # is never served from the cache
    check_needs_model: bool = False
    # version 1: the wiring.hostCluster file; while it exists, the repository check
    # (gitopsgen.repocheck) walks the repository with the plan's documents, so a
    # check is served from the cache only while it does not exist
    repo_entry: str | None = None
    files: int | None = None  # planned content files (the manifest not counted)
    digests: dict[str, str] | None = None  # rel path -> digest, manifest included
    # for a plan of any size: the TreeSum of every planned file, manifest included
    tree: str | None = None
    # the repository walk of the check that stored this entry found nothing
    walk_clean: bool = True

    def still_valid(self) -> bool:
        """The file system answers the output rules' questions as it did."""
        try:
            now = dirs_fingerprint(
                Path(self.config_path), Path(self.output_dir), Path(self.repository_root)
            )
        except OSError:
            return False
        return now == self.dirs


def _path(key: str) -> Path:
    return cache_dir() / f"{key}.json"


def load_entry(key: str) -> Entry | None:
    if not enabled():
        return None
    try:
        data: Any = json.loads(_path(key).read_bytes())
        if data.get("format") != FORMAT:
            return None
        del data["format"]
        entry = Entry(**data)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    return entry if entry.still_valid() else None


def store(key: str, entry: Entry) -> None:
    """Record ``entry`` (atomically; a failure is silently a later miss)."""
    if not enabled():
        return
    directory = cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        data = {"format": FORMAT, **entry.__dict__}
        _write(_path(key), json.dumps(data, separators=(",", ":")))
        _prune(directory)
    except (OSError, TypeError, ValueError):
        return


def _write(path: Path, text: str) -> None:
    """Atomically, through the one module that writes files (gitopsgen.fsio); a
    cache is rebuilt, never fsynced. A failure is raised as OSError."""
    from gitopsgen.errors import GitopsgenError
    from gitopsgen.fsio import write_atomic

    try:
        write_atomic(path, text, durable=False)
    except GitopsgenError as exc:
        raise OSError(str(exc)) from None


def compare_digests(entry: Entry) -> Comparison | None:
    """The tree against the cached digests, when every planned file is unchanged;
    None for anything else (a missing, changed or stale file, a symbolic link in the
    tree): the full ``check`` reports that."""
    from gitopsgen.plan import HEADER_PREFIX
    from gitopsgen.tree import Comparison, scan

    digests = entry.digests
    if digests is None:
        return None
    state = scan(Path(entry.output_dir))
    if state.links or state.journal or state.temporaries:
        return None  # a link, or a killed build: the full command finishes it
    result = Comparison(state=state)
    for rel, expected in digests.items():
        path = state.files.get(rel)
        if path is None:
            return None
        with open(path, "rb") as handle:
            if digest(handle.read()) != expected:
                return None
        result.unchanged.append(rel)
    header = HEADER_PREFIX.encode()
    for rel, path in state.files.items():
        if rel in digests:
            continue
        if rel in state.manifest:
            return None
        with open(path, "rb") as handle:
            if handle.read(len(header)) == header:
                return None
        result.foreign.append(rel)
    result.foreign.sort()
    return result


class TreeSum:
    """An order-free digest of a set of files: the sum, modulo 2**256, of the 32-byte
    BLAKE2b digest of each file's path and bytes (a multiset hash, Bellare and
    Micciancio's AdHash). Adding the files as a plan streams them, in any order,
    gives the value :func:`compare_tree` computes from the disk: one number stands
    for the digests of a 300,000-file tree."""

    def __init__(self) -> None:
        self.value = 0
        self.count = 0

    def add(self, rel: str, data: bytes) -> None:
        h = blake2b(rel.encode("utf-8", "surrogateescape"), digest_size=32)
        h.update(b"\0")
        h.update(data)
        self.value = (self.value + int.from_bytes(h.digest(), "big")) & _MASK
        self.count += 1

    def hexdigest(self) -> str:
        return f"{self.count}:{self.value:064x}"


_MASK = (1 << 256) - 1


def compare_tree(entry: Entry) -> Comparison | None:
    """The tree against the cached :class:`TreeSum` of the plan, when every planned
    file is unchanged: the planned paths are the manifest's (the manifest is one of
    the summed files), each one is read and summed. None for anything else (a
    missing, changed or stale file, a link, a journal of a killed build): the full
    command reports that."""
    from gitopsgen.plan import HEADER_PREFIX, MANIFEST
    from gitopsgen.tree import Comparison, scan

    if entry.tree is None:
        return None
    state = scan(Path(entry.output_dir))
    if state.links or state.journal or state.temporaries or MANIFEST not in state.files:
        return None
    planned = state.manifest | {MANIFEST}
    total = TreeSum()
    result = Comparison(state=state)
    for rel in planned:
        if rel not in state.files:
            return None
        with open(state.files[rel], "rb") as handle:
            total.add(rel, handle.read())
        result.unchanged.append(rel)
    if total.hexdigest() != entry.tree:
        return None
    header = HEADER_PREFIX.encode()
    for rel in state.files:
        if rel in planned:
            continue
        with open(state.files[rel], "rb") as handle:
            if handle.read(len(header)) == header:
                return None
        result.foreign.append(rel)
    result.unchanged.sort()
    result.foreign.sort()
    return result


def compare_cached(entry: Entry) -> Comparison | None:
    """:func:`compare_digests` or, for a large plan, :func:`compare_tree`."""
    if entry.digests is not None:
        return compare_digests(entry)
    return compare_tree(entry)


def _prune(directory: Path) -> None:
    entries = []
    with os.scandir(directory) as it:
        for e in it:
            if e.name.endswith(".json"):
                with contextlib.suppress(OSError):
                    entries.append((e.stat().st_mtime_ns, e.path))
    for _, path in sorted(entries)[: max(0, len(entries) - MAX_ENTRIES)]:
        with contextlib.suppress(OSError):
            os.unlink(path)


# --------------------------------------------------------------- the commands' side


# Larger files, and anything but a regular file, are never cached: the full command
# reads them (within its own limits, reader.MAX_BYTES) and reports why not.
_MAX_BYTES = 8 * 1024 * 1024


def _read_small(path: str) -> bytes | None:
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size > _MAX_BYTES:
            return None
        with open(path, "rb") as handle:
            data = handle.read(_MAX_BYTES + 1)
    except OSError:
        return None
    return data if len(data) <= _MAX_BYTES else None


@dataclass(frozen=True)
class Probe:
    """A look-up: the key and bytes of tenants.yaml, and the entry if there is one."""

    config: str
    key: str = ""
    raw: bytes = b""
    entry: Entry | None = None


def lookup(config: str, allow_outside: bool, values_schema: str | None = None) -> Probe:
    """The cache entry for tenants.yaml at ``config`` (none when off or unreadable,
    and never with a chart values schema: that is another file the rules read)."""
    if not enabled() or values_schema is not None:
        return Probe(config)
    raw = _read_small(config)
    if raw is None:
        return Probe(config)
    key = key_for(config, raw, allow_outside)
    return Probe(config, key, raw, load_entry(key))


def remember(
    probe: Probe,
    project: Project,
    plan: Mapping[str, Any] | None = None,
    *,
    files: int | None = None,
    digests: dict[str, str] | None = None,
    tree: str | None = None,
    walk_clean: bool = True,
) -> None:
    """Record what a successful command learnt about the file ``probe`` read
    (``plan``: the verified plan; or, from a streamed one, the number of its content
    ``files`` and the ``digests`` of its files, manifest included, when at most
    :data:`MAX_DIGESTS`); nothing if the file changed since."""
    if not probe.key or not enabled():
        return
    if project.config.defaults.vcluster.values_schema is not None:
        return  # the rules read the chart's values schema too: never cached
    if _read_small(probe.config) != probe.raw:
        return
    from gitopsgen.wiring import links

    if plan is not None:
        files = len(plan) - 1
        digests = (
            {rel: digest(f.data) for rel, f in plan.items()} if len(plan) <= MAX_DIGESTS else None
        )
    clusters = getattr(project.config, "clusters", None)
    wiring = getattr(project.config, "wiring", None)
    host = getattr(wiring, "host_cluster", None)
    # A version 2 check reads files only the model can judge when a cluster names a
    # FluxInstance (its shards) or a hand-kept entry point (the repository walk goes
    # through it); else the walk reads the generated tree alone, which the digests
    # vouch for.
    needs_model = clusters is not None and any(
        c.flux_instance is not None or c.entry_point is not None for c in clusters
    )
    entry = Entry(
        check_needs_model=needs_model,
        repo_entry=os.path.normpath(project.repository_root / host) if host else None,
        tenants=len(project.config.tenants),
        config_path=str(project.config_path),
        output_dir=str(project.output_dir),
        repository_root=str(project.repository_root),
        source_name=project.source_name,
        dirs=dirs_fingerprint(project.config_path, project.output_dir, project.repository_root),
        links=[[k.key, str(k.root_file), str(k.target), k.line] for k in links(project)],
        files=files,
        digests=digests,
        tree=tree,
        walk_clean=walk_clean,
    )
    store(probe.key, entry)


def entry_links(entry: Entry) -> list[Link]:
    from gitopsgen.wiring import Link

    return [Link(k, Path(root), Path(target), line) for k, root, target, line in entry.links]


def schema_text() -> str:
    """The JSON Schema text (gitopsgen.schema), cached per version of the code: it is a
    function of the models alone, and building it imports and builds all of them."""
    path = cache_dir() / f"schema-{_code_fingerprint()}.json"
    if enabled():
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            pass
    from gitopsgen.schema import schema_text as build

    text = build()
    if enabled():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _write(path, text)
        except OSError:
            pass
    return text


def cached_check(entry: Entry, path: Path, absolute: bool) -> Report | None:
    """The report of ``check`` from ``entry``, or None when the cache cannot vouch for
    it (the tree differs from the cached plan, or the check reads what only the model
    can judge): then the full check runs and explains."""
    from gitopsgen.report import Paths, check_report
    from gitopsgen.wiring import check_links

    if entry.check_needs_model or entry.files is None or not entry.walk_clean:
        return None
    if entry.repo_entry is not None and os.path.lexists(entry.repo_entry):
        return None  # the repository check walks from it, with the plan's documents
    comparison = compare_cached(entry)
    if comparison is None:
        return None
    paths = Paths(entry.repository_root, absolute)
    return check_report(
        config=paths.show(path),
        output=Path(entry.output_dir),
        files=entry.files,
        tenants=entry.tenants,
        comparison=comparison,
        planned={},
        wiring=check_links(entry_links(entry), entry.source_name),
        repository=[],
        paths=paths,
    )
