"""Proof of the version 2 isolation: every flow of the seed README's isolation
table, and the flows the seed got wrong, evaluated against the NetworkPolicies the
tree generates (tests/support/netpol_eval.py models the NetworkPolicy spec)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from conftest import SEED_V2
from gitopsgen.config import parse
from gitopsgen.plan import render_outputs
from support.netpol_eval import Endpoint, Evaluator, policy_objects

SHARED_SEED_README = Path(__file__).resolve().parents[2] / "shared" / "seed" / "README.md"

# The seed README's "Network Isolation Summary" table (../shared/seed/README.md),
# copied as data: (from, to, port, expected, why).
SEED_TABLE = [
    ("vcluster-a pod", "vcluster-b pod", "80", "BLOCKED", "Cross-namespace isolation"),
    ("vcluster-a pod", "vcluster-a pod", "any", "ALLOWED", "Same-namespace policy"),
    ("Traefik (ns: traefik)", "nginx in vcluster-X", "80", "ALLOWED", "allow-traefik-ingress"),
    ("Flux (ns: flux-system)", "vcluster-X-0", "8443", "ALLOWED", "allow-flux-to-vcluster-api"),
    (
        "External (vcluster connect)",
        "vcluster-X-0",
        "8443",
        "ALLOWED",
        "allow-external-vcluster-api",
    ),
    ("kube-system (CoreDNS)", "vcluster-X pods", "53", "ALLOWED", "allow-dns"),
    ("Prometheus", "vcluster-X pods", "metrics", "ALLOWED", "allow-prometheus-scraping"),
    ("MetalLB speaker", "vcluster-X pods", "any", "ALLOWED", "allow-metallb"),
]

# The labels vcluster v0.30.4 rewrites when it syncs a pod to the host
# (pkg/util/translate/single_namespace.go LabelsToTranslate), and the two it sets
# (labels.go HostLabelsMap: MarkerLabel = the vcluster's name, NamespaceLabel).
TRANSLATED = {
    "release",
    "vcluster.loft.sh/namespace",
    "vcluster.loft.sh/managed-by",
    "vcluster.loft.sh/controlled-by",
}


def synced_labels(virtual: dict[str, str], vcluster: str, namespace: str) -> dict[str, str]:
    """The host labels of a pod a tenant creates in its vcluster: a translated key
    is moved under vcluster's label prefix (its exact form does not matter here),
    the rest copied, then the marker and namespace labels set."""
    host = {
        (f"vcluster.loft.sh/label-{k}" if k in TRANSLATED else k): v for k, v in virtual.items()
    }
    host["vcluster.loft.sh/managed-by"] = vcluster
    host["vcluster.loft.sh/namespace"] = namespace
    return host


def _policies(text: str) -> list[dict[str, Any]]:
    config, _ = parse(text)
    return policy_objects(d for f in render_outputs(config, "./generated") for d in f.docs)


def _control_plane(n: str, ip: str, node: str) -> Endpoint:
    # The chart's StatefulSet pod labels (chart templates/statefulset.yaml v0.30.4).
    return Endpoint(
        f"vcluster-{n}-0",
        "pod",
        ip,
        f"vcluster-{n}",
        {"app": "vcluster", "release": f"vcluster-{n}"},
        node,
    )


def _tenant_pod(n: str, labels: dict[str, str], ip: str, node: str) -> Endpoint:
    vc = f"vcluster-{n}"
    return Endpoint(f"{vc}:{labels}", "pod", ip, vc, synced_labels(labels, vc, "default"), node)


A_CP = _control_plane("a", "10.244.1.10", "worker")
B_CP = _control_plane("b", "10.244.2.10", "worker2")
A_NGINX = _tenant_pod("a", {"app": "nginx"}, "10.244.1.11", "worker")
A_OTHER = _tenant_pod("a", {"app": "job"}, "10.244.2.12", "worker2")
B_NGINX = _tenant_pod("b", {"app": "nginx"}, "10.244.2.11", "worker2")
# A tenant pod dressed as vcluster-b's control plane, and as its own.
A_FORGED = _tenant_pod("a", {"app": "vcluster", "release": "vcluster-b"}, "10.244.1.13", "worker")
A_FORGED_SELF = _tenant_pod(
    "a", {"app": "vcluster", "release": "vcluster-a"}, "10.244.1.14", "worker"
)
TRAEFIK = Endpoint(
    "traefik", "pod", "10.244.3.5", "traefik", {"app.kubernetes.io/name": "traefik"}, "worker"
)
KUSTOMIZE = Endpoint(
    "kustomize-controller", "pod", "10.244.3.6", "flux-system", {"app": "kustomize-controller"}
)
SOURCE = Endpoint(
    "source-controller", "pod", "10.244.3.7", "flux-system", {"app": "source-controller"}
)
COREDNS = Endpoint("coredns", "pod", "10.244.0.3", "kube-system", {"k8s-app": "kube-dns"})
OTHER_KUBE_SYSTEM = Endpoint(
    "metrics-server", "pod", "10.244.0.4", "kube-system", {"k8s-app": "metrics-server"}
)
PROMETHEUS = Endpoint(
    "prometheus",
    "pod",
    "10.244.3.8",
    "kube-prometheus-stack",
    {"app.kubernetes.io/name": "prometheus"},
)
# The MetalLB speaker uses host networking: it is its node.
SPEAKER_LOCAL = Endpoint("speaker on worker", "host", "172.18.0.3", node="worker")
SPEAKER_REMOTE = Endpoint("speaker on worker2", "host", "172.18.0.4", node="worker2")
# With externalTrafficPolicy Local the client's address reaches the pod.
CLIENT = Endpoint("vcluster connect from the docker host", "world", "172.18.0.1")
INTERNET = Endpoint("internet", "world", "1.1.1.1")
APISERVER = Endpoint("kube-apiserver", "apiserver", "172.18.0.2", node="control-plane")

# (from, to, port, protocol, allowed, the seed table's row or why): the seed's
# rows as version 2 keeps them, then the flows the seed left open.
FLOWS: list[tuple[Endpoint, Endpoint, int, str, bool, str]] = [
    (A_NGINX, B_NGINX, 80, "TCP", False, SEED_TABLE[0][4]),
    (A_NGINX, A_OTHER, 12345, "TCP", True, SEED_TABLE[1][4]),
    (A_NGINX, A_CP, 8443, "TCP", True, "pods reach their vcluster's API in the namespace"),
    (TRAEFIK, A_NGINX, 80, "TCP", True, SEED_TABLE[2][4]),
    (TRAEFIK, B_NGINX, 80, "TCP", True, SEED_TABLE[2][4]),
    (KUSTOMIZE, A_CP, 8443, "TCP", True, SEED_TABLE[3][4]),
    (KUSTOMIZE, B_CP, 8443, "TCP", True, SEED_TABLE[3][4]),
    (CLIENT, A_CP, 8443, "TCP", True, SEED_TABLE[4][4]),
    # The seed's "allow-dns" row means name resolution works: the query is the
    # vcluster pod's egress to CoreDNS (the reply belongs to that connection).
    (A_NGINX, COREDNS, 53, "UDP", True, SEED_TABLE[5][4]),
    (A_CP, COREDNS, 53, "TCP", True, SEED_TABLE[5][4]),
    (PROMETHEUS, A_NGINX, 9113, "TCP", True, SEED_TABLE[6][4]),
    # The speaker is its node: allowed with no policy (a pod cannot block its node).
    (SPEAKER_LOCAL, A_NGINX, 7472, "TCP", True, SEED_TABLE[7][4]),
    # What version 2 closes.
    (A_NGINX, B_CP, 8443, "TCP", False, "tenant a -> tenant b's vcluster API"),
    (B_NGINX, A_CP, 8443, "TCP", False, "tenant b -> tenant a's vcluster API"),
    (A_NGINX, INTERNET, 443, "TCP", False, "tenant pod -> internet"),
    (A_CP, INTERNET, 443, "TCP", False, "control plane -> internet"),
    (A_NGINX, OTHER_KUBE_SYSTEM, 443, "TCP", False, "only DNS in kube-system"),
    (A_NGINX, COREDNS, 8080, "TCP", False, "only port 53 of CoreDNS"),
    (A_CP, APISERVER, 6443, "TCP", True, "the control plane syncs through the host API"),
    (A_NGINX, APISERVER, 6443, "TCP", False, "a tenant pod never reaches the host API"),
    (A_FORGED_SELF, APISERVER, 6443, "TCP", False, "forged release label: still a tenant pod"),
    (CLIENT, A_FORGED_SELF, 8443, "TCP", False, "forged app/release labels are not selected"),
    (A_FORGED, B_CP, 8443, "TCP", False, "forging vcluster-b's labels gains nothing"),
    (SOURCE, A_CP, 8443, "TCP", False, "only kustomize-controller of the Flux namespace"),
    (TRAEFIK, A_CP, 8443, "TCP", False, "Traefik reaches workloads, not the API"),
    (TRAEFIK, A_NGINX, 8080, "TCP", False, "Traefik reaches the workload port only"),
    (SPEAKER_REMOTE, A_CP, 8443, "TCP", False, "another node's host traffic is not external"),
    (PROMETHEUS, A_CP, 8443, "TCP", True, "Prometheus scrapes every pod (as the seed)"),
]


@pytest.fixture(scope="module")
def cilium() -> Evaluator:
    return Evaluator(_policies(SEED_V2), cidr_matches_cluster=False, cilium=True)


@pytest.mark.parametrize(
    ("src", "dst", "port", "protocol", "expected", "why"),
    FLOWS,
    ids=[f"{f[0].name}->{f[1].name}:{f[2]}" for f in FLOWS],
)
def test_flow_on_cilium(
    cilium: Evaluator,
    src: Endpoint,
    dst: Endpoint,
    port: int,
    protocol: str,
    expected: bool,
    why: str,
) -> None:
    assert cilium.allowed(src, dst, port, protocol) is expected, why


def test_every_seed_row_is_covered() -> None:
    """Each row of the seed's table is checked by at least one flow, with the
    table's own verdict."""
    for _from, _to, _port, verdict, why in SEED_TABLE:
        checked = [f for f in FLOWS if f[5] == why]
        assert checked, f"no flow checks the seed row {why!r}"
        assert all(f[4] is (verdict == "ALLOWED") for f in checked), why


def test_the_evaluator_rejects_the_seed_policies() -> None:
    """The same flows against the seed's own 8 policies (version 1 of the same
    tenants): the holes the issue names are real in the evaluator too, so the
    version 2 verdicts above are not the evaluator's defaults."""
    v1 = textwrap.dedent(
        """\
        version: 1
        pool: [172.18.0.200-172.18.0.220]
        reserved: {traefik: 172.18.0.200}
        tenants:
          - {name: a, ip: 172.18.0.210}
          - {name: b, ip: 172.18.0.211}
        """
    )
    seed = Evaluator(_policies(v1))
    assert seed.allowed(A_NGINX, B_CP, 8443)  # defect 1: no from on the API policy
    assert seed.allowed(A_NGINX, INTERNET, 443)  # defect 3: no egress policy
    assert seed.allowed(CLIENT, A_FORGED_SELF, 8443)  # defect 2: app: vcluster is forgeable


def test_no_selector_on_a_label_a_tenant_can_set(cilium: Evaluator) -> None:
    for p in cilium.policies:
        spec = p["spec"]
        selector = spec.get("podSelector", spec.get("endpointSelector"))
        keys = set(selector.get("matchLabels") or {}) | {
            e["key"] for e in selector.get("matchExpressions") or []
        }
        assert keys <= TRANSLATED, (p["metadata"], keys)
        for rule in [*(spec.get("ingress") or []), *(spec.get("egress") or [])]:
            for peer in [*(rule.get("from") or []), *(rule.get("to") or [])]:
                pods = peer.get("podSelector")
                if pods and "namespaceSelector" not in peer:
                    # a peer in the vcluster namespace itself: only {} (any pod)
                    assert pods == {}, (p["metadata"], peer)
                if "namespaceSelector" in peer:
                    names = peer["namespaceSelector"]["matchLabels"]
                    assert set(names) == {"kubernetes.io/metadata.name"}
                    assert not names["kubernetes.io/metadata.name"].startswith("vcluster-")


def test_no_allow_metallb(cilium: Evaluator) -> None:
    assert not [p for p in cilium.policies if p["metadata"]["name"] == "allow-metallb"]
    namespaces = {p["metadata"]["namespace"] for p in cilium.policies}
    assert namespaces == {"vcluster-a", "vcluster-b", "vcluster-c"}


def test_generic_cni_ipblock_semantics() -> None:
    """On a CNI whose ipBlock matches every address, the pod CIDR's except keeps
    tenant pods out of other vclusters' API, and the API server is an ipBlock."""
    text = SEED_V2 + textwrap.dedent(
        """\
        defaults:
          networkPolicies:
            cni: generic
            apiServerCidrs: [172.18.0.2/32]
        """
    )
    ev = Evaluator(_policies(text), cidr_matches_cluster=True, cilium=False)
    assert not [p for p in ev.policies if p["kind"] == "CiliumNetworkPolicy"]
    assert ev.allowed(CLIENT, A_CP, 8443)
    assert not ev.allowed(A_NGINX, B_CP, 8443)
    assert ev.allowed(A_CP, APISERVER, 6443)
    assert not ev.allowed(A_NGINX, APISERVER, 6443)


def test_cilium_without_cnp_has_no_apiserver_path() -> None:
    """Why cni: cilium renders a CiliumNetworkPolicy: the plain policies alone
    cannot admit the control plane's egress to the API server on Cilium."""
    plain = [p for p in _policies(SEED_V2) if p["kind"] == "NetworkPolicy"]
    assert not Evaluator(plain, cidr_matches_cluster=False, cilium=True).allowed(
        A_CP, APISERVER, 6443
    )


def test_egress_cidrs_open_the_internet_to_workloads_only() -> None:
    text = SEED_V2 + "defaults:\n  networkPolicies:\n    egressCidrs: [0.0.0.0/0]\n"
    ev = Evaluator(_policies(text))
    assert ev.allowed(A_NGINX, INTERNET, 443)
    assert not ev.allowed(A_CP, INTERNET, 443)
    assert not ev.allowed(A_NGINX, B_CP, 8443)  # ipBlock never matches pods on Cilium


def test_a_sharded_tenant_admits_its_shard_controller_only() -> None:
    text = textwrap.dedent(
        """\
        version: 2
        clusters:
          - name: eu-1
            pool: [10.10.0.0/24]
            shards: [s1, s2]
        tenants:
          - {name: a, ip: 10.10.0.10, shard: s1}
        """
    )
    ev = Evaluator(_policies(text))
    shard = Endpoint(
        "kc-s1", "pod", "10.244.3.9", "flux-system", {"app": "kustomize-controller-s1"}
    )
    other = Endpoint(
        "kc-s2", "pod", "10.244.3.10", "flux-system", {"app": "kustomize-controller-s2"}
    )
    assert ev.allowed(shard, A_CP, 8443)
    assert not ev.allowed(other, A_CP, 8443)
    assert not ev.allowed(KUSTOMIZE, A_CP, 8443)


@pytest.mark.skipif(not SHARED_SEED_README.exists(), reason="../shared/seed/README.md is absent")
def test_table_copied_from_the_seed_readme() -> None:
    """The table above is the seed README's, row for row."""
    text = SHARED_SEED_README.read_text()
    section = text.split("### Network Isolation Summary", 1)[1].split("\n---", 1)[0]
    rows = [
        tuple(c.strip() for c in line.strip().strip("|").split("|"))
        for line in section.splitlines()
        if line.startswith("|") and not line.startswith("|--") and "Expected" not in line
    ]
    assert rows == SEED_TABLE
