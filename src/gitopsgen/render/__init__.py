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
from gitopsgen.render import flux, gateway, netpol, tenant, vcluster
from gitopsgen.render.base import Component, Context, RenderedFile

__all__ = [
    "COMPONENTS",
    "GENERATED_KINDS",
    "Component",
    "Context",
    "RenderedFile",
    "render_cluster_files",
    "render_platform",
    "render_tenant_files",
]

COMPONENTS: tuple[Component, ...] = (
    vcluster.COMPONENT,
    tenant.COMPONENT,
    flux.COMPONENT,
    netpol.COMPONENT,
    gateway.COMPONENT,
)

# Every kind a generated tree can hold.
GENERATED_KINDS = frozenset(kind for c in COMPONENTS for kind in c.kinds)


def render_tenant_files(ctx: Context, cluster: Cluster, t: Tenant) -> list[RenderedFile]:
    """The files ``t`` owns."""
    return [
        f for c in COMPONENTS if c.per_tenant is not None for f in c.per_tenant(ctx, cluster, t)
    ]


def render_cluster_files(ctx: Context, cluster: Cluster) -> list[RenderedFile]:
    """The files of ``cluster`` that no single tenant owns (indexes, shared grants)."""
    return [f for c in COMPONENTS if c.per_cluster is not None for f in c.per_cluster(ctx, cluster)]


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
