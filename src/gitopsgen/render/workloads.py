"""Version 2: a tenant's own sources, workloads, routes and quota (issue 15).

Everything here lands in the tenant's two host namespaces, never in the Flux
namespace, and nothing references an object in another namespace (Flux's
``--no-cross-namespace-refs`` lockdown):

- each source is a GitRepository / OCIRepository / HelmRepository in
  ``vcluster-<n>`` (source-controller v1 API, fluxcd/source-controller
  v1.7 api/v1/{gitrepository,ocirepository,helmrepository}_types.go);
- each workload is a Flux Kustomization (or a HelmRelease) in ``vcluster-<n>``
  beside its source. ``target: vcluster`` applies it inside the vcluster through
  the kubeconfig Secret ``vc-vcluster-<n>`` (key ``config``) and impersonates
  ServiceAccount ``tenant-<n>`` of namespace ``vcluster-<n>`` *inside the
  vcluster*: with ``spec.kubeConfig`` set, Flux impersonates
  ``system:serviceaccount:<the object's namespace>:<serviceAccountName>`` on the
  remote API (fluxcd/pkg runtime/client/impersonator.go, ``clientForKubeConfig``
  then ``setImpersonationConfig``). The vcluster itself creates that account at
  start-up (chart value ``experimental.deploy.vcluster.manifests``, vcluster
  v0.30.4 chart/values.schema.json ``ExperimentalDeployVCluster``, applied by the
  syncer's init-manifests controller, loft-sh/vcluster pkg/controllers/deploy
  ``RegisterInitManifestsController``), so no Flux object needs an
  un-impersonated identity to bootstrap it;
- ``target: host`` applies into ``tenant-<n>`` only, as ServiceAccount
  ``tenant-<n>`` of ``vcluster-<n>`` bound to a Role of ``tenant-<n>``;
- each route is an HTTPRoute in ``tenant-<n>`` to the Service vcluster syncs into
  ``vcluster-<n>``, admitted by a ReferenceGrant naming exactly those Services.

A tenant that lists no workloads gets the sample workload of version 1 (rendered
by :mod:`gitopsgen.render.fleet`), unchanged.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from gitopsgen import emit, model
from gitopsgen.platform import Platform, Tenant
from gitopsgen.render.base import FLUX_KUSTOMIZATION_API, Obj

__all__ = [
    "ATTRIBUTES",
    "Backend",
    "SecretNeed",
    "attributes",
    "backend_ports",
    "backends",
    "expected_secrets",
    "has_own_routes",
    "has_own_workloads",
    "host_access",
    "platform_secrets",
    "reference_grant",
    "route_objects",
    "source_objects",
    "tenant_files",
    "tenant_namespace_labels",
    "tenant_values",
    "vcluster_access",
    "workload_objects",
]

SOURCE_API = "source.toolkit.fluxcd.io/v1"
HELM_RELEASE_API = "helm.toolkit.fluxcd.io/v2"
GATEWAY_API = "gateway.networking.k8s.io/v1"
GRANT_API = "gateway.networking.k8s.io/v1beta1"
RBAC_API = "rbac.authorization.k8s.io/v1"

SOURCE_KINDS = {"git": "GitRepository", "oci": "OCIRepository", "helm": "HelmRepository"}

# What a host workload may manage in tenant-<n>: namespaced application objects,
# nothing that widens access (no Roles, RoleBindings) and not the routes, which
# the tree owns.
HOST_RULES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (
        ("",),
        (
            "configmaps",
            "persistentvolumeclaims",
            "pods",
            "secrets",
            "serviceaccounts",
            "services",
        ),
    ),
    (("apps",), ("deployments", "replicasets", "statefulsets")),
    (("batch",), ("cronjobs", "jobs")),
    (("autoscaling",), ("horizontalpodautoscalers",)),
    (("policy",), ("poddisruptionbudgets",)),
)

Meta = Callable[[str, str], Obj]


def _spec(tenant: Tenant) -> model.TenantV2 | None:
    spec = tenant.spec
    return spec if isinstance(spec, model.TenantV2) else None


def has_own_workloads(tenant: Tenant) -> bool:
    """Whether the tenant lists workloads (otherwise it gets the sample workload)."""
    spec = _spec(tenant)
    return spec is not None and bool(spec.workloads)


def has_own_routes(tenant: Tenant) -> bool:
    """Whether the tenant's routes are its own: listed, or none because it brings
    its own workloads (the sample route would lead to a Service that is not there)."""
    spec = _spec(tenant)
    return spec is not None and bool(spec.routes or spec.workloads)


# --- routes -------------------------------------------------------------------


@dataclass(frozen=True, order=True, slots=True)
class Backend:
    """One Service a route reaches: its synced name in ``vcluster-<n>`` and ports."""

    service: str  # the synced name on the host
    port: int  # the Service port
    target_port: int  # the pods' port


def backends(tenant: Tenant) -> tuple[Backend, ...]:
    """The host Services the tenant's routes reach, in order (the sample route's
    when the tenant keeps it)."""
    spec = _spec(tenant)
    if not has_own_routes(tenant) or spec is None:
        wl = tenant.defaults.workload
        return (Backend(tenant.backend_service, wl.port, wl.port),)
    out = {
        Backend(
            tenant.names.synced_service(r.service, r.namespace),
            r.port,
            r.target_port or r.port,
        )
        for r in spec.routes
    }
    return tuple(sorted(out))


def backend_ports(tenant: Tenant) -> tuple[int, ...]:
    """The pod ports the ingress controller must reach in ``vcluster-<n>``: exactly
    those of the tenant's routes (for the network policy). Empty when it has no
    routes: the policy must then admit nothing (an empty ``ports`` list in a
    NetworkPolicy rule would match every port)."""
    return tuple(sorted({b.target_port for b in backends(tenant)}))


def reference_grant(tenant: Tenant) -> Obj | None:
    """The ReferenceGrant in ``vcluster-<n>`` that lets the HTTPRoutes of
    ``tenant-<n>`` reach exactly the Services of :func:`backends`; None when the
    tenant has no routes (a grant needs at least one ``to``)."""
    if not backends(tenant):
        return None
    names = tenant.names
    to = [
        {"group": "", "kind": "Service", "name": s}
        for s in dict.fromkeys(b.service for b in backends(tenant))
    ]
    return {
        "apiVersion": GRANT_API,
        "kind": "ReferenceGrant",
        "metadata": {"name": names.reference_grant, "namespace": names.vcluster},
        "spec": {
            "from": [
                {
                    "group": "gateway.networking.k8s.io",
                    "kind": "HTTPRoute",
                    "namespace": names.tenant,
                }
            ],
            "to": to,
        },
    }


def route_name(route: model.TenantRoute) -> str:
    return route.name or route.service


def route_objects(tenant: Tenant) -> list[Obj]:
    """One HTTPRoute per route, in ``tenant-<n>``."""
    spec = _spec(tenant)
    if spec is None:
        return []
    gateway = tenant.defaults.ingress.gateway
    names = tenant.names
    out = []
    for r in spec.routes:
        rule: Obj = {}
        if r.paths:
            rule["matches"] = [{"path": {"type": "PathPrefix", "value": p}} for p in r.paths]
        rule["backendRefs"] = [
            {
                "kind": "Service",
                "name": names.synced_service(r.service, r.namespace),
                "namespace": names.vcluster,
                "port": r.port,
            }
        ]
        out.append(
            {
                "apiVersion": GATEWAY_API,
                "kind": "HTTPRoute",
                "metadata": {"name": route_name(r), "namespace": names.tenant},
                "spec": {
                    "parentRefs": [{"name": gateway.name, "namespace": gateway.namespace}],
                    "hostnames": [r.hostname or tenant.hostname],
                    "rules": [rule],
                },
            }
        )
    return out


# --- sources ------------------------------------------------------------------


def _secret(name: str | None) -> Obj | None:
    return {"name": name} if name is not None else None


def _ignore(paths: list[str]) -> str:
    """GitRepository ``spec.ignore`` (gitignore syntax) that keeps only ``paths``:
    exclude everything, then re-include each path (source-controller docs,
    "Excluding files": ``/*`` then ``!/deploy``)."""
    lines = ["/*"]
    for p in paths:
        lines.append("!" + posixpath.normpath("/" + p))
    return "\n".join(lines) + "\n"


def _ref(ref: model.GitRef | model.OciRef) -> Obj:
    return {k: v for k, v in ref.model_dump().items() if v is not None}


def source_kind(source: model.TenantSource) -> str:
    for key, kind in SOURCE_KINDS.items():
        if getattr(source, key) is not None:
            return kind
    raise AssertionError("validated: a source has exactly one kind")


# A Helm chart stored as an OCI artifact: its one layer, copied as it is, is the
# chart archive helm-controller reads (fluxcd/helm-controller docs/spec/v2/
# helmreleases.md "Chart reference": an OCIRepository for ``chartRef`` selects this
# media type with ``operation: copy``).
HELM_CHART_LAYER = {
    "mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
    "operation": "copy",
}


def _charts(tenant: Tenant) -> set[str]:
    """The OCI sources a helm workload of the tenant installs a chart from."""
    spec = _spec(tenant)
    if spec is None:
        return set()
    return {w.source for w in spec.workloads if w.helm is not None}


def _source(tenant: Tenant, source: model.TenantSource, meta: Meta) -> Obj:
    spec: Obj = {"interval": source.interval or tenant.defaults.flux.interval}
    if source.git is not None:
        git = source.git
        spec["url"] = git.url
        spec["ref"] = _ref(git.ref)
        if git.secret_ref is not None:
            spec["secretRef"] = _secret(git.secret_ref)
        if git.paths:
            spec["ignore"] = _ignore(git.paths)
    elif source.oci is not None:
        oci = source.oci
        spec["url"] = oci.url
        spec["ref"] = _ref(oci.ref)
        if source.name in _charts(tenant):
            spec["layerSelector"] = dict(HELM_CHART_LAYER)
        if oci.secret_ref is not None:
            spec["secretRef"] = _secret(oci.secret_ref)
        if oci.verify is not None:
            verify: Obj = {"provider": oci.verify.provider}
            if oci.verify.secret_ref is not None:
                verify["secretRef"] = _secret(oci.verify.secret_ref)
            if oci.verify.match_oidc_identity:
                verify["matchOIDCIdentity"] = [
                    {"issuer": i.issuer, "subject": i.subject}
                    for i in oci.verify.match_oidc_identity
                ]
            spec["verify"] = verify
    elif source.helm is not None:
        helm = source.helm
        spec["url"] = helm.url
        if helm.type == "oci":
            spec["type"] = "oci"
        if helm.secret_ref is not None:
            spec["secretRef"] = _secret(helm.secret_ref)
    return {
        "apiVersion": SOURCE_API,
        "kind": source_kind(source),
        "metadata": meta(source.name, tenant.names.vcluster),
        "spec": spec,
    }


def source_objects(tenant: Tenant, meta: Meta) -> list[Obj]:
    """The tenant's Flux sources, in ``vcluster-<n>``."""
    spec = _spec(tenant)
    return [_source(tenant, s, meta) for s in spec.sources] if spec is not None else []


@dataclass(frozen=True, order=True, slots=True)
class SecretNeed:
    """A Secret the tree references and never writes."""

    namespace: str
    name: str
    tenant: str
    used_by: str  # "GitRepository app", ...


def expected_secrets(tenant: Tenant) -> Iterator[SecretNeed]:
    """The Secrets the tenant's sources name (``secretRef``), which its owners
    create in ``vcluster-<n>``."""
    spec = _spec(tenant)
    if spec is None:
        return
    ns = tenant.names.vcluster
    for s in spec.sources:
        what = f"{source_kind(s)} {s.name}"
        for ref in (
            s.git.secret_ref if s.git else None,
            s.oci.secret_ref if s.oci else None,
            s.oci.verify.secret_ref if s.oci and s.oci.verify else None,
            s.helm.secret_ref if s.helm else None,
        ):
            if ref is not None:
                yield SecretNeed(ns, ref, tenant.name, what)


def platform_secrets(platform: Platform) -> list[tuple[str, SecretNeed]]:
    """Every Secret the tree expects and never writes, as (cluster, need), sorted."""
    return sorted(
        (cluster.name, need)
        for cluster in platform.clusters
        for t in cluster.tenants
        for need in expected_secrets(t)
    )


# --- workloads ----------------------------------------------------------------


def _kubeconfig(tenant: Tenant) -> Obj:
    return {"secretRef": {"name": tenant.names.kubeconfig_secret, "key": "config"}}


def _kustomization(
    tenant: Tenant, wl: model.TenantWorkload, source: model.TenantSource, meta: Meta
) -> Obj:
    flux = tenant.defaults.flux
    names = tenant.names
    spec: Obj = {}
    if wl.depends_on:
        spec["dependsOn"] = [{"name": d} for d in wl.depends_on]
    spec["interval"] = wl.interval or flux.interval
    spec["sourceRef"] = {"kind": source_kind(source), "name": source.name}
    spec["path"] = wl.path or "./"
    spec["prune"] = True
    spec["timeout"] = flux.timeout
    spec["serviceAccountName"] = names.workload_service_account
    if wl.target == "vcluster":
        spec["kubeConfig"] = _kubeconfig(tenant)
        if wl.namespace is not None:
            spec["targetNamespace"] = wl.namespace
    else:
        spec["targetNamespace"] = names.tenant
    if wl.post_build is not None and wl.post_build.substitute:
        spec["postBuild"] = {"substitute": dict(wl.post_build.substitute)}
    return {
        "apiVersion": FLUX_KUSTOMIZATION_API,
        "kind": "Kustomization",
        "metadata": meta(wl.name, names.vcluster),
        "spec": spec,
    }


def _helm_release(
    tenant: Tenant,
    wl: model.TenantWorkload,
    source: model.TenantSource,
    meta: Meta,
    labels: Obj | None,
) -> Obj:
    assert wl.helm is not None
    helm = wl.helm
    names = tenant.names
    namespace = wl.namespace or tenant.defaults.workload.namespace
    spec: Obj = {}
    if source.oci is not None:
        # helm-controller v1.4 api/v2/helmrelease_types.go: chartRef to an
        # OCIRepository (or HelmChart) in the same namespace.
        spec["chartRef"] = {"kind": "OCIRepository", "name": source.name}
    else:
        chart_spec: Obj = {"chart": helm.chart}
        if helm.version is not None:
            chart_spec["version"] = helm.version
        chart_spec["sourceRef"] = {"kind": "HelmRepository", "name": source.name}
        chart: Obj = {"spec": chart_spec}
        if labels is not None:
            chart = {"metadata": {"labels": dict(labels)}, **chart}
        spec["chart"] = chart
    if wl.depends_on:
        spec["dependsOn"] = [{"name": d} for d in wl.depends_on]
    spec["interval"] = wl.interval or tenant.defaults.flux.interval
    spec["kubeConfig"] = _kubeconfig(tenant)
    spec["serviceAccountName"] = names.workload_service_account
    spec["releaseName"] = wl.name
    spec["targetNamespace"] = namespace
    spec["storageNamespace"] = namespace
    spec["install"] = {"createNamespace": True, "remediation": {"retries": 3}}
    spec["upgrade"] = {"remediation": {"retries": 3}}
    if helm.values:
        spec["values"] = helm.values
    return {
        "apiVersion": HELM_RELEASE_API,
        "kind": "HelmRelease",
        "metadata": meta(wl.name, names.vcluster),
        "spec": spec,
    }


def workload_objects(tenant: Tenant, meta: Meta, labels: Obj | None) -> list[Obj]:
    """The tenant's workloads: Kustomizations and HelmReleases in ``vcluster-<n>``."""
    spec = _spec(tenant)
    if spec is None:
        return []
    sources = {s.name: s for s in spec.sources}
    out = []
    for wl in spec.workloads:
        source = sources[wl.source]
        if wl.helm is not None:
            out.append(_helm_release(tenant, wl, source, meta, labels))
        else:
            out.append(_kustomization(tenant, wl, source, meta))
    return out


def host_access(tenant: Tenant) -> list[Obj]:
    """For ``target: host`` workloads: ServiceAccount ``tenant-<n>`` in
    ``vcluster-<n>`` (beside the Kustomizations that name it), a Role of
    ``tenant-<n>`` and the RoleBinding granting it there, and nowhere else."""
    spec = _spec(tenant)
    if spec is None or not any(w.target == "host" for w in spec.workloads):
        return []
    names = tenant.names
    account = names.workload_service_account
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": account, "namespace": names.vcluster},
        },
        {
            "apiVersion": RBAC_API,
            "kind": "Role",
            "metadata": {"name": account, "namespace": names.tenant},
            "rules": [
                {"apiGroups": list(groups), "resources": list(resources), "verbs": ["*"]}
                for groups, resources in HOST_RULES
            ],
        },
        {
            "apiVersion": RBAC_API,
            "kind": "RoleBinding",
            "metadata": {"name": account, "namespace": names.tenant},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": names.vcluster}],
        },
    ]


# Pod Security Admission (kubernetes.io/docs/concepts/security/pod-security-admission):
# a host workload runs pods on the host cluster itself, so its namespace enforces
# the restricted profile (no privileged pods, host namespaces or host paths).
HOST_POD_SECURITY = {"pod-security.kubernetes.io/enforce": "restricted"}


def tenant_namespace_labels(tenant: Tenant) -> Obj | None:
    """Labels of namespace ``tenant-<n>``: the restricted Pod Security profile when
    a host workload applies into it, else None (the namespace stays as before)."""
    return dict(HOST_POD_SECURITY) if host_access(tenant) else None


def vcluster_access(tenant: Tenant) -> list[Obj]:
    """The objects *inside the vcluster* that ``target: vcluster`` workloads
    impersonate: namespace ``vcluster-<n>``, ServiceAccount ``tenant-<n>`` there,
    bound to ``defaults.flux.workloadClusterRole`` (cluster-admin) of the vcluster
    (the tenant owns its vcluster; the point is that Flux never acts as the
    kubeconfig's own admin user, so the lockdown's ``--default-service-account``
    holds). Empty when no workload targets the vcluster; the sample workload of a
    tenant without its own does."""
    spec = _spec(tenant)
    if spec is None:
        return []
    # The sample workload (no own workloads) applies into the vcluster too (issue 14).
    if spec.workloads and not any(w.target == "vcluster" for w in spec.workloads):
        return []
    names = tenant.names
    account = names.workload_service_account
    defaults = tenant.defaults
    assert isinstance(defaults, model.DefaultsV2)
    role = defaults.flux.workload_cluster_role
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": names.vcluster}},
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": account, "namespace": names.vcluster},
        },
        {
            "apiVersion": RBAC_API,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": account},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": role,
            },
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": names.vcluster}],
        },
    ]


def tenant_files(tenant: Tenant, meta: Meta, labels: Obj | None) -> list[tuple[str, list[Obj]]]:
    """The files of the tenant's own workloads in its ``tenant/`` directory (applied
    by the platform's ``tenant-<n>`` Kustomization): ``(file name, objects)``."""
    files = [
        ("sources.yaml", source_objects(tenant, meta)),
        ("workloads.yaml", workload_objects(tenant, meta, labels)),
        ("host-access.yaml", host_access(tenant)),
    ]
    return [(name, docs) for name, docs in files if docs]


# --- review -------------------------------------------------------------------

# The tenant attributes a diff's tenant summary names (diff.TENANT_ATTRIBUTES).
ATTRIBUTES = ("quota", "sources", "workloads", "routes")


def _source_text(s: model.TenantSource) -> str:
    body = s.git or s.oci or s.helm
    url = body.url if body is not None else "?"
    ref = ""
    if s.git is not None or s.oci is not None:
        ref_model = s.git.ref if s.git is not None else s.oci.ref  # type: ignore[union-attr]
        ref = "@" + ",".join(f"{k}={v}" for k, v in _ref(ref_model).items())
    return f"{s.name} ({source_kind(s)} {url}{ref})"


def _workload_text(w: model.TenantWorkload) -> str:
    what = f"helm {w.helm.chart or 'chart'}" if w.helm is not None else (w.path or "./")
    deps = f" after {','.join(w.depends_on)}" if w.depends_on else ""
    return f"{w.name} ({w.target}: {w.source} {what}{deps})"


def _route_text(tenant: Tenant, r: model.TenantRoute) -> str:
    paths = ",".join(r.paths) if r.paths else "/"
    host = r.hostname or tenant.hostname
    return f"{route_name(r)} ({host}{paths} -> {r.namespace}/{r.service}:{r.port})"


def attributes(tenant: Tenant) -> dict[str, object]:
    """What a review names of the tenant's own workloads: its quota profile and a
    one-line summary of each source, workload and route (empty for a version 1
    tenant, so nothing changes in its summary)."""
    spec = _spec(tenant)
    if spec is None:
        return {}
    return {
        "quota": spec.quota,
        "sources": [_source_text(s) for s in spec.sources],
        "workloads": [_workload_text(w) for w in spec.workloads],
        "routes": [_route_text(tenant, r) for r in spec.routes],
    }


# --- values: quota and the in-vcluster account ----------------------------------


def quota_profile(tenant: Tenant) -> model.QuotaProfile | None:
    spec = _spec(tenant)
    if spec is None or spec.quota is None:
        return None
    defaults = tenant.defaults
    assert isinstance(defaults, model.DefaultsV2)
    return defaults.quotas[spec.quota]


def tenant_values(tenant: Tenant) -> Obj:
    """Helm values of the tenant's vcluster from its quota profile and workloads:
    ``policies.resourceQuota`` / ``policies.limitRange`` and
    ``controlPlane.statefulSet.resources`` (vcluster v0.30.4
    chart/values.schema.json ``ResourceQuota``, ``LimitRange``, ``Resources``), and
    the in-vcluster account of :func:`vcluster_access`. Empty when neither is set."""
    values: Obj = {}
    profile = quota_profile(tenant)
    if profile is not None:
        policies: Obj = {}
        if profile.resource_quota:
            policies["resourceQuota"] = {"enabled": True, "quota": dict(profile.resource_quota)}
        lr = profile.limit_range
        if lr is not None and (lr.default or lr.default_request):
            limit_range: Obj = {"enabled": True}
            if lr.default:
                limit_range["default"] = dict(lr.default)
            if lr.default_request:
                limit_range["defaultRequest"] = dict(lr.default_request)
            policies["limitRange"] = limit_range
        if policies:
            values["policies"] = policies
        cp = profile.control_plane
        if cp is not None and (cp.requests or cp.limits):
            resources: Obj = {}
            if cp.requests:
                resources["requests"] = dict(cp.requests)
            if cp.limits:
                resources["limits"] = dict(cp.limits)
            values["controlPlane"] = {"statefulSet": {"resources": resources}}
    access = vcluster_access(tenant)
    if access:
        values["experimental"] = {"deploy": {"vcluster": {"manifests": emit.dump_stream(access)}}}
    return values
