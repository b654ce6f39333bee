"""Pure functions from the resolved platform to manifests, one component per concern.

Each component (:class:`~gitopsgen.render.base.Component`) renders
:class:`~gitopsgen.render.base.RenderedFile` values: a path relative to the output
directory, the objects of that file and where they land. :data:`COMPONENTS` is the
one registry that :mod:`gitopsgen.plan` and :mod:`gitopsgen.diff` iterate. Nothing
here touches the file system or formats YAML.
"""

from __future__ import annotations

from collections.abc import Iterable

from gitopsgen.platform import Cluster, Tenant
from gitopsgen.render import fleet, flux, gateway, netpol, tenant, vcluster
from gitopsgen.render.base import Component, Context, RenderedFile

__all__ = [
    "COMPONENTS",
    "FLEET_COMPONENTS",
    "GENERATED_KINDS",
    "SEED_COMPONENTS",
    "Component",
    "Context",
    "RenderedFile",
    "components",
    "render_cluster_files",
    "render_platform",
    "render_tenant_files",
]

# Version 1: the seed's layout, one component per directory of it.
SEED_COMPONENTS: tuple[Component, ...] = (
    vcluster.COMPONENT,
    tenant.COMPONENT,
    flux.COMPONENT,
    netpol.COMPONENT,
    gateway.COMPONENT,
)
# Version 2: the fleet layout.
FLEET_COMPONENTS: tuple[Component, ...] = (fleet.COMPONENT,)
COMPONENTS = SEED_COMPONENTS + FLEET_COMPONENTS

# Every kind a generated tree can hold.
GENERATED_KINDS = frozenset(kind for c in COMPONENTS for kind in c.kinds)


def components(version: int) -> tuple[Component, ...]:
    return SEED_COMPONENTS if version == 1 else FLEET_COMPONENTS


def render_tenant_files(ctx: Context, cluster: Cluster, t: Tenant) -> list[RenderedFile]:
    """The files ``t`` owns."""
    found = components(ctx.platform.version)
    return [f for c in found if c.per_tenant is not None for f in c.per_tenant(ctx, cluster, t)]


def render_cluster_files(ctx: Context, cluster: Cluster) -> list[RenderedFile]:
    """The files of ``cluster`` that no single tenant owns (indexes, shared grants)."""
    found = components(ctx.platform.version)
    return [f for c in found if c.per_cluster is not None for f in c.per_cluster(ctx, cluster)]


def render_platform(
    ctx: Context, only: Iterable[str] | None = None, *, shared: bool = True
) -> list[RenderedFile]:
    """Every file of ``ctx.platform``; with ``only``, the own files of just those
    tenants; without ``shared``, no cluster-wide files."""
    wanted = None if only is None else set(only)
    files: list[RenderedFile] = []
    for cluster in ctx.platform.clusters:
        for t in cluster.tenants:
            if wanted is None or t.name in wanted:
                files += render_tenant_files(ctx, cluster, t)
        if shared:
            files += render_cluster_files(ctx, cluster)
    return files
