"""clusters/vcluster-<name>/: the vcluster's namespace, chart source and HelmRelease."""

from __future__ import annotations

from gitopsgen.model import Chart, DefaultsV2, PlatformRegistration, deep_merge
from gitopsgen.platform import Cluster, Tenant
from gitopsgen.render.base import Component, Context, Obj, RenderedFile, kustomization, seed_layout
from gitopsgen.render.workloads import tenant_values

SYNC_TO_HOST = ("pods", "services", "configMaps", "secrets", "endpoints", "persistentVolumeClaims")


# Parts of the values that are the same for every tenant: made once per build and
# shared (deep_merge copies what it changes, so sharing is safe).
def _stateful_set() -> Obj:
    return {
        "env": [
            {"name": "K3S_KUBECONFIG_OUTPUT", "value": "/data/k3s-config/kube-config.yaml"},
            {"name": "K3S_KUBECONFIG_MODE", "value": "644"},
        ]
    }


def _sync() -> Obj:
    return {"toHost": {kind: {"enabled": True} for kind in SYNC_TO_HOST}}


def _chart(chart: Chart) -> Obj:
    return {
        "spec": {
            "chart": chart.name,
            "sourceRef": {"kind": "HelmRepository", "name": chart.repository.name},
            "version": chart.version,
        }
    }


def _helm_repository(chart: Chart) -> Obj:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmRepository",
        "metadata": {"name": chart.repository.name},
        "spec": {"interval": chart.repository.interval, "url": chart.repository.url},
    }


def service_spec(tenant: Tenant) -> Obj:
    """The spec of the chart's Service. It listens on 443 unless
    controlPlane.service.spec.ports replaces its ports (loft-sh/vcluster v0.30
    chart/templates/service.yaml: `{{- if not .Values.controlPlane.service.spec.ports }}
    ... port: 443, targetPort: 8443`): with another apiPort, exportKubeConfig.server
    must name a port that is open."""
    port = tenant.defaults.vcluster.api_port
    if port == 443:
        return {"type": "LoadBalancer"}
    ports = [
        {
            "name": "https",
            "port": port,
            "protocol": "TCP",
            "targetPort": tenant.defaults.network_policies.vcluster_api_port,
        }
    ]
    return {"type": "LoadBalancer", "ports": ports}


def helm_values(ctx: Context, tenant: Tenant) -> Obj:
    """The seed's vcluster values for one tenant, then the defaults' and the
    tenant's own values deep-merged over them."""
    ip = tenant.ip
    name = tenant.names.vcluster
    port = tenant.defaults.vcluster.api_port
    values: Obj = {
        "controlPlane": {
            "service": {
                "annotations": {"metallb.universe.tf/loadBalancerIPs": ip},
                "spec": service_spec(tenant),
            },
            "distro": {"k3s": {"enabled": True, "extraArgs": [f"--tls-san={ip}"]}},
            "statefulSet": ctx.part(_stateful_set),
            "proxy": {"extraSANs": [ip]},
        },
        "exportKubeConfig": {"server": f"https://{name}.{name}:{port}"},
        "external": {"platform": {"apiServerHost": ip, "apiServerPort": port}},
        "sync": ctx.part(_sync),
    }
    defaults = tenant.defaults.vcluster.values
    if defaults:
        values = deep_merge(values, defaults)
    if tenant.vcluster.values:
        values = deep_merge(values, tenant.vcluster.values)
    return values


def auth_delegator(tenant: Tenant, subject: str) -> Obj:
    """The ``system:auth-delegator`` ClusterRoleBinding of ServiceAccount ``subject``
    in the vcluster's namespace."""
    names = tenant.names
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": names.auth_delegator},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "system:auth-delegator",
        },
        "subjects": [{"kind": "ServiceAccount", "name": subject, "namespace": names.vcluster}],
    }


def _platform_values(platform: PlatformRegistration) -> Obj:
    """``external.platform``: vcluster v0.30.4 config/config.go ``PlatformConfig``
    (``apiKey``: ``PlatformAPIKey`` secretName/namespace, ``project``), read by
    ``Config.GetPlatformConfig``."""
    key: Obj = {"secretName": platform.api_key_secret}
    if platform.api_key_namespace is not None:
        key["namespace"] = platform.api_key_namespace
    return {"platform": {"apiKey": key, "project": platform.project}}


def fleet_values(ctx: Context, tenant: Tenant) -> Obj:
    """Version 2 values: the tenant's distro, the current MetalLB annotation
    (``metallb.io/loadBalancerIPs``; MetalLB v0.15.3 controller/service.go keeps the
    ``metallb.universe.tf`` one only as ``DeprecatedAnnotationLoadBalancerIPs``), the
    Service's externalTrafficPolicy, the platform registration when configured, the
    tenant's quota and in-vcluster workload account (:func:`tenant_values`), then
    the defaults' and the tenant's own values deep-merged over them. Nothing else: the seed's
    ``external.platform.apiServerHost/Port`` are read by nothing in vcluster."""
    d = tenant.defaults
    assert isinstance(d, DefaultsV2), "fleet values of a version 1 tenant"
    ip = tenant.ip
    name = tenant.names.vcluster
    port = d.vcluster.api_port
    distro: Obj
    if tenant.distro == "k3s":
        distro = {"k3s": {"enabled": True, "extraArgs": [f"--tls-san={ip}"]}}
    else:
        distro = {"k8s": {"enabled": True}}
    control_plane: Obj = {
        "distro": distro,
        "proxy": {"extraSANs": [ip]},
        "service": {
            "annotations": {"metallb.io/loadBalancerIPs": ip},
            "spec": {
                **service_spec(tenant),
                "externalTrafficPolicy": d.vcluster.external_traffic_policy,
            },
        },
    }
    if tenant.distro == "k3s":
        control_plane["statefulSet"] = ctx.part(_stateful_set)
    values: Obj = {
        "controlPlane": control_plane,
        "exportKubeConfig": {"server": f"https://{name}.{name}:{port}"},
        "sync": ctx.part(_sync),
    }
    if d.vcluster.platform is not None:
        values["external"] = ctx.part(_platform_values, d.vcluster.platform)
    # The tenant's quota profile and the in-vcluster account its workloads (or the
    # sample workload) impersonate (render/workloads.py).
    own = tenant_values(tenant)
    if own:
        values = deep_merge(values, own)
    defaults = d.vcluster.values
    if defaults:
        values = deep_merge(values, defaults)
    if tenant.vcluster.values:
        values = deep_merge(values, tenant.vcluster.values)
    return values


def render(ctx: Context, cluster: Cluster, tenant: Tenant) -> list[RenderedFile]:
    names = tenant.names
    name = names.vcluster
    chart = tenant.defaults.vcluster.chart
    home = seed_layout(cluster).vcluster_dir(names)
    files: dict[str, Obj] = {
        f"{name}_helmrelease.yaml": {
            "apiVersion": "helm.toolkit.fluxcd.io/v2",
            "kind": "HelmRelease",
            "metadata": {"name": name},
            "spec": {
                "chart": ctx.part(_chart, chart),
                "interval": tenant.defaults.vcluster.interval,
                "values": helm_values(ctx, tenant),
            },
        },
        f"{name}_helmrepository.yaml": ctx.part(_helm_repository, chart),
        f"{name}_namespace.yaml": {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name},
        },
    }
    if tenant.vcluster.auth_delegator:
        # The seed's subject, kept for version 1: the chart's ServiceAccount is
        # names.service_account, so this binding grants nothing (SPEC-v2 section 1).
        files[f"{name}_clusterrolebinding.yaml"] = auth_delegator(tenant, name)
    resources = sorted(files)
    out = [RenderedFile.at(home.join(file), home.placement, (files[file],)) for file in resources]
    index = kustomization(resources, home.placement.namespace)
    out.append(RenderedFile.at(home.join("kustomization.yaml"), home.placement, (index,)))
    return out


COMPONENT = Component(
    "vcluster",
    kinds=("HelmRelease", "HelmRepository", "Namespace", "ClusterRoleBinding"),
    per_tenant=render,
)
