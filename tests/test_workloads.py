"""Tenants bring their own workloads (issue 15): sources, workloads, routes and
quotas in a version 2 file, built from examples/workloads/tenants.yaml (tenant a:
a git source, workloads inside the vcluster and on the host, two routes; b: a
cosign-verified OCI source and a Helm workload; c: only the sample workload)."""

from __future__ import annotations

import copy
import json
import posixpath
import re
import shutil
from fractions import Fraction
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from conftest import REPO, invoke
from gitopsgen.config import parse
from gitopsgen.diff import compare_configs
from gitopsgen.errors import ConfigError
from gitopsgen.quantity import QuantityError, format_quantity, parse_quantity
from support.crds import CRDS, SKIP_REASON, crd_errors
from support.kustomize import kustomization_dirs, kustomize

EXAMPLE = REPO / "examples" / "workloads" / "tenants.yaml"
VALUES_SCHEMA = REPO.parent / "shared" / "reference" / "vcluster" / "values.schema.json"
K8S_VERSION = "1.33.0"
CORE_APIS = {"v1", "apps/v1", "networking.k8s.io/v1", "rbac.authorization.k8s.io/v1"}
FLUX_GROUPS = ("toolkit.fluxcd.io",)
GATEWAY_CRDS = ("gateway.networking.k8s.io",)


# --- quantities ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", Fraction(1)),
        ("100m", Fraction(1, 10)),
        ("1.5", Fraction(3, 2)),
        (".5", Fraction(1, 2)),
        ("2.", Fraction(2)),
        ("+3", Fraction(3)),
        ("-1k", Fraction(-1000)),
        ("128Mi", Fraction(128 * 2**20)),
        ("1Gi", Fraction(2**30)),
        ("1G", Fraction(10**9)),
        ("1e3", Fraction(1000)),
        ("1E-3", Fraction(1, 1000)),
        ("5u", Fraction(5, 10**6)),
        ("7n", Fraction(7, 10**9)),
        ("0.1", Fraction(1, 10)),
    ],
)
def test_quantity_parses_as_kubernetes_does(text: str, value: Fraction) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    "text", ["", "m", "1.2.3", "1 Gi", "1gi", "1KiB", "Gi1", "1e", "--1", "1ki"]
)
def test_quantity_rejects_what_kubernetes_rejects(text: str) -> None:
    with pytest.raises(QuantityError, match="is not a Kubernetes quantity"):
        parse_quantity(text)


def test_quantity_sums_are_exact_and_formatted_shortly() -> None:
    assert parse_quantity("100m") + parse_quantity("200m") == parse_quantity("0.3")
    assert format_quantity(parse_quantity("1500m")) == "1500m"
    assert format_quantity(parse_quantity("2")) == "2"
    assert format_quantity(parse_quantity("2560Mi"), binary=True) == "2560Mi"
    assert format_quantity(parse_quantity("3Gi"), binary=True) == "3Gi"


# --- the worked example ---------------------------------------------------------


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("workloads") / "repo"
    repo.mkdir()
    shutil.copyfile(EXAMPLE, repo / "tenants.yaml")
    res = invoke("build", "-q", "-c", "tenants.yaml", cwd=repo)
    assert res.code == 0, res.err
    return repo / "generated"


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _objects(tree: Path) -> list[tuple[Path, dict[str, Any]]]:
    return [(p, d) for p in sorted(tree.rglob("*.yaml")) for d in _docs(p)]


def _tenant_dir(tree: Path, name: str) -> Path:
    return tree / "clusters" / "eu-1" / "tenants" / name


def test_every_directory_builds_and_core_objects_validate_strictly(tree: Path) -> None:
    validated = 0
    dirs = kustomization_dirs(tree)
    assert len(dirs) > 10
    for directory in dirs:
        for obj in kustomize(directory):
            if obj["apiVersion"] in CORE_APIS:
                kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
                validated += 1
    kinds = {d["kind"] for _, d in _objects(tree) if d["apiVersion"] in CORE_APIS}
    assert {"ServiceAccount", "Role", "RoleBinding", "Deployment", "Service"} <= kinds
    assert validated > 20


@pytest.mark.skipif(not CRDS.is_dir(), reason=SKIP_REASON)
def test_every_flux_and_gateway_object_validates_against_its_crd_strictly(tree: Path) -> None:
    checked: dict[str, int] = {}
    for path, obj in _objects(tree):
        group = obj["apiVersion"].rpartition("/")[0]
        if not group.endswith(FLUX_GROUPS) and group not in GATEWAY_CRDS:
            continue
        errors = crd_errors(obj)
        assert errors is not None, f"no CRD schema for {obj['apiVersion']} {obj['kind']}"
        assert not errors, f"{path}: {obj['kind']} {obj['metadata']['name']}: {errors[0]}"
        checked[obj["kind"]] = checked.get(obj["kind"], 0) + 1
    for kind in ("GitRepository", "OCIRepository", "HelmRelease", "Kustomization", "HTTPRoute"):
        assert checked.get(kind), f"no {kind} checked"


@pytest.mark.skipif(not CRDS.is_dir(), reason=SKIP_REASON)
def test_the_strict_crd_check_rejects_an_unknown_field(tree: Path) -> None:
    [source] = _docs(_tenant_dir(tree, "a") / "tenant" / "sources.yaml")
    bad = copy.deepcopy(source)
    bad["spec"]["paths"] = ["deploy"]  # our input key, not a GitRepository field
    assert crd_errors(bad)


def test_c_keeps_exactly_the_version_1_sample(tree: Path, tmp_path: Path) -> None:
    repo = tmp_path / "v1"
    repo.mkdir()
    (repo / "tenants.yaml").write_text(
        "version: 1\npool: [10.10.0.0/24]\ntenants:\n  - name: c\n    ip: 10.10.0.12\n"
    )
    assert invoke("build", "-q", "-c", "tenants.yaml", cwd=repo).code == 0
    v1 = repo / "generated" / "tenant" / "tenant-c"
    c = _tenant_dir(tree, "c")
    for name in ("nginx_deployment.yaml", "nginx_service.yaml"):
        assert _docs(c / "workload" / name) == _docs(v1 / "workload" / name)
    [route_v1] = _docs(v1 / "routes" / "nginx_httproute.yaml")
    [route_v2] = _docs(c / "tenant" / "httproute.yaml")
    # Version 1 leaves the namespace to its routes Kustomization's targetNamespace.
    route_v1["metadata"]["namespace"] = "tenant-c"
    assert route_v2 == route_v1
    assert not (c / "tenant" / "sources.yaml").exists()


def _flux_refs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec", {})
    refs = [spec.get("sourceRef"), spec.get("chartRef")]
    refs.append(spec.get("chart", {}).get("spec", {}).get("sourceRef"))
    return [r for r in refs if r]


def test_no_tenant_flux_object_references_another_namespace(tree: Path) -> None:
    checked = 0
    for path, obj in _objects(tree):
        ns = obj.get("metadata", {}).get("namespace", "")
        if not ns.startswith(("vcluster-", "tenant-")):
            continue
        if obj["kind"] == "Kustomization" and obj["metadata"]["name"] == "workload":
            # The sample workload's Kustomization (tenant c) still builds the
            # platform's root source; issue 14 (lockdown) moves it. Pinned here so
            # that the change is noticed.
            assert _flux_refs(obj)[0]["namespace"] == "flux-system"
            continue
        for ref in _flux_refs(obj):
            assert ref.get("namespace", ns) == ns, f"{path}: {ref}"
            checked += 1
    assert checked == 4  # a's three Kustomizations and b's HelmRelease


def test_sources_live_in_the_vcluster_namespace_with_the_shard_label(tree: Path) -> None:
    for tenant, shard, kind in (("a", "s1", "GitRepository"), ("b", "s2", "OCIRepository")):
        [source] = _docs(_tenant_dir(tree, tenant) / "tenant" / "sources.yaml")
        assert source["kind"] == kind
        assert source["metadata"]["namespace"] == f"vcluster-{tenant}"
        assert source["metadata"]["labels"] == {"sharding.fluxcd.io/key": shard}
    [oci] = _docs(_tenant_dir(tree, "b") / "tenant" / "sources.yaml")
    assert oci["spec"]["verify"]["provider"] == "cosign"
    # A chart for b's helm workload: the chart layer, copied (helm-controller docs).
    assert oci["spec"]["layerSelector"] == {
        "mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
        "operation": "copy",
    }
    assert oci["spec"]["verify"]["matchOIDCIdentity"][0]["issuer"].startswith("^https://token")
    [git] = _docs(_tenant_dir(tree, "a") / "tenant" / "sources.yaml")
    assert git["spec"]["ignore"] == "/*\n!/deploy\n"
    assert git["spec"]["secretRef"] == {"name": "a-git"}


def test_workloads_apply_as_the_tenant_account(tree: Path) -> None:
    objs = {
        d["metadata"]["name"]: d
        for d in _docs(_tenant_dir(tree, "a") / "tenant" / "workloads.yaml")
    }
    web, api, jobs = objs["web"], objs["api"], objs["jobs"]
    for wl in (web, api, jobs):
        assert wl["spec"]["serviceAccountName"] == "tenant-a"
        assert wl["metadata"]["namespace"] == "vcluster-a"
    assert web["spec"]["kubeConfig"] == {"secretRef": {"name": "vc-vcluster-a", "key": "config"}}
    assert web["spec"]["postBuild"] == {"substitute": {"replicas": "2"}}
    assert api["spec"]["dependsOn"] == [{"name": "web"}]
    # The host workload: no kubeconfig, only into tenant-a, where its Role is bound.
    assert "kubeConfig" not in jobs["spec"]
    assert jobs["spec"]["targetNamespace"] == "tenant-a"
    # Its pods run on the host: the namespace enforces the restricted profile.
    [namespace] = _docs(_tenant_dir(tree, "a") / "tenant" / "namespace.yaml")
    assert namespace["metadata"]["labels"] == {"pod-security.kubernetes.io/enforce": "restricted"}
    [plain] = _docs(_tenant_dir(tree, "b") / "tenant" / "namespace.yaml")
    assert "labels" not in plain["metadata"]
    access = _docs(_tenant_dir(tree, "a") / "tenant" / "host-access.yaml")
    assert [(o["kind"], o["metadata"]["namespace"]) for o in access] == [
        ("ServiceAccount", "vcluster-a"),
        ("Role", "tenant-a"),
        ("RoleBinding", "tenant-a"),
    ]
    assert access[2]["subjects"] == [
        {"kind": "ServiceAccount", "name": "tenant-a", "namespace": "vcluster-a"}
    ]
    # Inside the vcluster: the account the vcluster-target workloads impersonate.
    [release] = _docs(_tenant_dir(tree, "a") / "vcluster" / "helmrelease.yaml")
    manifests = release["spec"]["values"]["experimental"]["deploy"]["vcluster"]["manifests"]
    inside = [d for d in yaml.safe_load_all(manifests) if d]
    assert [(o["kind"], o["metadata"]["name"]) for o in inside] == [
        ("Namespace", "vcluster-a"),
        ("ServiceAccount", "tenant-a"),
        ("ClusterRoleBinding", "tenant-a"),
    ]
    [shop] = _docs(_tenant_dir(tree, "b") / "tenant" / "workloads.yaml")
    assert shop["kind"] == "HelmRelease"
    assert shop["spec"]["chartRef"] == {"kind": "OCIRepository", "name": "charts"}
    assert shop["spec"]["serviceAccountName"] == "tenant-b"
    assert shop["spec"]["kubeConfig"]["secretRef"]["name"] == "vc-vcluster-b"


def _route_backends(tree: Path, tenant: str) -> set[str]:
    return {
        ref["name"]
        for route in _docs(_tenant_dir(tree, tenant) / "tenant" / "httproute.yaml")
        for rule in route["spec"]["rules"]
        for ref in rule["backendRefs"]
    }


def _ingress_ports(tree: Path, tenant: str) -> set[int]:
    for policy in _docs(_tenant_dir(tree, tenant) / "vcluster" / "networkpolicies.yaml"):
        if policy["metadata"]["name"] == "allow-traefik-ingress":
            return {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
    raise AssertionError("no allow-traefik-ingress policy")


def test_grants_and_ingress_policy_admit_exactly_the_routes_backends(tree: Path) -> None:
    expected = {
        "a": ({"web-x-default-x-vcluster-a", "api-x-default-x-vcluster-a"}, {8080, 9090}),
        "b": ({"shop-x-shop-x-vcluster-b"}, {80}),
        "c": ({"nginx-x-default-x-vcluster-c"}, {80}),
    }
    for tenant, (services, ports) in expected.items():
        assert _route_backends(tree, tenant) == services
        [grant] = _docs(_tenant_dir(tree, tenant) / "vcluster" / "referencegrant.yaml")
        assert {t["name"] for t in grant["spec"]["to"]} == services
        assert _ingress_ports(tree, tenant) == ports


@pytest.mark.skipif(not VALUES_SCHEMA.exists(), reason="the vcluster values schema is absent")
def test_quota_values_validate_against_the_chart_schema(tree: Path) -> None:
    schema = json.loads(VALUES_SCHEMA.read_text())
    [release] = _docs(_tenant_dir(tree, "a") / "vcluster" / "helmrelease.yaml")
    values = release["spec"]["values"]
    jsonschema.Draft202012Validator(schema).validate(values)
    assert values["policies"]["resourceQuota"] == {
        "enabled": True,
        "quota": {
            "requests.cpu": "2",
            "requests.memory": "4Gi",
            "limits.memory": "8Gi",
            "pods": "30",
        },
    }
    assert values["policies"]["limitRange"]["defaultRequest"] == {"cpu": "100m", "memory": "128Mi"}
    assert values["controlPlane"]["statefulSet"]["resources"] == {
        "requests": {"cpu": "200m", "memory": "512Mi"},
        "limits": {"memory": "2Gi"},
    }
    [plain] = _docs(_tenant_dir(tree, "c") / "vcluster" / "helmrelease.yaml")
    assert "policies" not in plain["spec"]["values"]


def test_secrets_lists_what_the_tree_expects() -> None:
    res = invoke("secrets", "-c", str(EXAMPLE))
    assert res.code == 0, res.err
    assert res.out.splitlines() == ["eu-1\tvcluster-a/a-git\ta\tGitRepository app"]
    res = invoke("secrets", "-c", str(EXAMPLE), "--format", "json")
    assert json.loads(res.out)["secrets"][0]["usedBy"] == "GitRepository app"


def test_diff_names_the_changes_and_attributes_new_objects(tmp_path: Path) -> None:
    old_text = EXAMPLE.read_text()
    new_text = old_text.replace(
        "        paths: [/api]\n",
        "        paths: [/api]\n      - name: admin\n        service: web\n        port: 8080\n"
        "        paths: [/admin]\n",
    ).replace("    quota: medium\n", "    quota: small\n")
    assert new_text.count("name: admin") == 1
    old, _ = parse(old_text)
    new, _ = parse(new_text)
    result = compare_configs("old", old, "new", new)
    by_tenant = {t.name: t for t in result.tenants}
    assert {a.path for a in by_tenant["a"].attributes} == {"routes"}
    assert {a.path for a in by_tenant["b"].attributes} == {"quota"}
    added = [o for t in result.tenants for o in t.objects if o.op == "added"]
    assert [(o.id.kind, o.id.name, o.tenant) for o in added] == [("HTTPRoute", "admin", "a")]
    # b's quota moves to its vcluster's values; a's grant admits nothing new (the
    # admin route reaches the same Service).
    changed = {
        (o.tenant, o.id.kind) for t in result.tenants for o in t.objects if o.op == "changed"
    }
    assert changed == {("b", "HelmRelease")}


# --- located errors -------------------------------------------------------------


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        parse(text)
    return exc.value.lines()


def _line_of(text: str, needle: str, nth: int = 0) -> int:
    lines = text.splitlines()
    hits = [i for i, line in enumerate(lines, 1) if needle in line]
    return hits[nth]


def test_a_source_url_outside_the_allowed_prefixes() -> None:
    text = EXAMPLE.read_text().replace(
        "url: https://github.com/acme/a.git", "url: https://gitlab.com/evil/a.git"
    )
    line = _line_of(text, "https://gitlab.com/evil/a.git")
    assert _problems(text) == [
        f"tenants.yaml:{line}:16: tenants[0].sources[0].git.url: source URL "
        "'https://gitlab.com/evil/a.git' is outside defaults.sources.allowedPrefixes "
        "(https://github.com/acme/, oci://ghcr.io/acme/)"
    ]


def test_a_workload_naming_an_unknown_source() -> None:
    text = EXAMPLE.read_text().replace(
        "        source: app\n        path: ./deploy/api",
        "        source: apps\n        path: ./deploy/api",
    )
    line = _line_of(text, "source: apps")
    assert _problems(text) == [
        f"tenants.yaml:{line}:17: tenants[0].workloads[1].source: unknown source 'apps'; "
        "tenant 'a' declares: app; did you mean 'app'?"
    ]


def test_a_route_to_a_port_no_workload_exposes() -> None:
    text = EXAMPLE.read_text().replace(
        "        service: api\n        port: 9090", "        service: api\n        port: 9091"
    )
    line = _line_of(text, "port: 9091")
    assert _problems(text) == [
        f"tenants.yaml:{line}:15: tenants[0].routes[1].port: route to port 9091: no workload "
        "of tenant 'a' exposes it (workloads' ports: 8080, 9090)"
    ]


def test_a_route_to_the_sample_workload_on_another_port() -> None:
    text = EXAMPLE.read_text() + "    routes:\n      - service: nginx\n        port: 8080\n"
    line = _line_of(text, "port: 8080", -1)
    assert _problems(text) == [
        f"tenants.yaml:{line}:15: tenants[2].routes[0].port: route to port 8080: no workload "
        "exposes it (the tenant runs the sample workload 'nginx', which serves port 80)"
    ]


def test_ports_are_unknown_when_a_workload_declares_none() -> None:
    # b's one workload stops declaring its ports: its route can no longer be checked.
    text = (
        EXAMPLE.read_text()
        .replace(
            "          values: {replicaCount: 2}\n        ports: [80]\n",
            "          values: {replicaCount: 2}\n",
        )
        .replace(
            "        namespace: shop\n        port: 80\n",
            "        namespace: shop\n        port: 81\n",
        )
    )
    parse(text)


def test_an_unknown_quota_profile() -> None:
    text = EXAMPLE.read_text().replace("    quota: medium", "    quota: large")
    line = _line_of(text, "quota: large")
    assert _problems(text) == [
        f"tenants.yaml:{line}:12: tenants[1].quota: unknown quota profile 'large'; "
        "defaults.quotas declares: small, medium"
    ]


def test_a_cluster_over_capacity() -> None:
    # The quota bounds the control plane too (same namespace): a 2 + b 4 cpu, and c,
    # without a quota, its control plane's chart-default 200m.
    text = EXAMPLE.read_text().replace('capacity: {cpu: "16"', 'capacity: {cpu: "6"')
    line = _line_of(text, 'capacity: {cpu: "6"')
    assert _problems(text) == [
        f"tenants.yaml:{line}:21: clusters[0].capacity.cpu: cluster 'eu-1' is over capacity: "
        "its 3 tenant(s) may request cpu 6200m (quotas 6, vcluster control planes without a "
        "quota 200m), capacity 6"
    ]
    # Exactly at capacity is fine; memory is summed in binary units.
    parse(EXAMPLE.read_text().replace('capacity: {cpu: "16"', 'capacity: {cpu: "6200m"'))
    text = EXAMPLE.read_text().replace("memory: 64Gi}", "memory: 12Gi}")
    [problem] = _problems(text)
    assert problem.endswith(
        "clusters[0].capacity.memory: cluster 'eu-1' is over capacity: its 3 tenant(s) may "
        "request memory 12544Mi (quotas 12Gi, vcluster control planes without a quota "
        "256Mi), capacity 12Gi"
    )


def test_a_quota_below_the_control_planes_own_request() -> None:
    text = EXAMPLE.read_text().replace(
        'resourceQuota: {requests.cpu: "2"', "resourceQuota: {requests.cpu: 100m"
    )
    line = _line_of(text, "requests.cpu: 100m")
    assert _problems(text) == [
        f"tenants.yaml:{line}:37: defaults.quotas.small.resourceQuota.requests.cpu: "
        "requests.cpu 100m is below the vcluster control plane's own request 200m, which the "
        "quota also bounds: the vcluster could not start"
    ]


def test_bad_quantities_and_cyclic_or_unknown_dependencies() -> None:
    text = (
        EXAMPLE.read_text()
        .replace('pods: "30"', "pods: lots")
        .replace(
            "        path: ./deploy/web\n", "        path: ./deploy/web\n        dependsOn: [api]\n"
        )
        .replace("        dependsOn: [web]\n", "        dependsOn: [web, nope]\n")
    )
    problems = _problems(text)
    joined = "\n".join(problems)
    assert "defaults.quotas.small.resourceQuota.pods: 'lots' is not a Kubernetes quantity" in joined
    assert (
        "tenants[0].workloads[1].dependsOn[1]: unknown workload 'nope'; "
        "tenant 'a' has: web, api, jobs" in joined
    )
    assert "workloads depend on each other in a cycle: web -> api -> web" in joined
    assert len(problems) == 3


def test_source_kinds_must_fit_the_workload() -> None:
    text = EXAMPLE.read_text().replace(
        "        namespace: shop\n        helm:\n",
        "        namespace: shop\n        helm:\n          chart: shop\n",
    )
    assert any(
        "tenants[1].workloads[0].helm.chart: oci source 'charts' is the chart itself; "
        "remove helm.chart" in p
        for p in _problems(text)
    )
    text = EXAMPLE.read_text().replace(
        "url: oci://ghcr.io/acme/charts/shop", "url: https://ghcr.io/acme/charts/shop"
    )
    assert any("must start with oci://" in p for p in _problems(text))


def test_a_route_hostname_of_another_tenant() -> None:
    text = EXAMPLE.read_text().replace(
        "      - service: web\n        port: 8080\n",
        "      - service: web\n        port: 8080\n        hostname: tenant-c.traefik.local\n",
    )
    [problem] = _problems(text)
    assert (
        "tenants[0].routes[0].hostname: hostname 'tenant-c.traefik.local' is already "
        "used by tenant c" in problem
    )


def test_version_1_files_know_none_of_these_keys() -> None:
    text = (
        "version: 1\npool: [10.0.0.0/24]\ntenants:\n  - name: a\n    ip: 10.0.0.5\n"
        "    quota: small\n"
    )
    [problem] = _problems(text)
    assert "tenants[0].quota" in problem


# --- lifecycle ------------------------------------------------------------------

V1_TEXT = "version: 1\npool: [10.0.0.0/24]\ntenants:\n  - name: a\n    ip: 10.0.0.5\n"


def test_add_tenant_writes_the_hostname() -> None:
    from gitopsgen.edit import add_tenant

    edit = add_tenant(V1_TEXT, "b", hostname="shop.traefik.local")
    assert edit.text.endswith("  - name: b\n    ip: 10.0.0.1\n    hostname: shop.traefik.local\n")
    config, _ = parse(edit.text)
    assert config.tenants[1].hostname == "shop.traefik.local"
    # A hostname another tenant has is refused like any invalid edit.
    from gitopsgen.edit import EditError

    with pytest.raises(EditError, match="already used by tenant a"):
        add_tenant(V1_TEXT, "b", hostname="tenant-a.traefik.local")


def test_add_tenant_quota_needs_version_2() -> None:
    from gitopsgen.edit import EditError, add_tenant

    with pytest.raises(EditError, match="--quota needs a version 2 file"):
        add_tenant(V1_TEXT, "b", quota="small")


def test_add_tenant_cli_takes_hostname_and_quota(tmp_path: Path) -> None:
    (tmp_path / "tenants.yaml").write_text(V1_TEXT)
    res = invoke("add-tenant", "b", "--hostname", "b.traefik.local", "--no-build", cwd=tmp_path)
    assert res.code == 0, res.err
    assert "hostname: b.traefik.local" in (tmp_path / "tenants.yaml").read_text()
    res = invoke("add-tenant", "c", "--quota", "small", "--no-build", cwd=tmp_path)
    assert res.code == 2
    assert "--quota needs a version 2 file" in res.err


def test_import_leaves_the_workload_keys_out() -> None:
    from gitopsgen.importer import import_tree

    result = import_tree(REPO / "tests" / "fixtures" / "seedlike")
    assert result.config.tenants
    keys = re.compile(r"^\s*(- )?(quota|sources|workloads|routes|capacity):", re.MULTILINE)
    assert keys.search(result.text) is None
    assert result.config.version == 1  # whose tenants cannot hold these keys


def test_an_oci_source_is_either_a_chart_or_manifests() -> None:
    text = EXAMPLE.read_text().replace(
        "    routes:\n      - service: shop\n",
        "      - {name: extra, source: charts, path: ./}\n    routes:\n      - service: shop\n",
    )
    [problem] = _problems(text)
    assert problem.endswith(
        "tenants[1].workloads[0].source: oci source 'charts' is a Helm chart for this "
        "workload and a set of manifests for another; give each its own source"
    )


def test_every_tenant_file_is_located_to_its_tenant(tree: Path) -> None:
    from gitopsgen.config import load
    from gitopsgen.platform import resolve

    project = load(tree.parent / "tenants.yaml")
    [cluster] = resolve(project.config, project.flux_root).clusters
    located = 0
    for path in sorted(tree.rglob("*.yaml")):
        rel = path.relative_to(tree).as_posix()
        parts = rel.split("/")
        if parts[2:3] != ["tenants"]:
            continue
        place = cluster.layout.locate(rel)
        assert place is not None and place.tenant == parts[3], rel
        located += 1
    assert located == len(list((tree / "clusters/eu-1/tenants").rglob("*.yaml")))
    assert cluster.layout.locate("clusters/eu-1/tenants/a/tenant/sources.yaml") is not None


def test_refs_name_exactly_one_revision_and_sample_routes_their_service() -> None:
    text = EXAMPLE.read_text().replace("ref: {branch: main}", "ref: {branch: main, tag: v1}")
    [problem] = _problems(text)
    assert problem.endswith(
        "tenants[0].sources[0].git.ref: set exactly one of branch, tag, semver, commit "
        "(a ref names one revision)"
    )
    text = EXAMPLE.read_text() + "    routes:\n      - service: web\n        port: 80\n"
    [problem] = _problems(text)
    assert problem.endswith(
        "tenants[2].routes[0].service: route to service default/web: the tenant runs only "
        "the sample workload default/nginx; list the workload that serves it"
    )
    # The sample's own route, spelled out, is fine.
    parse(EXAMPLE.read_text() + "    routes:\n      - {service: nginx, port: 80}\n")


def test_add_tenant_writes_the_quota_into_a_version_2_file() -> None:
    from gitopsgen.edit import EditError, add_tenant

    text = EXAMPLE.read_text()
    edit = add_tenant(text, "d", quota="medium", hostname="d.traefik.local")
    config, _ = parse(edit.text)
    [d] = [t for t in config.tenants if t.name == "d"]
    assert (d.quota, d.hostname, d.cluster) == ("medium", "d.traefik.local", "eu-1")
    assert edit.text.startswith(text.rstrip("\n"))  # appended, nothing else touched
    with pytest.raises(EditError, match="unknown quota profile 'huge'"):
        add_tenant(text, "d", quota="huge")


def _mutations(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path below the tenants' and defaults' workload keys."""
    out = []
    if isinstance(data, dict):
        for k, v in data.items():
            out.append((*path, k))
            out.extend(_mutations(v, (*path, k)))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out.append((*path, i))
            out.extend(_mutations(v, (*path, i)))
    return out


def test_any_odd_value_in_the_new_keys_is_a_located_error_never_a_crash() -> None:
    import random

    from gitopsgen.platform import resolve
    from gitopsgen.render import Context, render_platform

    base = yaml.safe_load(EXAMPLE.read_text())
    keys = ("sources", "workloads", "routes", "quota", "quotas", "capacity")
    paths = [p for p in _mutations(base) if any(k in p for k in keys)]
    assert len(paths) > 100
    rng = random.Random(15)
    odd: list[Any] = [None, 0, -1, True, "", "x", "1Gi", [], {}, [1], {"a": 1}, "../x", 3.5]
    built = 0
    for path in paths:
        for value in rng.sample(odd, 3):
            data = copy.deepcopy(base)
            node = data
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = value
            text = yaml.safe_dump(data)
            try:
                config, _ = parse(text)
            except ConfigError as exc:
                assert all(line.startswith("tenants.yaml:") for line in exc.lines())
                continue
            render_platform(Context(resolve(config, "./generated")))
            built += 1
    assert built > 0  # some odd values are valid (an empty list, a string name)


def test_a_helm_workload_from_a_chart_repository() -> None:
    from gitopsgen.platform import resolve
    from gitopsgen.render import Context, render_platform

    text = (
        EXAMPLE.read_text()
        .replace(
            "      - name: charts\n        oci:\n",
            "      - name: repo\n        helm: {url: 'oci://ghcr.io/acme/charts', type: oci, "
            "secretRef: b-registry}\n      - name: charts\n        oci:\n",
        )
        .replace(
            "        helm:\n          values: {replicaCount: 2}\n",
            "        helm:\n          values: {replicaCount: 2}\n      - name: cache\n"
            "        source: repo\n        dependsOn: [shop]\n"
            "        helm: {chart: redis, version: 19.x}\n",
        )
    )
    config, _ = parse(text)
    out = render_platform(Context(resolve(config, "./generated")))

    def docs_of(suffix: str) -> list[dict[str, Any]]:
        return [d for f in out if f.path.endswith(suffix) for d in f.docs]

    docs = docs_of("tenants/b/tenant/workloads.yaml")
    cache = next(d for d in docs if d["metadata"]["name"] == "cache")
    assert cache["spec"]["chart"] == {
        "metadata": {"labels": {"sharding.fluxcd.io/key": "s2"}},
        "spec": {
            "chart": "redis",
            "version": "19.x",
            "sourceRef": {"kind": "HelmRepository", "name": "repo"},
        },
    }
    assert cache["spec"]["dependsOn"] == [{"name": "shop"}]
    if CRDS.is_dir():
        assert crd_errors(cache) == []
    repo = next(
        d for d in docs_of("tenants/b/tenant/sources.yaml") if d["kind"] == "HelmRepository"
    )
    assert repo["spec"] == {
        "interval": "2m",
        "url": "oci://ghcr.io/acme/charts",
        "type": "oci",
        "secretRef": {"name": "b-registry"},
    }


def test_a_tenant_with_workloads_and_no_routes_admits_no_ingress(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace(
        "    routes:\n      - service: shop\n        namespace: shop\n        port: 80\n", ""
    )
    assert "service: shop" not in text
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "tenants.yaml").write_text(text)
    assert invoke("build", "-q", "-c", "tenants.yaml", cwd=repo).code == 0
    b = repo / "generated" / "clusters" / "eu-1" / "tenants" / "b"
    assert not (b / "tenant" / "httproute.yaml").exists()
    assert not (b / "vcluster" / "referencegrant.yaml").exists()
    [policy] = [
        p
        for p in _docs(b / "vcluster" / "networkpolicies.yaml")
        if p["metadata"]["name"] == "allow-traefik-ingress"
    ]
    assert policy["spec"]["ingress"] == []
    for directory in (b / "vcluster", b / "tenant"):
        for obj in kustomize(directory):
            if obj["apiVersion"] in CORE_APIS:
                kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
            elif CRDS.is_dir():
                # No CRD schema for CiliumNetworkPolicy in ../shared/reference/crds.
                unschemed = obj["kind"] == "CiliumNetworkPolicy"
                assert crd_errors(obj) == (None if unschemed else []), obj["kind"]


def test_flux_reaches_every_directory_and_the_tenants_own_objects(tree: Path) -> None:
    """Walked as Flux walks it: from the entry point through every Kustomization
    that builds the platform's root source; the tenants' own Kustomizations build
    their own sources, so they are reached but not followed into the tree."""
    repo = tree.parent
    entry = "generated/clusters/eu-1"
    seen, queue = {entry}, [entry]
    found: list[dict[str, Any]] = []
    while queue:
        directory = queue.pop()
        for obj in kustomize(repo / directory):
            found.append(obj)
            if obj["kind"] != "Kustomization" or "sourceRef" not in obj.get("spec", {}):
                continue
            spec = obj["spec"]
            root = spec["sourceRef"].get("namespace", obj["metadata"]["namespace"])
            if root != "flux-system":
                assert not spec["path"].startswith("./generated"), obj["metadata"]
                continue
            path = posixpath.normpath(spec["path"])
            if path not in seen:
                seen.add(path)
                queue.append(path)
    every = set(seen)
    for directory in list(seen):
        index = yaml.safe_load((repo / directory / "kustomization.yaml").read_text())
        every.update(
            posixpath.normpath(posixpath.join(directory, e))
            for e in index["resources"]
            if not e.endswith(".yaml")
        )
    on_disk = {p.parent.relative_to(repo).as_posix() for p in tree.rglob("kustomization.yaml")}
    assert on_disk == every
    own = {
        (o["kind"], o["metadata"]["namespace"], o["metadata"]["name"])
        for o in found
        if o["metadata"].get("namespace", "").startswith("vcluster-")
        and o["kind"] in ("Kustomization", "HelmRelease", "GitRepository", "OCIRepository")
    }
    assert own == {
        ("GitRepository", "vcluster-a", "app"),
        ("Kustomization", "vcluster-a", "web"),
        ("Kustomization", "vcluster-a", "api"),
        ("Kustomization", "vcluster-a", "jobs"),
        ("OCIRepository", "vcluster-b", "charts"),
        ("HelmRelease", "vcluster-b", "shop"),
        ("Kustomization", "vcluster-c", "workload"),
    }


def test_a_route_hostname_no_listener_accepts() -> None:
    text = EXAMPLE.read_text().replace(
        "      - service: web\n        port: 8080\n",
        "      - service: web\n        port: 8080\n        hostname: web.acme.com\n",
    )
    line = _line_of(text, "hostname: web.acme.com")
    assert _problems(text) == [
        f"tenants.yaml:{line}:19: tenants[0].routes[0].hostname: hostname 'web.acme.com' "
        "matches no listener hostname of the Gateway (*.traefik.local): its HTTPRoute would "
        "not be accepted (NoMatchingListenerHostname)"
    ]
    parse(text.replace("web.acme.com", "web.traefik.local"))


def test_workloads_example_is_in_sync_with_its_tenants_yaml() -> None:
    """The repository's self-check of examples/workloads, once, here (make test does
    not run make selfcheck)."""
    res = invoke("check", "-c", str(EXAMPLE))
    assert res.code == 0, res.out + res.err
