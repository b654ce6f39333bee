"""gitopsgen as a library: what the commands do, as functions returning result values.

A program (a CI bot, a platform portal, a test) calls these without click and without
parsing printed text::

    from gitopsgen import api

    report = api.check("tenants.yaml")
    if report.exit_code:
        for finding in report.findings:
            print(finding.file, finding.message)

Invalid input is not raised: :func:`check` and :func:`validate` return a
:class:`~gitopsgen.report.Report` with status ``invalid`` and located findings, the
same value the CLI prints in every ``--format``. :func:`build` raises
:class:`~gitopsgen.errors.GitopsgenError` (exit code in ``exc.exit_code``) because it
writes. :func:`gitopsgen.report.render` prints any result in any format.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gitopsgen.errors import ConfigError, GitopsgenError
from gitopsgen.report import HostsList, Paths, Report, repository_root

# Imported when used, not here: validate and check served from the cache
# (gitopsgen.cache) must not pay for the model, the renderers or diff.
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from gitopsgen.allocation import Allocation
    from gitopsgen.cache import Probe
    from gitopsgen.config import Project
    from gitopsgen.diff import DiffResult
    from gitopsgen.edit import Edit
    from gitopsgen.plan import PlanStream
    from gitopsgen.platform import Cluster
    from gitopsgen.render import RenderedFile

__all__ = [
    "CONFIG_NAME",
    "BuildResult",
    "ConfigNotFound",
    "build",
    "check",
    "cluster_of",
    "diff",
    "find_config",
    "hosts",
    "ips",
    "validate",
]

CONFIG_NAME = "tenants.yaml"


class ConfigNotFound(GitopsgenError):
    """No tenants.yaml where one was looked for; the message names every place."""


def find_config(start: str | os.PathLike[str] | None = None) -> Path:
    """The nearest ``tenants.yaml`` from ``start`` (default: the working directory) up
    to the repository root (the nearest directory with ``.git``), as git finds
    ``.git``. Outside a repository only ``start`` itself is looked in."""
    here = Path(os.path.abspath(start if start is not None else os.curdir))
    top = Path(repository_root(here))
    looked: list[Path] = []
    directory = here
    while True:
        looked.append(directory)
        candidate = directory / CONFIG_NAME
        if candidate.is_file():
            return candidate
        if directory == top or directory.parent == directory:
            break
        directory = directory.parent
    if (top / ".git").exists():
        where = (
            f"in {looked[0]}"
            if len(looked) == 1
            else f"in {looked[0]} or any directory above it up to the repository root {top}"
        )
    else:
        where = f"in {looked[0]} (not inside a Git repository, so no directory above it)"
    raise ConfigNotFound(f"gitopsgen: no {CONFIG_NAME} {where}; create one, or pass -c PATH")


def config_path(config: str | os.PathLike[str] | None) -> Path:
    """``config`` when given (it must exist and be a file), else :func:`find_config`."""
    if config is None:
        return find_config()
    path = Path(config)
    if not path.exists():
        raise ConfigNotFound(f"gitopsgen: {path}: no such file; create it, or pass -c PATH")
    if path.is_dir():
        raise ConfigNotFound(f"gitopsgen: {path}: is a directory; pass -c PATH of the file")
    return path


@dataclass(frozen=True)
class BuildResult:
    output: Path
    written: list[str]
    unchanged: list[str]
    removed: list[str]
    foreign: list[str]
    files: int
    tenants: int


def build(
    config: str | os.PathLike[str] | None = None,
    *,
    allow_outside: bool = False,
    values_schema: str | None = None,
    tenants: Sequence[str] = (),
    edit: Edit | None = None,
) -> BuildResult:
    """Validate tenants.yaml, then write the generated tree (see ``gitopsgen build``).

    ``tenants``: only these changed; their files and the cluster-level files are
    rendered, verified and written, and the manifest is trusted for the rest
    (:mod:`gitopsgen.incremental`; a full build when the tree has no manifest).
    ``edit``: the :class:`gitopsgen.edit.Edit` just written, whose validated model is
    used while the file still holds its text (no parse again)."""
    from gitopsgen import cache
    from gitopsgen.config import locate, parse, read_config
    from gitopsgen.consistency import verify_problems
    from gitopsgen.errors import OutputError
    from gitopsgen.plan import MANIFEST
    from gitopsgen.reader import Document
    from gitopsgen.tree import lock, prepare, write_stream

    path = config_path(config)
    known = (
        (edit.text.encode(), edit.config, edit.document)
        if edit is not None and edit.config is not None and edit.document is not None
        else None
    )

    located: tuple[bytes, Project] | None = None

    def current() -> Project:
        """tenants.yaml as it is now: parsed (and located) again only when its bytes
        changed."""
        nonlocal known, located
        raw = read_config(path)
        if located is not None and located[0] == raw:
            return located[1]
        if known is not None and known[0] == raw:
            parsed, doc = known[1], known[2]
        else:
            parsed, doc = parse(raw, str(path))
            known = (raw, parsed, doc)
        project = locate(parsed, doc, path, allow_outside, values_schema)
        located = (raw, project)
        return project

    # tenants.yaml is read and planned INSIDE the output directory's lock: a build
    # that waited for the lock must not write a plan of an older tenants.yaml over
    # the tree of a newer one (the last writer of tenants.yaml wins). The first
    # read only finds the directory to lock; the one inside it parses again only
    # if the file changed in between.
    first = current()
    output = first.output_dir
    # A first build creates the output directory (and missing parents) before its
    # lock; a refused one removes them again (nothing was written).
    made = [p for p in (output, *output.parents) if not p.exists()]
    prepare(output)
    try:
        with lock(output):
            project = current()
            if project.output_dir != output:
                raise OutputError(
                    f"{path}: output changed from {output} to {project.output_dir} while "
                    "waiting for the build lock; run build again"
                )
            # Located: the build needs the model, not the text's positions (at
            # 20,000 tenants the Document is some 45 MB).
            known = located = None
            del first
            project = dataclasses.replace(
                project, document=Document(data=None, path=project.document.path)
            )
            if edit is not None:
                edit.release_document()
            if tenants:
                from gitopsgen.incremental import build_partial

                partial = build_partial(project, tenants)
                if partial is not None:
                    done, files = partial
                    return BuildResult(
                        project.output_dir,
                        done.written,
                        done.unchanged,
                        done.removed,
                        done.foreign,
                        files,
                        len(project.config.tenants),
                    )
            probe = cache.lookup(str(path), allow_outside, values_schema)
            if probe.entry is not None:
                # The same tenants.yaml, options and code as a build that succeeded:
                # when every file on disk still has the digest of its plan, there is
                # nothing to write (each file is read and hashed; anything else, a
                # changed, missing or stale file, runs the full build below).
                same = cache.compare_cached(probe.entry)
                if same is not None:
                    return BuildResult(
                        project.output_dir,
                        [],
                        [rel for rel in same.unchanged if rel != MANIFEST],
                        [],
                        same.foreign,
                        len(same.unchanged) - 1,
                        len(project.config.tenants),
                    )
            # Streamed: each file is rendered, verified, compared and (to a temporary)
            # written as it comes; the renames wait for the verdict on the whole plan.
            stream = _stream(project)
            result = write_stream(
                stream, project.output_dir, lambda problems: verify_problems(problems, project)
            )
            # After the tree: the cache's own file operations come last.
            _remember(probe, project, stream)
    except BaseException:
        for directory in made:
            with contextlib.suppress(OSError):
                directory.rmdir()  # only while empty: a refused first build
        raise
    return BuildResult(
        project.output_dir,
        result.written,
        result.unchanged,
        result.removed,
        result.foreign,
        len(stream.paths),
        len(project.config.tenants),
    )


def _stream(
    project: Project, sinks: Sequence[Callable[[str, RenderedFile], None]] = ()
) -> PlanStream:
    """The plan of ``project`` as a stream, keeping what the cache records of it."""
    from gitopsgen import cache
    from gitopsgen.plan import PlanStream
    from gitopsgen.platform import resolve

    return PlanStream(
        resolve(project.config, project.flux_root),
        project.source_name,
        sinks=sinks,
        digests=cache.MAX_DIGESTS,
        tree=cache.enabled(),
    )


def _remember(
    probe: Probe, project: Project, stream: PlanStream, *, walk_clean: bool = True
) -> None:
    """Record what a streamed plan learnt (its digests, its TreeSum), unless the cache
    already holds them for these inputs."""
    from gitopsgen import cache

    entry = probe.entry
    if entry is not None and (entry.digests is not None or entry.tree is not None):
        return
    cache.remember(
        probe,
        project,
        files=len(stream.paths),
        digests=stream.digests,
        tree=stream.tree.hexdigest() if stream.tree is not None else None,
        walk_clean=walk_clean,
    )


def _paths(path: Path, absolute: bool) -> Paths:
    return Paths(repository_root(path), absolute)


def validate(
    config: str | os.PathLike[str] | None = None,
    *,
    allow_outside: bool = False,
    absolute: bool = False,
    values_schema: str | None = None,
) -> Report:
    """Validate tenants.yaml only: status ``ok`` (exit 0) or ``invalid`` (exit 2)."""
    from gitopsgen.report import error_report, invalid_report, validate_report

    try:
        path = config_path(config)
    except ConfigNotFound as exc:
        return error_report("validate", str(config or CONFIG_NAME), exc)
    from gitopsgen import cache

    paths = _paths(path, absolute)
    probe = cache.lookup(str(path), allow_outside, values_schema)
    if probe.entry is not None:  # this exact file was valid here before
        return validate_report(paths.show(path), probe.entry.tenants)
    from gitopsgen.config import load

    try:
        project = load(path, allow_outside=allow_outside, values_schema=values_schema)
    except ConfigError as exc:
        return invalid_report("validate", str(path), exc, paths)
    cache.remember(probe, project)
    return validate_report(paths.show(path), len(project.config.tenants))


def check(
    config: str | os.PathLike[str] | None = None,
    *,
    allow_outside: bool = False,
    absolute: bool = False,
    values_schema: str | None = None,
) -> Report:
    """Compare the tree on disk with what build would write, and the wiring (see
    ``gitopsgen check``): status ``ok``, ``drift`` (exit 1), ``invalid`` or
    ``inconsistent`` (exit 2)."""
    from gitopsgen import cache
    from gitopsgen.report import error_report

    try:
        path = config_path(config)
    except ConfigNotFound as exc:
        return error_report("check", str(config or CONFIG_NAME), exc)
    probe = cache.lookup(str(path), allow_outside, values_schema)
    if probe.entry is not None:
        cached = cache.cached_check(probe.entry, path, absolute)
        if cached is not None:
            return cached
    from gitopsgen.config import load
    from gitopsgen.consistency import ConsistencyError, verify_problems
    from gitopsgen.reader import Document
    from gitopsgen.repocheck import RepoFacts, check_repository, walks
    from gitopsgen.report import check_report, consistency_report, invalid_report
    from gitopsgen.tree import compare_stream
    from gitopsgen.wiring import check_wiring

    try:
        project = load(path, allow_outside=allow_outside, values_schema=values_schema)
    except ConfigError as exc:
        return invalid_report("check", str(path), exc, _paths(path, absolute))
    paths = Paths(str(project.repository_root), absolute)
    label = paths.show(path)
    # Streamed: each file is rendered, verified and compared with the disk as it
    # comes; only the changed files' bytes and the repository walk's compact facts
    # (gitopsgen.repocheck.RepoFacts) stay. The check needs the model, not the text.
    project = dataclasses.replace(project, document=Document(data=None, path=str(path)))
    facts = RepoFacts() if walks(project) else None
    stream = _stream(project, [facts.add] if facts is not None else [])
    result, planned, problems = compare_stream(stream, project.output_dir)
    try:
        verify_problems(problems, project)
    except ConsistencyError as exc:
        head = exc.lines()[0]
        return consistency_report(
            "check", label, str(project.output_dir), exc.problems, head, paths
        )
    repository = check_repository(project, facts) if facts is not None else []
    _remember(probe, project, stream, walk_clean=not repository)
    return check_report(
        config=label,
        output=project.output_dir,
        files=len(stream.paths),
        tenants=len(project.config.tenants),
        comparison=result,
        planned=planned,
        wiring=check_wiring(project),
        repository=repository,
        paths=paths,
    )


def diff(
    config: str | os.PathLike[str] | None = None,
    *,
    base: str | None = None,
    base_ref: str | None = None,
    base_file: str | os.PathLike[str] | None = None,
    base_tree: str | None = None,
    against_disk: bool = False,
    option: str | None = None,
) -> DiffResult:
    """What a change to tenants.yaml changes in the cluster (see ``gitopsgen diff``):
    against the git revision ``base_ref`` (or ``base``; default: the merge base with
    the main branch), another file ``base_file``, a hand-made tree ``base_tree``
    (``REF:PATH``), or the tree on disk. ``option`` names the base in messages."""
    from gitopsgen import diff as core

    path = config_path(config)
    if against_disk:
        return core.diff_against_disk(path)
    if base_file is not None:
        return core.diff_files(Path(base_file), path, option or "--base-file")
    if base_tree is not None:
        return core.diff_tree(path, base_tree)
    ref = base_ref if base_ref is not None else base
    flag = option or ("--base-ref" if base_ref is not None else "--base")
    return core.diff_git(path, ref, option=flag)


def cluster_of(config: str | os.PathLike[str] | None, name: str | None = None) -> Cluster:
    """The cluster ``name`` of the platform (the only one when there is one)."""
    from gitopsgen.config import load
    from gitopsgen.platform import resolve

    path = config_path(config)
    project = load(path, allow_outside=True)
    platform = resolve(project.config, project.flux_root)
    names = ", ".join(c.name for c in platform.clusters)
    if name is None:
        if len(platform.clusters) > 1:
            raise GitopsgenError(f"several clusters ({names}): pass --cluster NAME")
        return platform.clusters[0]
    for cluster in platform.clusters:
        if cluster.name == name:
            return cluster
    raise GitopsgenError(f"no cluster {name!r} in {path} (clusters: {names})")


def ips(config: str | os.PathLike[str] | None = None, *, cluster: str | None = None) -> Allocation:
    """Who holds each pool address of a cluster, and what is free."""
    from gitopsgen.allocation import allocation

    return allocation(cluster_of(config, cluster))


def hosts(config: str | os.PathLike[str] | None = None, *, cluster: str | None = None) -> HostsList:
    """Every tenant hostname of a cluster and the ingress address they resolve to."""
    from gitopsgen import hostsfile

    chosen = cluster_of(config, cluster)
    return HostsList(hostsfile.ingress_address(chosen), [t.hostname for t in chosen.tenants])
