"""clusters/host-cluster/: the Flux Kustomizations that reconcile every generated
directory, and the index that lists them."""

from __future__ import annotations

from collections.abc import Sequence

from gitopsgen.model import Tenant
from gitopsgen.render.base import FLUX_KUSTOMIZATION_API, Context, Obj, Output, kustomization

BASE = "clusters/host-cluster"
NETWORK_POLICIES = "network-policies"


def _flux_ks(
    ctx: Context, name: str, depends_on: Sequence[str], path: str, *, timeout: bool = True
) -> Obj:
    flux = ctx.config.defaults.flux
    spec: Obj = {}
    if depends_on:
        spec["dependsOn"] = [{"name": dep} for dep in depends_on]
    spec["interval"] = flux.interval
    spec["sourceRef"] = ctx.shared(
        "flux.sourceRef", lambda: {"kind": flux.source_ref.kind, "name": flux.source_ref.name}
    )
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


def render_tenant(ctx: Context, tenant: Tenant) -> list[Output]:
    flux = ctx.config.defaults.flux
    vname, tname = f"vcluster-{tenant.name}", f"tenant-{tenant.name}"
    vcluster = _flux_ks(ctx, vname, flux.vcluster_depends_on, ctx.flux_path("clusters", vname))
    workload = _flux_ks(ctx, tname, [vname], ctx.flux_path("tenant", tname), timeout=False)
    return [
        Output(f"{BASE}/{vname}_kustomization.yaml", (vcluster,), tenant.name, flux.namespace),
        Output(f"{BASE}/{tname}_kustomization.yaml", (workload,), tenant.name, flux.namespace),
    ]


def render_shared(ctx: Context, tenants: Sequence[Tenant]) -> list[Output]:
    flux = ctx.config.defaults.flux
    depends = list(flux.network_policies_depends_on) + [f"vcluster-{t.name}" for t in tenants]
    netpol = _flux_ks(
        ctx, NETWORK_POLICIES, depends, ctx.flux_path("infrastructure", NETWORK_POLICIES)
    )
    netpol_file = f"{NETWORK_POLICIES}_kustomization.yaml"
    resources = sorted(
        [netpol_file]
        + [f"vcluster-{t.name}_kustomization.yaml" for t in tenants]
        + [f"tenant-{t.name}_kustomization.yaml" for t in tenants]
    )
    return [
        Output(f"{BASE}/{netpol_file}", (netpol,), None, flux.namespace),
        Output(
            f"{BASE}/kustomization.yaml",
            (kustomization(resources, flux.namespace),),
            None,
            flux.namespace,
        ),
    ]
