"""Version 2: the network policies of one vcluster namespace (SPEC-v2 section 3).

Default deny, ingress and egress, then one allow per flow the vcluster needs. Every
selector on a pod of the vcluster namespace uses a label that a tenant cannot set:

- ``release: vcluster-<n>`` is on the chart's control-plane pods (chart
  templates/statefulset.yaml, v0.30.4). vcluster rewrites a synced pod's
  ``release`` label (``LabelsToTranslate``: release, vcluster.loft.sh/namespace,
  vcluster.loft.sh/managed-by, vcluster.loft.sh/controlled-by, in
  pkg/util/translate/single_namespace.go, v0.30.4; ``HostLabelsMap`` in
  pkg/util/translate/labels.go prefixes them), so a tenant pod never carries it.
- ``vcluster.loft.sh/managed-by: vcluster-<n>`` is set by the syncer on every pod
  it syncs (``HostLabelsMap``: ``newLabels[MarkerLabel] = VClusterName``), and a
  tenant's own value of that key is rewritten the same way.

Pods in other namespaces are selected by namespace name
(``kubernetes.io/metadata.name``, set by the API server) and a label of the
platform's own pods there, which no tenant can create.

The API through the LoadBalancer: a plain NetworkPolicy ``ipBlock``, not a
CiliumNetworkPolicy ``fromEntities``. Cilium's CIDR selectors "do not match
in-cluster entities (pods or nodes)" (Documentation/security/policy/language.rst,
"Selecting nodes with CIDR / ipBlock"), so an ipBlock admits exactly the clients
whose address reaches the pod unchanged: ``world``. The LoadBalancer Service is
given ``externalTrafficPolicy: Local`` so that kube-proxy (the seed runs Cilium
with ``kubeProxyReplacement: false``) does not SNAT the client to a node address,
which would arrive as ``host``/``remote-node``. ``fromEntities: [world,
remote-node, host]`` would instead admit every node and every host-network pod
of the cluster, which is what the seed's open policy got wrong.

The host API server: on Cilium an ipBlock of its (node) addresses matches nothing
for the same reason, so with ``cni: cilium`` the control plane's egress to it is a
CiliumNetworkPolicy ``toEntities: [kube-apiserver]``; with ``cni: generic`` an
ipBlock of ``api_server_cidrs``.
"""

from __future__ import annotations

from ipaddress import ip_network

from gitopsgen.model import DefaultsV2, NetworkPoliciesV2, PlatformRegistration
from gitopsgen.platform import Tenant
from gitopsgen.render import workloads
from gitopsgen.render.base import Context, Obj

NETPOL_API = "networking.k8s.io/v1"
CILIUM_API = "cilium.io/v2"
# vcluster v0.30.4 pkg/util/translate/types.go: MarkerLabel.
MANAGED_BY = "vcluster.loft.sh/managed-by"
RELEASE = "release"
# The labels vcluster rewrites on every synced object (LabelsToTranslate, v0.30.4):
# a tenant cannot put these on a host pod, so only these may select one.
UNFORGEABLE = frozenset(
    {
        RELEASE,
        "vcluster.loft.sh/namespace",
        MANAGED_BY,
        "vcluster.loft.sh/controlled-by",
    }
)
NAMESPACE_LABEL = "kubernetes.io/metadata.name"


def fleet_defaults(tenant: Tenant) -> DefaultsV2:
    d = tenant.defaults
    assert isinstance(d, DefaultsV2), "a version 2 component on a version 1 tenant"
    return d


def _label(pair: str) -> Obj:
    key, _, value = pair.partition("=")
    return {key: value}


def _peer(namespace: str, pod_label: str | None) -> Obj:
    peer: Obj = {"namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: namespace}}}
    if pod_label is not None:
        peer["podSelector"] = {"matchLabels": _label(pod_label)}
    return peer


def _tcp(*ports: int) -> list[Obj]:
    return [{"protocol": "TCP", "port": p} for p in ports]


def _policy(namespace: str, name: str, spec: Obj) -> Obj:
    return {
        "apiVersion": NETPOL_API,
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def flux_pod_label(np: NetworkPoliciesV2, shard: str | None) -> str:
    """The kustomize-controller pods that reconcile the tenant: ``app:
    kustomize-controller`` (the Deployment's pod template, flux-operator
    config/data/flux/v2.7.5/kustomize-controller.yaml), a shard's own for a sharded
    tenant (the Flux Operator renames a shard's pods' ``app`` label to
    ``kustomize-controller-<shard>``: internal/builder/templates.go, v0.58)."""
    return np.flux_pod_label if shard is None else f"{np.flux_pod_label}-{shard}"


def workload_ports(tenant: Tenant) -> tuple[int, ...]:
    """The pod ports the ingress controller may reach: those of the tenant's routes
    (the sample route's when it keeps it), empty when it has none."""
    return workloads.backend_ports(tenant)


def _specs(
    np: NetworkPoliciesV2,
    flux_ns: str,
    flux_label: str,
    ports: tuple[int, ...],
    platform: PlatformRegistration | None,
) -> list[tuple[str, str, str, Obj]]:
    """(name, comment, whom it selects, rest of the spec) of the plain NetworkPolicies
    of a vcluster namespace: the same for every tenant with these settings, so made
    once per build (``Context.part``); :func:`policies` adds each tenant's selector."""
    every, control_plane, synced = "every", RELEASE, MANAGED_BY
    api = np.vcluster_api_port
    both = ["Ingress", "Egress"]
    out: list[tuple[str, str, str, Obj]] = [
        (
            "default-deny",
            "Default deny: nothing enters or leaves a pod of this namespace unless a\n"
            "policy below allows it",
            every,
            {"policyTypes": both},
        ),
        (
            "allow-same-namespace",
            "The control plane and its synced pods talk freely (the tenant's pods, its\n"
            "CoreDNS, the API they reach through the in-vcluster kubernetes Service)",
            every,
            {
                "policyTypes": both,
                "ingress": [{"from": [{"podSelector": {}}]}],
                "egress": [{"to": [{"podSelector": {}}]}],
            },
        ),
        (
            "allow-dns-egress",
            f"DNS: every pod may query the cluster DNS in {np.dns_namespace}",
            every,
            {
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [_peer(np.dns_namespace, np.dns_pod_label)],
                        "ports": [
                            {"protocol": "UDP", "port": 53},
                            {"protocol": "TCP", "port": 53},
                        ],
                    }
                ],
            },
        ),
        (
            "allow-flux-to-vcluster-api",
            "Flux's kustomize-controller applies the tenant's workload through the\n"
            "vcluster API (the kubeconfig Secret's Service); no other pod of the Flux\n"
            "namespace",
            control_plane,
            {
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [_peer(flux_ns, flux_label)], "ports": _tcp(api)}],
            },
        ),
        (
            "allow-external-vcluster-api",
            "vcluster connect / kubectl from outside the cluster, through the\n"
            "LoadBalancer (externalTrafficPolicy Local keeps the client's address);\n"
            "an ipBlock never matches a pod or node on Cilium, and the pod CIDR is\n"
            "excepted for CNIs where it would",
            control_plane,
            {
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [
                            {"ipBlock": _block(cidr, np.api_from_except)}
                            for cidr in np.api_from_cidrs
                        ],
                        "ports": _tcp(api),
                    }
                ],
            },
        ),
        (
            "allow-traefik-ingress",
            f"The ingress controller in {np.ingress_namespace} reaches synced workload pods\n"
            "on the routed ports only (not the vcluster API)",
            synced,
            {
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [_peer(np.ingress_namespace, np.ingress_pod_label)],
                        "ports": _tcp(*ports),
                    }
                ],
            },
        ),
        (
            "allow-prometheus-scraping",
            f"Prometheus in {np.prometheus_namespace} scrapes metrics",
            every,
            {
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [_peer(np.prometheus_namespace, None)]}],
            },
        ),
    ]
    if not ports:
        # No routes: admit nothing (a rule without ports would admit every port).
        out = [
            (n, c, w, {**r, "ingress": []} if n == "allow-traefik-ingress" else r)
            for n, c, w, r in out
        ]
    if np.cni == "generic":
        out.append(
            (
                "allow-apiserver-egress",
                "The control plane syncs through the host API server",
                control_plane,
                {
                    "policyTypes": ["Egress"],
                    "egress": [
                        {
                            "to": [{"ipBlock": {"cidr": c}} for c in np.api_server_cidrs],
                            "ports": _tcp(*np.api_server_ports),
                        }
                    ],
                },
            )
        )
    if platform is not None:
        out.append(
            (
                "allow-platform-egress",
                "The control plane registers with vCluster Platform",
                control_plane,
                {
                    "policyTypes": ["Egress"],
                    "egress": [{"to": [_peer(platform.namespace, None)]}],
                },
            )
        )
    if np.egress_cidrs:
        out.append(
            (
                "allow-workload-egress",
                "Tenant pods may reach these destinations outside the cluster",
                synced,
                {
                    "policyTypes": ["Egress"],
                    "egress": [{"to": [{"ipBlock": {"cidr": c}} for c in np.egress_cidrs]}],
                },
            )
        )
    return out


def _shared_specs(
    settings: str,
    flux_ns: str,
    flux_label: str,
    ports: tuple[int, ...],
    platform: PlatformRegistration | None,
) -> list[tuple[str, str, str, Obj]]:
    np = NetworkPoliciesV2.model_validate_json(settings)
    return _specs(np, flux_ns, flux_label, ports, platform)


def _block(cidr: str, excepted: list[str]) -> Obj:
    inside = [e for e in excepted if _contains(cidr, e)]
    return {"cidr": cidr, "except": inside} if inside else {"cidr": cidr}


def _contains(outer: str, inner: str) -> bool:
    a, b = ip_network(outer, strict=False), ip_network(inner, strict=False)
    return a.version == b.version and b.subnet_of(a) and a != b  # type: ignore[arg-type]


def _apiserver(np: NetworkPoliciesV2, vcluster: str) -> Obj:
    return {
        "endpointSelector": {"matchLabels": {RELEASE: vcluster}},
        "egress": [
            {
                "toEntities": ["kube-apiserver"],
                "toPorts": [
                    {"ports": [{"port": str(p), "protocol": "TCP"} for p in np.api_server_ports]}
                ],
            }
        ],
    }


def policies(ctx: Context, tenant: Tenant) -> list[tuple[str, Obj]]:
    """(comment, policy) pairs of one vcluster namespace, in a stable order."""
    d = fleet_defaults(tenant)
    np = d.network_policies
    ns = tenant.names.vcluster
    key = np.model_dump_json()  # hashable: the settings have list fields
    specs = ctx.part(
        _shared_specs,
        key,
        d.flux.namespace,
        flux_pod_label(np, tenant.shard),
        workload_ports(tenant),
        d.vcluster.platform,
    )
    selectors = {
        "every": {},
        RELEASE: {"matchLabels": {RELEASE: ns}},
        MANAGED_BY: {"matchLabels": {MANAGED_BY: ns}},
    }
    out = [
        (comment, _policy(ns, name, {"podSelector": selectors[whom], **rest}))
        for name, comment, whom, rest in specs
    ]
    if np.cni == "cilium":
        out.append(
            (
                "The control plane syncs through the host API server. On Cilium a plain\n"
                "NetworkPolicy ipBlock cannot select it (CIDR selectors never match\n"
                "nodes by default): the kube-apiserver entity does",
                {
                    "apiVersion": CILIUM_API,
                    "kind": "CiliumNetworkPolicy",
                    "metadata": {"name": "allow-apiserver-egress", "namespace": ns},
                    "spec": _apiserver(np, ns),
                },
            )
        )
    return out
