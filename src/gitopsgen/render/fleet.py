"""Version 2: a tree per host cluster that fans out (SPEC-v2 section 3).

Flux's root sync of cluster C builds ``clusters/C/kustomization.yaml``: the chart
source(s) and one Flux Kustomization per shard (with no shards: per bucket).
Each shard Kustomization builds its shard's bucket Kustomizations; each bucket
Kustomization builds the Flux Kustomizations of the tenants whose name hashes to
it; each tenant's two Kustomizations apply its own directories. So the largest
``kustomize build`` any controller runs lists at most one bucket's tenants, and a
tenant's objects are applied and health-checked as one unit that depends only on
its own vcluster.

Sharding (Flux's ``sharding.fluxcd.io/key`` label, read by every controller's
``--watch-label-selector``): every Flux object of a sharded tenant carries its
shard's label, the HelmChart its HelmRelease creates too (``spec.chart.metadata``),
and the chart is served by a HelmRepository of the same shard, because
source-controller shards filter every source kind by the label
(fluxcd/flux2 docs "Sharding"; source-controller#2150 on moving between shards).
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence

from gitopsgen.layout import FleetLayout, Spot
from gitopsgen.model import Chart, FluxV2, HelmRemediation, PlatformRepository, SourceRef
from gitopsgen.platform import Cluster, Tenant
from gitopsgen.render import netpol_v2, vcluster, workloads
from gitopsgen.render import tenant as sample
from gitopsgen.render.base import (
    FLUX_KUSTOMIZATION_API,
    Component,
    Context,
    Obj,
    RenderedFile,
    fleet_layout,
    kustomization,
)
from gitopsgen.render.vcluster import fleet_values

SHARD_LABEL = "sharding.fluxcd.io/key"
HELM_RELEASE_API = "helm.toolkit.fluxcd.io/v2"


def shard_labels(shard: str | None) -> Obj | None:
    return {SHARD_LABEL: shard} if shard is not None else None


def _meta(name: str, namespace: str, shard: str | None) -> Obj:
    meta: Obj = {"name": name, "namespace": namespace}
    labels = shard_labels(shard)
    if labels is not None:
        meta["labels"] = labels
    return meta


def _source_ref(ref: SourceRef) -> Obj:
    return {"kind": ref.kind, "name": ref.name}


def flux_kustomization(
    ctx: Context,
    flux: FluxV2,
    name: str,
    path: str,
    shard: str | None,
    depends_on: Sequence[Obj] = (),
    *,
    namespace: str | None = None,
    extra: Obj | None = None,
) -> Obj:
    """A Flux Kustomization of the platform, from the root source in the Flux namespace.

    It names ``flux.service_account`` (kustomize-controller's own): under
    ``--default-service-account`` (the Flux Operator's ``cluster.multitenant``
    profile, internal/builder/profiles.go) a Kustomization without one impersonates
    that default account of its namespace (fluxcd/pkg runtime/client/impersonator.go);
    the profile itself gives the root sync ``serviceAccountName: kustomize-controller``."""
    spec: Obj = {}
    if depends_on:
        spec["dependsOn"] = list(depends_on)
    spec["interval"] = flux.interval
    spec["sourceRef"] = ctx.part(_source_ref, flux.source_ref)
    spec["path"] = path
    spec["prune"] = True
    spec["serviceAccountName"] = flux.service_account
    spec["timeout"] = flux.timeout
    if extra:
        spec.update(extra)
    return {
        "apiVersion": FLUX_KUSTOMIZATION_API,
        "kind": "Kustomization",
        "metadata": _meta(name, namespace or flux.namespace, shard),
        "spec": spec,
    }


def chart_repository_name(chart: Chart, shard: str | None) -> str:
    """One HelmRepository per cluster, per shard when sharded."""
    return chart.repository.name if shard is None else f"{chart.repository.name}-{shard}"


def _helm_repository(chart: Chart, namespace: str, shard: str | None) -> Obj:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmRepository",
        "metadata": _meta(chart_repository_name(chart, shard), namespace, shard),
        "spec": {"interval": chart.repository.interval, "url": chart.repository.url},
    }


def _depends(names: Sequence[str], namespace: str | None = None) -> list[Obj]:
    return [
        {"name": n} if namespace is None else {"name": n, "namespace": namespace} for n in names
    ]


# --- one tenant ----------------------------------------------------------------


def _remediation(r: HelmRemediation) -> tuple[Obj, Obj]:
    """``spec.install`` and ``spec.upgrade`` (helm-controller v1.4.5 api/v2
    helmrelease_types.go ``InstallRemediation``/``UpgradeRemediation``): without
    retries one failed first install stays failed."""
    last = r.remediate_last_failure
    install: Obj = {"remediation": {"retries": r.install_retries, "remediateLastFailure": last}}
    upgrade: Obj = {
        "remediation": {
            "retries": r.upgrade_retries,
            "remediateLastFailure": last,
            "strategy": r.upgrade_strategy,
        }
    }
    return install, upgrade


def helm_release(ctx: Context, tenant: Tenant) -> Obj:
    d = netpol_v2.fleet_defaults(tenant)
    chart = d.vcluster.chart
    names = tenant.names
    chart_obj: Obj = {
        "spec": {
            "chart": chart.name,
            "sourceRef": {
                "kind": "HelmRepository",
                "name": chart_repository_name(chart, tenant.shard),
            },
            "version": chart.version,
        }
    }
    labels = shard_labels(tenant.shard)
    if labels is not None:
        chart_obj = {"metadata": {"labels": labels}, **chart_obj}
    install, upgrade = ctx.part(_remediation, d.vcluster.remediation)
    return {
        "apiVersion": HELM_RELEASE_API,
        "kind": "HelmRelease",
        "metadata": _meta(names.vcluster, d.flux.namespace, tenant.shard),
        "spec": {
            "chart": chart_obj,
            "install": install,
            "interval": d.vcluster.interval,
            # In the Flux namespace, beside its chart source (no cross-namespace
            # reference); installed into the vcluster's own namespace.
            "releaseName": names.vcluster,
            # helm-controller, too, impersonates --default-service-account in the
            # HelmRelease's namespace under the lockdown, its own namespace included
            # (helm-controller v1.4.5 internal/kube/impersonate.go
            # DefaultServiceAccountName): name its own account.
            "serviceAccountName": d.flux.helm_service_account,
            "storageNamespace": names.vcluster,
            "targetNamespace": names.vcluster,
            "upgrade": upgrade,
            "values": fleet_values(ctx, tenant),
        },
    }


class _Dir:
    """The files of one tenant directory, and its kustomization listing them."""

    def __init__(self, spot: Spot) -> None:
        self.spot = spot
        self.files: list[RenderedFile] = []

    def add(self, name: str, *docs: Obj, comments: tuple[str | None, ...] | None = None) -> None:
        self.files.append(
            RenderedFile.at(self.spot.join(name), self.spot.placement, docs, comments)
        )

    def done(self) -> list[RenderedFile]:
        listed = sorted(f.path.rpartition("/")[2] for f in self.files)
        index = kustomization(listed)
        return [
            *self.files,
            RenderedFile.at(self.spot.join("kustomization.yaml"), self.spot.placement, (index,)),
        ]


def _flux_dir(ctx: Context, layout: FleetLayout, tenant: Tenant) -> list[RenderedFile]:
    flux = netpol_v2.fleet_defaults(tenant).flux
    names = tenant.names
    platform = list(dict.fromkeys([*flux.vcluster_depends_on, *flux.network_policies_depends_on]))
    out = _Dir(layout.flux_dir(names))
    out.add(
        "vcluster.yaml",
        flux_kustomization(
            ctx,
            flux,
            names.vcluster,
            ctx.flux_path(layout.vcluster_dir(names).path),
            tenant.shard,
            _depends(platform),
            # wait: Ready only once every object it applied is (the HelmRelease
            # after Helm's own wait for the StatefulSet): kustomize-controller
            # v1.7.3 api/v1 "Wait ... When enabled, the HealthChecks are ignored".
            extra={"retryInterval": flux.vcluster_retry_interval, "wait": True},
        ),
    )
    out.add(
        "tenant.yaml",
        flux_kustomization(
            ctx,
            flux,
            names.tenant,
            ctx.flux_path(layout.tenant_dir(names).path),
            tenant.shard,
            [{"name": names.vcluster}, *_depends(flux.routes_depends_on)],
        ),
    )
    return out.done()


def _vcluster_dir(ctx: Context, layout: FleetLayout, tenant: Tenant) -> list[RenderedFile]:
    names = tenant.names
    out = _Dir(layout.vcluster_dir(names))
    out.add(
        "namespace.yaml",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": names.vcluster}},
    )
    release_doc = helm_release(ctx, tenant)
    out.add("helmrelease.yaml", release_doc)
    flux = netpol_v2.fleet_defaults(tenant).flux
    if not workloads.host_access(tenant):  # which holds the account otherwise
        out.add("serviceaccount.yaml", workload_service_account(tenant))
    if flux.repository is not None:
        out.add(
            "gitrepository.yaml", platform_source(flux.repository, names.vcluster, tenant.shard)
        )
    pairs = netpol_v2.policies(ctx, tenant)
    out.add(
        "networkpolicies.yaml",
        *(p for _, p in pairs),
        comments=tuple(c for c, _ in pairs),
    )
    grant = workloads.reference_grant(tenant)
    if grant is not None:
        out.add("referencegrant.yaml", grant)
    if tenant.vcluster.auth_delegator:
        # The chart's control-plane ServiceAccount: vc-<release>, unless the values
        # name another (chart/templates/serviceaccount.yaml, v0.30.4).
        release = release_doc["spec"]["values"]
        advanced = release.get("controlPlane", {}).get("advanced", {})
        subject = advanced.get("serviceAccount", {}).get("name") or names.service_account
        out.add("clusterrolebinding.yaml", vcluster.auth_delegator(tenant, subject))
    return out.done()


def _tenant_dir(ctx: Context, layout: FleetLayout, tenant: Tenant) -> list[RenderedFile]:
    names = tenant.names
    out = _Dir(layout.tenant_dir(names))
    ns_meta: Obj = {"name": names.tenant}
    labels = workloads.tenant_namespace_labels(tenant)
    if labels is not None:
        ns_meta["labels"] = labels
    out.add("namespace.yaml", {"apiVersion": "v1", "kind": "Namespace", "metadata": ns_meta})
    if workloads.has_own_routes(tenant):
        routes = workloads.route_objects(tenant)
        if routes:
            out.add("httproute.yaml", *routes)
    else:
        route = sample.route(tenant)
        route = {**route, "metadata": {**route["metadata"], "namespace": names.tenant}}
        out.add("httproute.yaml", route)
    if workloads.has_own_workloads(tenant):
        # The tenant's own sources and workloads, in vcluster-<n> (render/workloads.py).
        def own_meta(name: str, namespace: str) -> Obj:
            return _meta(name, namespace, tenant.shard)

        for file, docs in workloads.tenant_files(tenant, own_meta, shard_labels(tenant.shard)):
            out.add(file, *(harden_own(tenant, d) for d in docs))
        return out.done()
    workload = sample.workload_kustomization(
        ctx, tenant, ctx.flux_path(layout.workload_dir(names).path)
    )
    meta = _meta(workload["metadata"]["name"], names.vcluster, tenant.shard)
    out.add("workload.yaml", lockdown_workload(tenant, {**workload, "metadata": meta}))
    return out.done()


def workload_service_account(tenant: Tenant) -> Obj:
    """The account the workload Kustomizations name (``tenant-<n>`` in
    ``vcluster-<n>``). kustomize-controller checks that it exists on the host before
    pruning on deletion (``CanImpersonate``), and impersonates it inside the vcluster,
    where vcluster's own manifests bind it (render/workloads.py ``vcluster_access``)."""
    names = tenant.names
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(names.workload_service_account, names.vcluster, None),
    }


def platform_source(repo: PlatformRepository, namespace: str, shard: str | None) -> Obj:
    """The platform repository in the vcluster namespace: the workload's source
    without a cross-namespace reference (``--no-cross-namespace-refs``:
    kustomize-controller v1.7.3 ``getSource`` refuses any other namespace)."""
    spec: Obj = {"interval": repo.interval, "ref": {"branch": repo.branch}}
    if repo.secret_ref is not None:
        spec["secretRef"] = {"name": repo.secret_ref}
    spec["url"] = repo.url
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": _meta(repo.name, namespace, shard),
        "spec": spec,
    }


def lockdown_workload(tenant: Tenant, ks: Obj) -> Obj:
    """The workload Kustomization made lockdown-ready and safe to delete: its source
    in its own namespace (when ``defaults.flux.repository`` is set), the account it
    impersonates inside the vcluster, a retry interval, and a deletion policy.

    Deletion: with Delete/MirrorPrune and an inventory, kustomize-controller's
    ``finalize`` (v1.7.3 internal/controller/kustomization_controller.go) builds a
    client from the kubeconfig Secret and returns the error, retrying, while it
    cannot; the Secret and the API go with the vcluster. Without a
    serviceAccountName (the seed) ``CanImpersonate`` is always true and that error
    repeats until someone removes the finalizer, leaving the namespace Terminating;
    with one it ends only once the account is deleted. ``Orphan`` never needs the
    vcluster (its objects die with it)."""
    flux = netpol_v2.fleet_defaults(tenant).flux
    spec = dict(ks["spec"])
    if flux.repository is not None:
        spec["sourceRef"] = {"kind": "GitRepository", "name": flux.repository.name}
    spec["serviceAccountName"] = tenant.names.workload_service_account
    spec["retryInterval"] = flux.workload_retry_interval
    spec["deletionPolicy"] = flux.workload_deletion_policy
    return {**ks, "spec": dict(sorted(spec.items()))}


def harden_own(tenant: Tenant, doc: Obj) -> Obj:
    """A tenant's own Kustomization that applies into its vcluster gets the same
    retry interval and deletion policy as the sample workload (see
    :func:`lockdown_workload`); everything else is returned as it is."""
    spec = doc.get("spec") or {}
    if doc.get("kind") != "Kustomization" or "kubeConfig" not in spec:
        return doc
    flux = netpol_v2.fleet_defaults(tenant).flux
    spec = {**spec, "retryInterval": flux.workload_retry_interval}
    spec["deletionPolicy"] = flux.workload_deletion_policy
    return {**doc, "spec": dict(sorted(spec.items()))}


def _workload_dir(ctx: Context, layout: FleetLayout, tenant: Tenant) -> list[RenderedFile]:
    if workloads.has_own_workloads(tenant):
        return []  # no sample workload: the tenant brings its own
    wl = tenant.defaults.workload
    return sample.workload_files(ctx, layout.workload_dir(tenant.names), wl)


def render_tenant(ctx: Context, cluster: Cluster, tenant: Tenant) -> list[RenderedFile]:
    layout = fleet_layout(cluster)
    return [
        *_flux_dir(ctx, layout, tenant),
        *_vcluster_dir(ctx, layout, tenant),
        *_tenant_dir(ctx, layout, tenant),
        *_workload_dir(ctx, layout, tenant),
    ]


# --- one cluster: the entry point and the fan-out ---------------------------------


def _bucket_name(shard: str | None, bucket: int) -> str:
    return f"bucket-{bucket:02x}" if shard is None else f"shard-{shard}-bucket-{bucket:02x}"


def _relative(from_dir: str, to_dir: str) -> str:
    """``posixpath.relpath(to_dir, from_dir)`` without its two ``abspath`` calls
    (``os.getcwd`` each; one bucket index lists every tenant of its bucket) for the
    normalized relative paths the layout makes; anything else goes to relpath."""
    start, path = from_dir.split("/"), to_dir.split("/")
    if {"", ".", ".."} & {*start, *path}:
        return posixpath.relpath(to_dir, from_dir)
    same = 0
    for a, b in zip(start, path, strict=False):
        if a != b:
            break
        same += 1
    return "/".join([".."] * (len(start) - same) + path[same:]) or "."


def render_cluster(ctx: Context, cluster: Cluster) -> list[RenderedFile]:
    layout = fleet_layout(cluster)
    d = cluster.defaults
    flux = d.flux
    assert isinstance(flux, FluxV2), "the fleet tree of a version 1 cluster"
    host = layout.host
    ns = flux.namespace
    shards: list[str | None] = list(cluster.shards) or [None]
    groups: dict[tuple[str | None, int], list[Tenant]] = {}
    for t in cluster.tenants:
        groups.setdefault((t.shard, t.bucket), []).append(t)
    files: list[RenderedFile] = []

    def flux_file(path: str, doc: Obj) -> None:
        files.append(RenderedFile(path, (doc,), None, ns, host))

    def index(path: str, resources: list[str]) -> None:
        files.append(RenderedFile(path, (kustomization(resources),), None, ns, host))

    # Bucket indexes: each lists the Flux directories of its tenants.
    by_shard: dict[str | None, list[int]] = {s: [] for s in shards}
    for (shard, bucket), tenants in sorted(
        groups.items(), key=lambda kv: (kv[0][0] or "", kv[0][1])
    ):
        directory = layout.bucket_dir(shard, bucket)
        index(
            f"{directory}/kustomization.yaml",
            [_relative(directory, layout.flux_dir(t.names).path) for t in tenants],
        )
        by_shard.setdefault(shard, []).append(bucket)

    entry = layout.entry_dir
    entry_files: list[str] = []
    repositories = tuple(
        ctx.part(_helm_repository, t_chart, ns, shard)
        for shard in shards
        for t_chart in (d.vcluster.chart,)
    )
    files.append(RenderedFile(layout.sources_path, repositories, None, ns, host))
    entry_files.append(layout.sources_path.rpartition("/")[2])
    for shard in shards:
        # Where this shard's bucket Kustomizations live: the entry point without shards.
        where = entry if shard is None else layout.shard_dir(shard)
        listed = []
        for bucket in sorted(by_shard.get(shard, [])):
            name = _bucket_name(shard, bucket)
            file = f"{name}_kustomization.yaml"
            flux_file(
                f"{where}/{file}",
                flux_kustomization(
                    ctx, flux, name, ctx.flux_path(layout.bucket_dir(shard, bucket)), shard
                ),
            )
            listed.append(file)
        if shard is None:
            entry_files += listed
            continue
        index(f"{where}/kustomization.yaml", listed)
        file = f"shard-{shard}_kustomization.yaml"
        flux_file(
            f"{entry}/{file}",
            flux_kustomization(ctx, flux, f"shard-{shard}", ctx.flux_path(where), shard),
        )
        entry_files.append(file)
    index(f"{entry}/kustomization.yaml", sorted(entry_files))
    return files


COMPONENT = Component(
    "fleet",
    kinds=(
        "Kustomization",
        "HelmRelease",
        "HelmRepository",
        "Namespace",
        "NetworkPolicy",
        "CiliumNetworkPolicy",
        "ServiceAccount",
        "GitRepository",
        "ReferenceGrant",
        "ClusterRoleBinding",
        "HTTPRoute",
        "Deployment",
        "Service",
        "GitRepository",
        "OCIRepository",
        "ServiceAccount",
        "Role",
        "RoleBinding",
    ),
    per_tenant=render_tenant,
    per_cluster=render_cluster,
)
