"""Every version 2 object is what its API accepts: Helm values against the vcluster
v0.30.4 chart schema (no deprecated key), Flux and Gateway objects against their
CRD schemas with unknown fields rejected, core objects with kubernetes-validate
--strict. Then the lockdown, health and platform-registration properties of the
tree, checked object by object."""

from __future__ import annotations

import copy
import json
import textwrap
from functools import cache
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from conftest import REPO, SEED_V2
from gitopsgen.config import parse
from gitopsgen.plan import render_outputs
from support.crds import validator

SHARED = REPO.parent / "shared" / "reference"
VALUES_SCHEMA = SHARED / "vcluster" / "values.schema.json"
CRDS = SHARED / "crds"
K8S_VERSION = "1.33.0"
CORE_APIS = {"v1", "apps/v1", "networking.k8s.io/v1", "rbac.authorization.k8s.io/v1"}


EVERYTHING = textwrap.dedent(
    """\
    version: 2
    defaults:
      flux:
        repository:
          url: https://github.com/acme/platform.git
          secretRef: platform-git
      vcluster:
        platform:
          project: default
          apiKeySecret: platform-key
          apiKeyNamespace: vcluster-platform
      networkPolicies:
        cni: generic
        apiServerCidrs: [10.10.0.2/32]
        egressCidrs: [0.0.0.0/0]
    clusters:
      - name: eu-1
        pool: [10.10.0.0/24]
        shards: [s1, s2]
    tenants:
      - {name: a, ip: 10.10.0.10, shard: s1, vcluster: {distro: k3s}}
      - {name: b, ip: 10.10.0.11, shard: s2}
    """
)

CONFIGS = {
    "seed-v2": SEED_V2,
    "everything": EVERYTHING,
    "examples/fleet": (REPO / "examples" / "fleet" / "tenants.yaml").read_text(),
    "examples/workloads": (REPO / "examples" / "workloads" / "tenants.yaml").read_text(),
}


@cache
def _docs(name: str) -> tuple[dict[str, Any], ...]:
    config, _ = parse(CONFIGS[name])
    # Cluster objects only: not the kustomize index files (kustomization.yaml).
    docs = (d for f in render_outputs(config, "./generated") for d in f.docs)
    return tuple(d for d in docs if d["apiVersion"] != "kustomize.config.k8s.io/v1beta1")


def _kind(name: str, kind: str) -> list[dict[str, Any]]:
    """The objects of ``kind``; for HelmRelease the vclusters' (not a tenant's own)."""
    found = [d for d in _docs(name) if d["kind"] == kind]
    if kind == "HelmRelease":
        found = [d for d in found if d["metadata"]["namespace"] == FLUX_NS]
    return found


def _walk_deprecated(
    value: Any, schema: dict[str, Any], defs: dict[str, Any], path: str
) -> list[str]:
    """Paths of the values whose schema says they are deprecated."""
    while "$ref" in schema:
        schema = {
            **defs[schema["$ref"].rsplit("/", 1)[1]],
            **{k: v for k, v in schema.items() if k != "$ref"},
        }
    found = [path] if "deprecated" in (schema.get("description") or "").lower() else []
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for key, sub in value.items():
            if key in props:
                found += _walk_deprecated(sub, props[key], defs, f"{path}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, sub in enumerate(value):
            found += _walk_deprecated(sub, schema["items"], defs, f"{path}[{i}]")
    return found


@pytest.mark.skipif(not VALUES_SCHEMA.exists(), reason=f"{VALUES_SCHEMA} is absent")
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_helm_values_validate_against_the_chart_schema(name: str) -> None:
    schema = json.loads(VALUES_SCHEMA.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    releases = _kind(name, "HelmRelease")
    assert releases
    for release in releases:
        values = release["spec"]["values"]
        errors = [e.message for e in validator.iter_errors(values)]
        assert not errors, (release["metadata"]["name"], errors)
        deprecated = _walk_deprecated(values, schema, schema["$defs"], "values")
        # A pinned k3s tenant keeps its deprecated distro (it can never change);
        # nothing else deprecated anywhere.
        pinned = "k3s" in values["controlPlane"]["distro"]
        assert deprecated == (["values.controlPlane.distro.k3s"] if pinned else [])
        distros = [k for k, v in values["controlPlane"]["distro"].items() if v.get("enabled")]
        assert len(distros) == 1


@pytest.mark.skipif(not VALUES_SCHEMA.exists(), reason=f"{VALUES_SCHEMA} is absent")
def test_deprecated_walk_finds_the_seeds_k3s() -> None:
    """The deprecation check can fail: the seed's k3s values trip it."""
    schema = json.loads(VALUES_SCHEMA.read_text())
    seed_values = {"controlPlane": {"distro": {"k3s": {"enabled": True}}}}
    assert _walk_deprecated(seed_values, schema, schema["$defs"], "values") == [
        "values.controlPlane.distro.k3s"
    ]


def test_pinned_k3s_is_the_only_deprecated_key() -> None:
    """A migrated tenant keeps k3s (it cannot change); every other tenant is k8s."""
    for name in CONFIGS:
        for release in _kind(name, "HelmRelease"):
            distro = release["spec"]["values"]["controlPlane"]["distro"]
            assert set(distro) in ({"k8s"}, {"k3s"}), distro
    by_name = {r["metadata"]["name"]: r for r in _kind("seed-v2", "HelmRelease")}
    assert set(by_name["vcluster-a"]["spec"]["values"]["controlPlane"]["distro"]) == {"k3s"}
    assert set(by_name["vcluster-c"]["spec"]["values"]["controlPlane"]["distro"]) == {"k8s"}


def _crd_validator(api: str, kind: str) -> jsonschema.Draft202012Validator | None:
    """The strict validator of ``kind`` (support/crds.py: unknown fields rejected)."""
    return validator(api, kind)


@pytest.mark.skipif(not CRDS.is_dir(), reason=f"{CRDS} is absent")
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_object_validates_against_its_schema(name: str) -> None:
    checked: dict[str, int] = {}
    unschemed: set[str] = set()
    for doc in _docs(name):
        api, kind = doc["apiVersion"], doc["kind"]
        if api in CORE_APIS:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        else:
            validator = _crd_validator(api, kind)
            if validator is None:
                unschemed.add(f"{api}/{kind}")
                continue
            errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(doc)]
            assert not errors, (kind, doc["metadata"], errors)
        checked[kind] = checked.get(kind, 0) + 1
    # The in-vcluster binding rides in the values as a manifest: validate it too.
    for release in _kind(name, "HelmRelease"):
        manifests = release["spec"]["values"]["experimental"]["deploy"]["vcluster"]["manifests"]
        for doc in yaml.safe_load_all(manifests):
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    assert {"Kustomization", "HelmRelease", "HelmRepository", "NetworkPolicy"} <= set(checked)
    # No CRD schema in ../shared/reference for CiliumNetworkPolicy (checked by shape below).
    assert unschemed <= {"cilium.io/v2/CiliumNetworkPolicy"}, unschemed


@pytest.mark.skipif(not CRDS.is_dir(), reason=f"{CRDS} is absent")
def test_strict_crd_schema_rejects_an_unknown_field() -> None:
    validator = _crd_validator("kustomize.toolkit.fluxcd.io/v1", "Kustomization")
    assert validator is not None
    ks = copy.deepcopy(next(d for d in _docs("seed-v2") if d["kind"] == "Kustomization"))
    assert not list(validator.iter_errors(ks))
    ks["spec"]["healthCheck"] = True  # a typo of healthChecks
    assert list(validator.iter_errors(ks))


def test_cilium_policy_shape() -> None:
    """The CiliumNetworkPolicy uses only fields of Cilium's v2 API (rule:
    endpointSelector, egress[].toEntities/toPorts[].ports[].port/protocol)."""
    cnps = _kind("seed-v2", "CiliumNetworkPolicy")
    assert len(cnps) == 3
    for cnp in cnps:
        assert set(cnp["spec"]) == {"endpointSelector", "egress"}
        for rule in cnp["spec"]["egress"]:
            assert set(rule) == {"toEntities", "toPorts"}
            assert rule["toEntities"] == ["kube-apiserver"]
            for tp in rule["toPorts"]:
                for port in tp["ports"]:
                    assert set(port) == {"port", "protocol"} and isinstance(port["port"], str)
    assert _kind("everything", "CiliumNetworkPolicy") == []  # cni: generic


# --- lockdown ----------------------------------------------------------------------

FLUX_NS = "flux-system"


@pytest.mark.parametrize("name", ["seed-v2", "everything", "examples/fleet", "examples/workloads"])
def test_lockdown_service_accounts(name: str) -> None:
    """Every Kustomization and HelmRelease names a serviceAccountName; in the Flux
    namespace Flux's own (bound to cluster-admin by Flux's cluster-reconciler
    binding), in a tenant namespace one the tree creates there and binds inside the
    vcluster the kubeconfig reaches."""
    docs = _docs(name)
    accounts = {
        (d["metadata"]["namespace"], d["metadata"]["name"])
        for d in docs
        if d["kind"] == "ServiceAccount"
    }
    bound: dict[str, set[tuple[str, str]]] = {}
    for release in _kind(name, "HelmRelease"):
        manifests = release["spec"]["values"]["experimental"]["deploy"]["vcluster"]["manifests"]
        subjects = {
            (s["namespace"], s["name"])
            for doc in yaml.safe_load_all(manifests)
            if doc["kind"] == "ClusterRoleBinding"
            for s in doc["subjects"]
        }
        bound[release["spec"]["targetNamespace"]] = subjects
    host_bound = {
        (d["metadata"]["namespace"], s["namespace"], s["name"])
        for d in docs
        if d["kind"] == "RoleBinding"
        for s in d["subjects"]
        if s["kind"] == "ServiceAccount"
    }
    flux_objects = [d for d in docs if d["kind"] in {"Kustomization", "HelmRelease"}]
    flux_objects = [d for d in flux_objects if "toolkit.fluxcd.io" in d["apiVersion"]]
    assert flux_objects
    for obj in flux_objects:
        ns, sa = obj["metadata"]["namespace"], obj["spec"].get("serviceAccountName")
        assert sa, obj["metadata"]
        if ns == FLUX_NS:
            expected = "helm-controller" if obj["kind"] == "HelmRelease" else "kustomize-controller"
            assert sa == expected
            continue
        assert (ns, sa) in accounts, obj["metadata"]
        if "kubeConfig" in obj["spec"]:
            assert (ns, sa) in bound[ns], (ns, sa, bound.get(ns))  # inside the vcluster
        else:  # a host workload: bound on the host, in its target namespace
            target = obj["spec"]["targetNamespace"]
            assert (target, ns, sa) in host_bound, (obj["metadata"], host_bound)


def _source_refs(name: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    out = []
    for d in _docs(name):
        spec = d.get("spec") or {}
        if d["kind"] == "Kustomization" and "toolkit" in d["apiVersion"]:
            out.append((d, spec["sourceRef"]))
        if d["kind"] == "HelmRelease":
            out.append((d, spec["chart"]["spec"]["sourceRef"]))
    return out


@pytest.mark.parametrize("name", ["everything", "examples/fleet"])
def test_no_cross_namespace_source_ref(name: str) -> None:
    """No sourceRef leaves its namespace, except to the root GitRepository from the
    Flux namespace (which is not cross-namespace either)."""
    refs = _source_refs(name)
    assert refs
    local_sources = {
        (d["metadata"]["namespace"], d["kind"], d["metadata"]["name"])
        for d in _docs(name)
        if d["kind"] in {"GitRepository", "HelmRepository", "OCIRepository"}
    }
    for obj, ref in refs:
        ns = obj["metadata"]["namespace"]
        assert ref.get("namespace", ns) == ns, (obj["metadata"], ref)
        root = ns == FLUX_NS and ref == {"kind": "GitRepository", "name": "flux-system"}
        assert root or (ns, ref["kind"], ref["name"]) in local_sources, (obj["metadata"], ref)


def test_without_a_repository_the_workload_reads_across_namespaces() -> None:
    """The documented fallback: unset defaults.flux.repository keeps version 1's
    cross-namespace source (and the check above would fail on it)."""
    crossing = [ref for _, ref in _source_refs("seed-v2") if ref.get("namespace") == FLUX_NS]
    assert len(crossing) == 3


# --- health ------------------------------------------------------------------------


def test_health_settings() -> None:
    vcluster_targets = 0
    for name in CONFIGS:
        for ks in _kind(name, "Kustomization"):
            if "toolkit" not in ks["apiVersion"]:
                continue
            spec, meta = ks["spec"], ks["metadata"]
            if meta["name"].startswith("vcluster-"):
                assert spec["wait"] is True and spec["retryInterval"]
            if meta["name"] == "workload" or "kubeConfig" in spec:
                # The sample's and a tenant's own Kustomizations into the vcluster.
                assert spec["retryInterval"] == "1m"
                assert spec["deletionPolicy"] == "Orphan"
                assert spec["prune"] is True
                vcluster_targets += 1
        for hr in _kind(name, "HelmRelease"):
            assert hr["spec"]["install"]["remediation"]["retries"] == 3
            assert hr["spec"]["upgrade"]["remediation"]["retries"] == 3
    assert vcluster_targets > 10


def test_defaults_are_changeable() -> None:
    text = SEED_V2 + textwrap.dedent(
        """\
        defaults:
          flux:
            workloadDeletionPolicy: Delete
            workloadRetryInterval: 30s
          vcluster:
            externalTrafficPolicy: Cluster
            remediation: {installRetries: -1, upgradeStrategy: uninstall}
        """
    )
    config, _ = parse(text)
    docs = [d for f in render_outputs(config, "./generated") for d in f.docs]
    workload = next(d for d in docs if d.get("metadata", {}).get("name") == "workload")
    assert workload["spec"]["deletionPolicy"] == "Delete"
    assert workload["spec"]["retryInterval"] == "30s"
    hr = next(d for d in docs if d["kind"] == "HelmRelease")
    assert hr["spec"]["install"]["remediation"]["retries"] == -1
    assert hr["spec"]["upgrade"]["remediation"]["strategy"] == "uninstall"
    service = hr["spec"]["values"]["controlPlane"]["service"]["spec"]
    assert service["externalTrafficPolicy"] == "Cluster"


# --- values: no dead keys, platform registration -----------------------------------


def test_no_dead_or_deprecated_annotations() -> None:
    for name in CONFIGS:
        text = json.dumps(_docs(name))
        assert "apiServerHost" not in text and "apiServerPort" not in text
        assert "metallb.universe.tf" not in text
        for hr in _kind(name, "HelmRelease"):
            annotations = hr["spec"]["values"]["controlPlane"]["service"]["annotations"]
            assert set(annotations) == {"metallb.io/loadBalancerIPs"}


def test_platform_unset_renders_nothing_platform_related() -> None:
    for name in ("seed-v2", "examples/fleet"):
        for hr in _kind(name, "HelmRelease"):
            assert "external" not in hr["spec"]["values"]
        assert not [d for d in _docs(name) if d["metadata"]["name"] == "allow-platform-egress"]


def test_platform_registration_values() -> None:
    hrs = _kind("everything", "HelmRelease")
    assert hrs
    for hr in hrs:
        # vcluster v0.30.4 config/config.go PlatformConfig / PlatformAPIKey json keys.
        assert hr["spec"]["values"]["external"] == {
            "platform": {
                "apiKey": {"secretName": "platform-key", "namespace": "vcluster-platform"},
                "project": "default",
            }
        }
    egress = [d for d in _docs("everything") if d["metadata"]["name"] == "allow-platform-egress"]
    assert len(egress) == 2


def test_platform_values_match_the_schema_definitions() -> None:
    if not VALUES_SCHEMA.exists():
        pytest.skip(f"{VALUES_SCHEMA} is absent")
    defs = json.loads(VALUES_SCHEMA.read_text())["$defs"]
    hr = _kind("everything", "HelmRelease")[0]
    platform = hr["spec"]["values"]["external"]["platform"]
    assert set(platform) <= set(defs["PlatformConfig"]["properties"])
    assert set(platform["apiKey"]) <= set(defs["PlatformAPIKey"]["properties"])


def test_repository_source_in_each_vcluster_namespace() -> None:
    repos = _kind("everything", "GitRepository")
    assert {r["metadata"]["namespace"] for r in repos} == {"vcluster-a", "vcluster-b"}
    for r in repos:
        assert r["spec"]["url"] == "https://github.com/acme/platform.git"
        assert r["spec"]["secretRef"] == {"name": "platform-git"}
        shard = r["metadata"]["labels"]["sharding.fluxcd.io/key"]
        assert shard in {"s1", "s2"}


@pytest.mark.parametrize(
    ("policies", "message"),
    [
        ("cni: generic", "4:5: defaults.networkPolicies: value error, cni: generic needs"),
        ("egressCidrs: [10.0.0.1/8]", "4:18: defaults.networkPolicies.egressCidrs: value error"),
        ("apiFromCidrs: [not-a-cidr]", "defaults.networkPolicies.apiFromCidrs[0]: 'not-a-cidr'"),
        ("fluxPodLabel: no-equals-sign", "defaults.networkPolicies.fluxPodLabel"),
    ],
)
def test_bad_network_settings_are_located_errors(policies: str, message: str) -> None:
    from gitopsgen.errors import ConfigError

    text = (
        "version: 2\ndefaults:\n  networkPolicies:\n"
        + "".join(f"    {line}\n" for line in policies.split("\n"))
        + "clusters:\n  - name: a\n    pool: [10.10.0.0/24]\n"
    )
    with pytest.raises(ConfigError) as info:
        parse(text)
    assert any(message in line for line in info.value.lines()), info.value.lines()


def test_auth_delegator_names_the_charts_service_account() -> None:
    """chart/templates/serviceaccount.yaml (v0.30.4): vc-<release>, or
    controlPlane.advanced.serviceAccount.name when the values set it."""
    crbs = [d for d in _docs("seed-v2") if d["kind"] == "ClusterRoleBinding"]
    assert [s["name"] for c in crbs for s in c["subjects"]] == ["vc-vcluster-b"]
    text = SEED_V2.replace(
        "{name: b, ip: 172.18.0.211, vcluster: {distro: k3s, authDelegator: true}}",
        "{name: b, ip: 172.18.0.211, vcluster: {authDelegator: true, values: "
        "{controlPlane: {advanced: {serviceAccount: {name: cp-b}}}}}}",
    )
    config, _ = parse(text)
    docs = [d for f in render_outputs(config, "./generated") for d in f.docs]
    (crb,) = [d for d in docs if d["kind"] == "ClusterRoleBinding"]
    assert crb["subjects"] == [
        {"kind": "ServiceAccount", "name": "cp-b", "namespace": "vcluster-b"}
    ]
