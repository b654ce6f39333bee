"""clusters/vcluster-<name>/: the vcluster's namespace, chart source and HelmRelease."""

from __future__ import annotations

from gitopsgen.model import Tenant
from gitopsgen.render.base import Context, Obj, Output, deep_merge, kustomization

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


def helm_values(ctx: Context, tenant: Tenant) -> Obj:
    """The seed's vcluster values for one tenant, then the defaults' and the
    tenant's own values deep-merged over them."""
    ip = tenant.ip
    name = f"vcluster-{tenant.name}"
    port = ctx.config.defaults.vcluster.api_port
    service_spec: Obj = {"type": "LoadBalancer"}
    if port != 443:
        # The chart's Service listens on 443 unless controlPlane.service.spec.ports
        # replaces its ports (loft-sh/vcluster v0.30 chart/templates/service.yaml:
        # `{{- if not .Values.controlPlane.service.spec.ports }} ... port: 443,
        # targetPort: 8443`): exportKubeConfig.server must name a port that is open.
        service_spec["ports"] = [
            {
                "name": "https",
                "port": port,
                "protocol": "TCP",
                "targetPort": ctx.config.defaults.network_policies.vcluster_api_port,
            }
        ]
    values: Obj = {
        "controlPlane": {
            "service": {
                "annotations": {"metallb.universe.tf/loadBalancerIPs": ip},
                "spec": service_spec,
            },
            "distro": {"k3s": {"enabled": True, "extraArgs": [f"--tls-san={ip}"]}},
            "statefulSet": ctx.shared("vcluster.statefulSet", _stateful_set),
            "proxy": {"extraSANs": [ip]},
        },
        "exportKubeConfig": {"server": f"https://{name}.{name}:{port}"},
        "external": {"platform": {"apiServerHost": ip, "apiServerPort": port}},
        "sync": ctx.shared("vcluster.sync", _sync),
    }
    defaults = ctx.config.defaults.vcluster.values
    if defaults:
        values = deep_merge(values, defaults)
    if tenant.vcluster.values:
        values = deep_merge(values, tenant.vcluster.values)
    return values


def render(ctx: Context, tenant: Tenant) -> list[Output]:
    name = f"vcluster-{tenant.name}"
    chart = ctx.config.defaults.vcluster.chart
    base = f"clusters/{name}"
    files: dict[str, Obj] = {
        f"{name}_helmrelease.yaml": {
            "apiVersion": "helm.toolkit.fluxcd.io/v2",
            "kind": "HelmRelease",
            "metadata": {"name": name},
            "spec": {
                "chart": ctx.shared(
                    "vcluster.chart",
                    lambda: {
                        "spec": {
                            "chart": chart.name,
                            "sourceRef": {"kind": "HelmRepository", "name": chart.repository.name},
                            "version": chart.version,
                        }
                    },
                ),
                "interval": ctx.config.defaults.vcluster.interval,
                "values": helm_values(ctx, tenant),
            },
        },
        f"{name}_helmrepository.yaml": ctx.shared(
            "vcluster.helmrepository",
            lambda: {
                "apiVersion": "source.toolkit.fluxcd.io/v1",
                "kind": "HelmRepository",
                "metadata": {"name": chart.repository.name},
                "spec": {"interval": chart.repository.interval, "url": chart.repository.url},
            },
        ),
        f"{name}_namespace.yaml": {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name},
        },
    }
    if tenant.vcluster.auth_delegator:
        files[f"{name}_clusterrolebinding.yaml"] = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"{name}:auth-delegator"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:auth-delegator",
            },
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": name}],
        }
    resources = sorted(files)
    out = [Output(f"{base}/{file}", (files[file],), tenant.name, name) for file in resources]
    out.append(
        Output(f"{base}/kustomization.yaml", (kustomization(resources, name),), tenant.name, name)
    )
    return out
