"""A small evaluator of Kubernetes NetworkPolicies (and the CiliumNetworkPolicy
subset the tree uses), to decide whether one connection is allowed.

Semantics, per the Kubernetes documentation (concepts/services-networking/
network-policies.md and the networking.k8s.io/v1 API reference):

- A pod is isolated for ingress (egress) when at least one NetworkPolicy of its
  namespace selects it and lists Ingress (Egress) in ``policyTypes``.
  ``policyTypes`` defaults to Ingress, plus Egress when the policy has egress rules.
- An isolated pod accepts (sends) a connection that at least one rule of one
  selecting policy allows; policies are additive. A connection needs both the
  source's egress and the destination's ingress.
- A rule with no ``from``/``to`` matches every peer; with no ``ports`` every port.
  A peer with only ``podSelector`` selects pods of the policy's namespace; with
  only ``namespaceSelector`` every pod of the selected namespaces; with both, the
  selected pods of the selected namespaces. ``ipBlock`` selects addresses in
  ``cidr`` and not in ``except``.
- "Pods cannot ... block access from their resident node" (the "What you can't
  do" list): traffic from the destination pod's own node is always allowed.

``cidr_matches_cluster`` chooses how ipBlock treats in-cluster endpoints: the
spec leaves it to the implementation (ipBlock "should be cluster-external IPs").
False is Cilium: "CIDR-based selectors do not match in-cluster entities (pods or
nodes)" (Cilium Documentation/security/policy/language.rst, "Selecting nodes with
CIDR / ipBlock") without ``policy-cidr-match-mode=nodes``. True matches by address
whatever the endpoint is (an iptables CNI).

CiliumNetworkPolicies count only with ``cilium=True``: ``endpointSelector`` and
egress ``toEntities`` (world, kube-apiserver, host, remote-node, cluster, all)
with ``toPorts``. Cilium unions the allows of every policy kind selecting a pod.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from ipaddress import ip_address, ip_network
from typing import Any

Obj = dict[str, Any]


@dataclass(frozen=True)
class Endpoint:
    """One side of a connection.

    kind: "pod" (a pod with its own address), "host" (a node, or a host-network
    pod on it), "apiserver" (the host API server: a host-network process on a
    control-plane node), "world" (outside the cluster).
    """

    name: str
    kind: str
    ip: str
    namespace: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    node: str | None = None


def namespace_labels(namespace: str) -> dict[str, str]:
    """The labels the API server puts on every namespace."""
    return {"kubernetes.io/metadata.name": namespace}


def selects(selector: Obj | None, labels: Mapping[str, str]) -> bool:
    """metav1.LabelSelector semantics; an empty selector selects everything."""
    if selector is None:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
        if op not in {"In", "NotIn", "Exists", "DoesNotExist"}:
            raise ValueError(f"unknown operator {op}")
    return True


def _in_block(block: Obj, address: str) -> bool:
    ip = ip_address(address)
    if ip not in ip_network(block["cidr"]):
        return False
    return not any(ip in ip_network(e) for e in block.get("except") or [])


def _policy_types(spec: Obj) -> list[str]:
    if "policyTypes" in spec:
        return list(spec["policyTypes"])
    return ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]


def _port_matches(ports: list[Obj] | None, port: int, protocol: str) -> bool:
    if not ports:
        return True
    for p in ports:
        if p.get("protocol", "TCP") != protocol:
            continue
        if "port" not in p:
            return True
        number = p["port"]
        if not isinstance(number, int):
            raise ValueError(f"named port {number!r}: the evaluator resolves numbers only")
        if number <= port <= p.get("endPort", number):
            return True
    return False


@dataclass
class Evaluator:
    policies: list[Obj]
    cidr_matches_cluster: bool = False
    cilium: bool = True

    def _peer_matches(self, peer: Obj, policy_ns: str, other: Endpoint) -> bool:
        if "ipBlock" in peer:
            if other.kind != "world" and not self.cidr_matches_cluster:
                return False
            return _in_block(peer["ipBlock"], other.ip)
        if other.kind != "pod":
            return False  # pod and namespace selectors select pods only
        ns_sel = peer.get("namespaceSelector")
        pod_sel = peer.get("podSelector")
        assert other.namespace is not None
        if ns_sel is None:
            if other.namespace != policy_ns:
                return False
        elif not selects(ns_sel, namespace_labels(other.namespace)):
            return False
        return selects(pod_sel, other.labels)

    def _netpols(self, pod: Endpoint, direction: str) -> list[Obj]:
        return [
            p
            for p in self.policies
            if p["kind"] == "NetworkPolicy"
            and p["metadata"]["namespace"] == pod.namespace
            and selects(p["spec"]["podSelector"], pod.labels)
            and direction in _policy_types(p["spec"])
        ]

    def _cilium_egress(self, pod: Endpoint) -> list[Obj]:
        if not self.cilium:
            return []
        return [
            p
            for p in self.policies
            if p["kind"] == "CiliumNetworkPolicy"
            and p["metadata"]["namespace"] == pod.namespace
            and selects(p["spec"].get("endpointSelector"), pod.labels)
            and "egress" in p["spec"]
        ]

    def _entity(self, entity: str, other: Endpoint) -> bool:
        return {
            "all": True,
            "world": other.kind == "world",
            "kube-apiserver": other.kind == "apiserver",
            "host": other.kind in {"host", "apiserver"},
            "remote-node": other.kind in {"host", "apiserver"},
            "cluster": other.kind != "world",
        }[entity]

    def egress_allowed(self, src: Endpoint, dst: Endpoint, port: int, protocol: str) -> bool:
        if src.kind != "pod":
            return True  # no policy of this tree governs a node's own traffic
        selecting = self._netpols(src, "Egress")
        cilium = self._cilium_egress(src)
        if not selecting and not cilium:
            return True
        for p in selecting:
            for rule in p["spec"].get("egress") or []:
                peers = rule.get("to")
                if (
                    not peers or any(self._peer_matches(x, src.namespace or "", dst) for x in peers)
                ) and _port_matches(rule.get("ports"), port, protocol):
                    return True
        for p in cilium:
            for rule in p["spec"]["egress"]:
                if not any(self._entity(e, dst) for e in rule.get("toEntities") or []):
                    continue
                ports = [
                    {"protocol": q.get("protocol", "TCP"), "port": int(q["port"])}
                    for tp in rule.get("toPorts") or []
                    for q in tp.get("ports") or []
                ]
                if _port_matches(ports, port, protocol):
                    return True
        return False

    def ingress_allowed(self, src: Endpoint, dst: Endpoint, port: int, protocol: str) -> bool:
        if dst.kind != "pod":
            return True
        if src.kind in {"host", "apiserver"} and src.node == dst.node:
            return True  # the resident node is never blocked
        selecting = self._netpols(dst, "Ingress")
        if not selecting:
            return True
        for p in selecting:
            for rule in p["spec"].get("ingress") or []:
                peers = rule.get("from")
                if (
                    not peers or any(self._peer_matches(x, dst.namespace or "", src) for x in peers)
                ) and _port_matches(rule.get("ports"), port, protocol):
                    return True
        return False

    def allowed(self, src: Endpoint, dst: Endpoint, port: int, protocol: str = "TCP") -> bool:
        return self.egress_allowed(src, dst, port, protocol) and self.ingress_allowed(
            src, dst, port, protocol
        )


def policy_objects(docs: Iterable[Obj]) -> list[Obj]:
    return [d for d in docs if d.get("kind") in {"NetworkPolicy", "CiliumNetworkPolicy"}]
