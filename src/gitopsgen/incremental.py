"""Incremental plans: after an edit of a few tenants, only their files and the files
every tenant contributes to.

A full plan renders every tenant. After ``add-tenant``, ``remove-tenant`` or
``build --tenant NAME`` only the named tenants' own files
(:func:`gitopsgen.render.render_tenant_files`) and the cluster-level files
(:func:`gitopsgen.render.render_cluster_files`: the indexes, the shared grants) can
differ, so those are rendered, emitted, verified and written; every other file is
what the directory's manifest says gitopsgen wrote, and is trusted, not read.

Which old file belongs to whom is read backwards from its path
(:meth:`gitopsgen.layout.Layout.owner`), the one place that derives paths. A path
of the manifest that belongs to a named tenant, to no tenant (a cluster-level
file), or to a tenant that is gone is *covered*: it is replaced by what the partial
plan renders, or removed. The new manifest is the old one without the covered paths,
plus every rendered path: exactly the manifest of the full plan, which the property
test (tests/test_incremental.py) checks over random sequences of edits, byte for
byte, file for file.

A plain ``build`` and ``check`` still render and compare every file.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gitopsgen.plan import MANIFEST, Plan, PlannedFile, emit_outputs, manifest_file

if TYPE_CHECKING:
    from gitopsgen.config import Project
    from gitopsgen.platform import Platform
    from gitopsgen.tree import WriteResult

__all__ = ["PartialPlan", "build_partial", "plan_partial", "verify_partial"]


@dataclass(frozen=True)
class PartialPlan:
    """What an edit of ``tenants`` changes in a tree whose manifest was ``old``.

    ``plan`` holds the rendered files and the new manifest; ``covered`` every path the
    partial plan speaks for (rendered, or to be removed: ``stale``)."""

    tenants: frozenset[str]
    plan: Plan
    covered: frozenset[str]
    manifest: tuple[str, ...]

    @property
    def stale(self) -> list[str]:
        return sorted(self.covered - set(self.plan))


def plan_partial(
    platform: Platform, tenants: Iterable[str], old_manifest: Iterable[str], source: str
) -> PartialPlan:
    """The files of ``tenants`` (present or gone) and every cluster-level file, against a
    directory whose manifest lists ``old_manifest``."""
    from gitopsgen.render import Context, render_cluster_files, render_tenant_files

    named = frozenset(tenants)
    present = {t.name for c in platform.clusters for t in c.tenants}
    ctx = Context(platform)
    rendered = []
    for cluster in platform.clusters:
        for t in cluster.tenants:
            if t.name in named:
                rendered += render_tenant_files(ctx, cluster, t)
        rendered += render_cluster_files(ctx, cluster)
    files: dict[str, PlannedFile] = emit_outputs(ctx, rendered, source)
    # Sorted once: each layout reads only its own run of it, and what is kept stays
    # in order for the new manifest.
    rest = sorted(old_manifest)
    at = bisect_left(rest, MANIFEST)
    if rest[at : at + 1] == [MANIFEST]:
        del rest[at]
    owners: dict[str, str] = {}
    # The first cluster that places a path wins: later answers are overwritten. Each
    # layout passes over another cluster's paths at the cost of one prefix test.
    for cluster in reversed(platform.clusters):
        owners.update(cluster.layout.owners(rest, ordered=True))
    # Kept: the files of a tenant that is still there and not named; covered: the
    # rest (cluster-level files, the named tenants', those of tenants gone).
    keep = present - named
    kept = [rel for rel in rest if owners.get(rel) in keep]
    covered = set(files).union(set(rest).difference(kept))
    # kept is in order: sorting is a merge; a path is listed once.
    manifest = tuple(dict.fromkeys(sorted([*kept, *files])))
    files[MANIFEST] = manifest_file(manifest, source)
    return PartialPlan(named, Plan(dict(sorted(files.items()))), frozenset(covered), manifest)


def verify_partial(partial: PartialPlan, platform: Platform, where: str) -> None:
    """:func:`gitopsgen.consistency.verify` for a partial plan: the Flux Kustomizations
    of the tenants it does not render are in the trusted rest of the tree, so a
    cluster-level file may depend on them (version 1's network-policies does)."""
    from gitopsgen.consistency import ConsistencyError, find_inconsistencies

    flux = platform.config.defaults.flux
    trusted = [
        name
        for cluster in platform.clusters
        for t in cluster.tenants
        if t.name not in partial.tenants
        for name in (t.names.vcluster, t.names.tenant)
    ]
    problems = find_inconsistencies(
        partial.plan,
        flux_root=platform.flux_root,
        external=[*flux.external, *trusted],
        flux_namespace=flux.namespace,
    )
    if problems:
        raise ConsistencyError(problems, where)


def build_partial(project: Project, tenants: Iterable[str]) -> tuple[WriteResult, int] | None:
    """Write the partial plan of ``tenants`` into the project's tree: (what was done,
    the number of files the tree now holds); None when the tree cannot be trusted
    for the rest (no manifest yet, or the journal of a killed build: the caller
    runs a full build, which finishes that one's job).

    The caller holds the output directory's lock (gitopsgen.api.build), and read
    and planned tenants.yaml inside it: the manifest read here is the one the
    write extends."""
    from gitopsgen.platform import resolve
    from gitopsgen.tree import read_manifest, write

    root = project.output_dir
    old = read_manifest(root)
    if old is None:
        return None
    platform = resolve(project.config, project.flux_root)
    partial = plan_partial(platform, tenants, old, project.source_name)
    verify_partial(partial, platform, str(root))
    result = write(partial.plan, root, scope=partial.covered, locked=True, manifest=old)
    return result, len(partial.manifest)
