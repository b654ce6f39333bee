"""clusters/host-cluster/: the Flux Kustomizations that reconcile every generated
directory, and the index that lists them."""

from __future__ import annotations

from collections.abc import Sequence

from gitopsgen.model import Flux, SourceRef
from gitopsgen.platform import Cluster, Tenant
from gitopsgen.render.base import (
    FLUX_KUSTOMIZATION_API,
    Component,
    Context,
    Obj,
    RenderedFile,
    kustomization,
    seed_layout,
)


def _source_ref(ref: SourceRef) -> Obj:
    return {"kind": ref.kind, "name": ref.name}


def _flux_ks(
    ctx: Context, flux: Flux, name: str, depends_on: Sequence[str], path: str, *, timeout: bool
) -> Obj:
    spec: Obj = {}
    if depends_on:
        spec["dependsOn"] = [{"name": dep} for dep in depends_on]
    spec["interval"] = flux.interval
    spec["sourceRef"] = ctx.part(_source_ref, flux.source_ref)
    spec["path"] = path
    spec["prune"] = True
    if timeout:
        spec["timeout"] = flux.timeout
    return {
        "apiVersion": FLUX_KUSTOMIZATION_API,
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": flux.namespace},
        "spec": spec,
    }


def render_tenant(ctx: Context, cluster: Cluster, tenant: Tenant) -> list[RenderedFile]:
    flux = tenant.defaults.flux
    names, layout = tenant.names, seed_layout(cluster)
    vname, tname = names.vcluster, names.tenant
    vcluster_path = ctx.flux_path(layout.vcluster_dir(names).path)
    tenant_path = ctx.flux_path(layout.tenant_dir(names).path)
    vcluster = _flux_ks(ctx, flux, vname, flux.vcluster_depends_on, vcluster_path, timeout=True)
    workload = _flux_ks(ctx, flux, tname, [vname], tenant_path, timeout=False)
    vks, tks = layout.vcluster_ks(names), layout.tenant_ks(names)
    return [
        RenderedFile.at(vks.path, vks.placement, (vcluster,)),
        RenderedFile.at(tks.path, tks.placement, (workload,)),
    ]


def render_cluster(ctx: Context, cluster: Cluster) -> list[RenderedFile]:
    flux = cluster.defaults.flux
    layout = seed_layout(cluster)
    tenants = cluster.tenants
    depends = list(flux.network_policies_depends_on) + [t.names.vcluster for t in tenants]
    netpol = _flux_ks(
        ctx,
        flux,
        layout.network_policies,
        depends,
        ctx.flux_path(layout.netpol_dir),
        timeout=True,
    )
    netpol_path = layout.network_policies_path
    entries = [netpol_path, *(layout.vcluster_ks(t.names).path for t in tenants)]
    entries += [layout.tenant_ks(t.names).path for t in tenants]
    resources = sorted(entry.rpartition("/")[2] for entry in entries)
    host = layout.host
    return [
        RenderedFile(netpol_path, (netpol,), None, flux.namespace, host),
        RenderedFile(
            f"{layout.flux_dir}/kustomization.yaml",
            (kustomization(resources, flux.namespace),),
            None,
            flux.namespace,
            host,
        ),
    ]


COMPONENT = Component(
    "flux", kinds=("Kustomization",), per_tenant=render_tenant, per_cluster=render_cluster
)
