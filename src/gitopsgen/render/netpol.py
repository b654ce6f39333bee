"""infrastructure/network-policies/: the eight NetworkPolicies that isolate each
vcluster namespace, as the seed repository defines them."""

from __future__ import annotations

from gitopsgen.model import Defaults, NetworkPolicies
from gitopsgen.platform import Cluster, Tenant
from gitopsgen.render.base import Component, Context, Obj, RenderedFile, kustomization, seed_layout
from gitopsgen.render.workloads import backend_ports

_API = "networking.k8s.io/v1"


def _from_namespace(name: str) -> Obj:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def _policy(namespace: str, name: str, spec: Obj) -> Obj:
    return {
        "apiVersion": _API,
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def _specs(
    np: NetworkPolicies, flux_ns: str, workload_ports: tuple[int, ...]
) -> list[tuple[str, Obj]]:
    """(name, spec) of the eight policies: the same for every vcluster namespace."""
    every: Obj = {}
    vcluster_pods: Obj = {"matchLabels": {"app": "vcluster"}}
    ingress = ["Ingress"]
    api_port = np.vcluster_api_port
    return [
        ("deny-all-ingress", {"podSelector": every, "policyTypes": ingress}),
        (
            "allow-same-namespace",
            {
                "podSelector": every,
                "policyTypes": ingress,
                "ingress": [{"from": [{"podSelector": {}}]}],
            },
        ),
        (
            "allow-traefik-ingress",
            {
                "podSelector": every,
                "policyTypes": ingress,
                # No routes, no ports: admit nothing (a rule without ports would
                # match every port).
                "ingress": [
                    {
                        "from": [_from_namespace(np.ingress_namespace)],
                        "ports": [{"protocol": "TCP", "port": p} for p in workload_ports],
                    }
                ]
                if workload_ports
                else [],
            },
        ),
        (
            "allow-flux-to-vcluster-api",
            {
                "podSelector": vcluster_pods,
                "policyTypes": ingress,
                "ingress": [
                    {
                        "from": [_from_namespace(flux_ns)],
                        "ports": [{"protocol": "TCP", "port": api_port}],
                    }
                ],
            },
        ),
        (
            "allow-dns",
            {
                "podSelector": every,
                "policyTypes": ingress,
                "ingress": [
                    {
                        "from": [_from_namespace(np.dns_namespace)],
                        "ports": [
                            {"protocol": "UDP", "port": 53},
                            {"protocol": "TCP", "port": 53},
                        ],
                    }
                ],
            },
        ),
        (
            "allow-prometheus-scraping",
            {
                "podSelector": every,
                "policyTypes": ingress,
                "ingress": [{"from": [_from_namespace(np.prometheus_namespace)]}],
            },
        ),
        (
            "allow-external-vcluster-api",
            {
                "podSelector": vcluster_pods,
                "policyTypes": ingress,
                "ingress": [{"ports": [{"protocol": "TCP", "port": api_port}]}],
            },
        ),
        (
            "allow-metallb",
            {
                "podSelector": every,
                "policyTypes": ingress,
                "ingress": [{"from": [_from_namespace(np.metallb_namespace)]}],
            },
        ),
    ]


def _comments(defaults: Defaults, ns: str) -> list[str]:
    """The comment above each policy in ``ns``: what it allows, as configured (the
    seed's text by default)."""
    np = defaults.network_policies
    ingress_who = (
        "Traefik"
        if np.ingress_namespace == "traefik"
        else f"the ingress controller in {np.ingress_namespace}"
    )
    workload = defaults.workload.name
    return [
        f"Default deny all ingress traffic to {ns} namespace",
        f"Allow pods within {ns} to communicate with each other",
        f"Allow {ingress_who} to reach synced {workload} services (HTTP routing)",
        "Allow Flux to reach the vcluster API server (workload deployment)",
        f"Allow DNS resolution from {np.dns_namespace}",
        "Allow Prometheus to scrape metrics",
        "Allow external access to vcluster API (vcluster connect, kubectl)\n"
        "Traffic from outside the cluster arrives via kube-proxy SNAT with pod CIDR "
        "source IPs.\nThe vcluster API server has its own TLS client certificate "
        "authentication.",
        "Allow MetalLB speaker communication",
    ]


def policies(ctx: Context, tenant: Tenant) -> list[tuple[str, Obj]]:
    """(comment, NetworkPolicy) pairs for one vcluster namespace.

    The specs are rendered once per build for each set of settings and shared by
    every tenant's policies that has those settings."""
    ns = tenant.names.vcluster
    d = tenant.defaults
    # The ports of the tenant's routes' backends (the sample workload's port unless
    # a version 2 tenant lists its own routes).
    specs = ctx.part(_specs, d.network_policies, d.flux.namespace, backend_ports(tenant))
    return [
        (comment, _policy(ns, name, spec))
        for comment, (name, spec) in zip(_comments(d, ns), specs, strict=True)
    ]


def render_tenant(ctx: Context, cluster: Cluster, tenant: Tenant) -> list[RenderedFile]:
    pairs = policies(ctx, tenant)
    spot = seed_layout(cluster).netpol(tenant.names)
    return [
        RenderedFile.at(
            spot.path,
            spot.placement,
            tuple(p for _, p in pairs),
            comments=tuple(c for c, _ in pairs),
        )
    ]


def render_cluster(ctx: Context, cluster: Cluster) -> list[RenderedFile]:
    layout = seed_layout(cluster)
    files = [layout.netpol(t.names).path.rpartition("/")[2] for t in cluster.tenants]
    return [
        RenderedFile(
            f"{layout.netpol_dir}/kustomization.yaml", (kustomization(files),), target=layout.host
        )
    ]


COMPONENT = Component(
    "netpol",
    kinds=("NetworkPolicy",),
    per_tenant=render_tenant,
    per_cluster=render_cluster,
)
