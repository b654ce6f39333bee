"""Version 2 at fleet scale (issue 13, SPEC-v2 sections 2 and 3).

A file of 3 host clusters (one with 3 Flux shards) and 300 tenants is built, and
for every cluster the tree is walked the way Flux walks it: the real
``kubectl kustomize`` of the entry point, then of every Flux Kustomization's
``spec.path`` it reaches, recursively. Nothing is defined twice, every
``dependsOn`` resolves, and every tenant's objects come from its own cluster's
subtree. Adding a tenant, a cluster or a shard changes no existing tenant's file;
``add-tenant`` spreads new tenants evenly.
"""

from __future__ import annotations

import collections
import posixpath
import subprocess
from concurrent.futures import ThreadPoolExecutor
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from conftest import GIT_ENV, invoke
from gitopsgen.config import parse
from gitopsgen.edit import add_tenant
from gitopsgen.layout import TenantNames
from gitopsgen.plan import make_plan
from gitopsgen.platform import resolve
from support.crds import crd_errors, require_crds
from support.kustomize import kustomize

CLUSTERS = (
    ("eu-1", "10.10.0.0/22", "10.10.0.1", ("s1", "s2", "s3")),
    ("us-1", "10.20.0.0/24", "10.20.0.1", ()),
    ("ap-1", "10.30.0.0/24", "10.30.0.1", ()),
)
EXTERNAL = {"metallb", "metallb-config", "gateway-api", "traefik", "cilium"}
FLUX_KS = "kustomize.toolkit.fluxcd.io/v1"
SHARD_LABEL = "sharding.fluxcd.io/key"
K8S_VERSION = "1.33.0"
CORE_APIS = {"v1", "apps/v1", "networking.k8s.io/v1", "rbac.authorization.k8s.io/v1"}


def fleet_text(
    tenants: int, clusters: tuple[tuple[str, str, str, tuple[str, ...]], ...] = CLUSTERS
) -> str:
    """A version 2 tenants.yaml: ``tenants`` tenants dealt round-robin over the
    clusters (and over a cluster's shards), addresses from the start of each pool."""
    lines = ["version: 2", "output: generated", "clusters:"]
    for name, pool, traefik, shards in clusters:
        lines += [
            f"  - name: {name}",
            f"    pool: [{pool}]",
            f"    reserved: {{traefik: {traefik}}}",
        ]
        if shards:
            lines.append(f"    shards: [{', '.join(shards)}]")
    lines.append("tenants:" if tenants else "tenants: []")
    counts: collections.Counter[str] = collections.Counter()
    for i in range(tenants):
        name, pool, _, shards = clusters[i % len(clusters)]
        n = counts[name]
        counts[name] += 1
        ip = IPv4Address(pool.split("/")[0]) + 2 + n
        lines += [f"  - name: t{i:03d}", f"    cluster: {name}"]
        if shards:
            lines.append(f"    shard: {shards[n % len(shards)]}")
        lines.append(f"    ip: {ip}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("fleet") / "repo"
    repo.mkdir()
    (repo / "tenants.yaml").write_text(fleet_text(300))
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True, env=GIT_ENV)
    res = invoke("build", "-q", "-c", "tenants.yaml", cwd=repo)
    assert res.code == 0, res.err
    return repo


def _walk(repo: Path, cluster: str) -> tuple[list[tuple[str, str, dict[str, Any]]], list[str]]:
    """What Flux applies to ``cluster``: (target, directory, object) for every object
    of every directory reached from the entry point, and the directories."""
    entry = f"generated/clusters/{cluster}"
    seen = {entry}
    queue = [(entry, cluster)]
    found: list[tuple[str, str, dict[str, Any]]] = []
    with ThreadPoolExecutor(4) as pool:
        while queue:
            batch, queue = queue, []
            results = pool.map(lambda item: kustomize(repo / item[0]), batch)
            for (directory, target), objs in zip(batch, results, strict=True):
                for obj in objs:
                    found.append((target, directory, obj))
                    if obj["apiVersion"] != FLUX_KS or obj["kind"] != "Kustomization":
                        continue
                    path = posixpath.normpath(obj["spec"]["path"])
                    where = target
                    if "kubeConfig" in obj["spec"]:
                        where = f"{cluster}/{obj['spec']['kubeConfig']['secretRef']['name']}"
                    if path not in seen:
                        seen.add(path)
                        queue.append((path, where))
    return found, sorted(seen)


def test_every_flux_path_builds_and_holds_together(fleet: Path) -> None:
    config, _ = parse((fleet / "tenants.yaml").read_bytes())
    platform = resolve(config, "./generated")
    every_dir: set[str] = set()
    for cluster in platform.clusters:
        objects, dirs = _walk(fleet, cluster.name)
        every_dir.update(dirs)
        ids: dict[tuple[str, str, str, str, str], str] = {}
        flux: dict[tuple[str, str], dict[str, Any]] = {}
        for target, directory, obj in objects:
            # Every object of the cluster comes from the cluster's own subtree.
            assert directory.startswith(f"generated/clusters/{cluster.name}"), directory
            meta = obj["metadata"]
            group = obj["apiVersion"].rpartition("/")[0]
            ident = (target, group, obj["kind"], meta.get("namespace", ""), meta["name"])
            assert ident not in ids, f"{ident} in {directory} and {ids[ident]}"
            ids[ident] = directory
            if obj["apiVersion"] == FLUX_KS and obj["kind"] == "Kustomization":
                flux[(meta["namespace"], meta["name"])] = obj
        for (namespace, name), obj in flux.items():
            for dep in obj["spec"].get("dependsOn", []):
                ref = (dep.get("namespace", namespace), dep["name"])
                assert ref in flux or (ref[0] == "flux-system" and ref[1] in EXTERNAL), (
                    name,
                    ref,
                )
        # Every tenant of the cluster is reached, with its vcluster and workload.
        names = {t.name for t in cluster.tenants}
        releases = {o["metadata"]["name"] for _, _, o in objects if o["kind"] == "HelmRelease"}
        assert releases == {TenantNames(n).vcluster for n in names}
        deployments = {t for t, _, o in objects if o["kind"] == "Deployment"}
        assert deployments == {f"{cluster.name}/{TenantNames(n).kubeconfig_secret}" for n in names}
    # Every kustomization directory of the tree is reached by some cluster's Flux:
    # as a Flux Kustomization's path, or as a directory such a path's index lists.
    for directory in list(every_dir):
        index = yaml.safe_load((fleet / directory / "kustomization.yaml").read_text())
        for entry in index["resources"]:
            if not entry.endswith(".yaml"):
                every_dir.add(posixpath.normpath(posixpath.join(directory, entry)))
    on_disk = {
        p.parent.relative_to(fleet).as_posix()
        for p in (fleet / "generated").rglob("kustomization.yaml")
    }
    assert on_disk == every_dir


def test_no_kustomize_build_lists_the_whole_fleet(fleet: Path) -> None:
    """The fan-out: the entry point lists the shards (or buckets), a shard its
    buckets, a bucket its tenants; none lists more than a bucket's tenants."""
    sizes = {}
    for index in (fleet / "generated").rglob("kustomization.yaml"):
        data = yaml.safe_load(index.read_text())
        sizes[index.parent.relative_to(fleet / "generated").as_posix()] = len(data["resources"])
    assert max(sizes.values()) < 40  # 300 tenants, 16 buckets per shard or cluster
    assert sizes["clusters/eu-1"] == 4  # the chart sources and three shards


def test_sharded_tenants_carry_their_shard_everywhere(fleet: Path) -> None:
    config, _ = parse((fleet / "tenants.yaml").read_bytes())
    platform = resolve(config, "./generated")
    eu = platform.cluster("eu-1")
    for tenant in eu.tenants[:30]:
        home = fleet / "generated" / eu.layout.entry_dir / "tenants" / tenant.name
        flux_objects = []
        for file in home.rglob("*.yaml"):
            if file.name == "kustomization.yaml":
                continue
            for obj in yaml.safe_load_all(file.read_text()):
                if "fluxcd.io" in obj["apiVersion"]:
                    flux_objects.append(obj)
        assert flux_objects
        for obj in flux_objects:
            assert obj["metadata"]["labels"][SHARD_LABEL] == tenant.shard, obj["metadata"]
            if obj["kind"] == "HelmRelease":
                chart = obj["spec"]["chart"]
                assert chart["metadata"]["labels"][SHARD_LABEL] == tenant.shard
                assert chart["spec"]["sourceRef"]["name"] == f"loft-{tenant.shard}"
    sources = yaml.safe_load_all(
        (fleet / "generated/clusters/eu-1/helmrepository.yaml").read_text()
    )
    assert {s["metadata"]["name"]: s["metadata"]["labels"][SHARD_LABEL] for s in sources} == {
        "loft-s1": "s1",
        "loft-s2": "s2",
        "loft-s3": "s3",
    }


def test_flux_and_gateway_objects_match_their_crds(fleet: Path) -> None:
    require_crds()
    checked = collections.Counter[str]()
    problems = []
    for file in (fleet / "generated").rglob("*.yaml"):
        for obj in yaml.safe_load_all(file.read_text()):
            if obj is None or obj["apiVersion"].startswith("kustomize.config.k8s.io"):
                continue
            errors = crd_errors(obj)
            if errors is None:
                # Core objects: every tenant's are made by the same code, so those of
                # the tenants t000-t029 (about 10 per cluster) stand for all of them
                # (kubernetes-validate takes about 10 ms an object).
                if obj["apiVersion"] in CORE_APIS and _sampled(file):
                    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
                    checked["core"] += 1
                continue
            checked[obj["kind"]] += 1
            problems += [f"{file}: {e}" for e in errors]
    assert not problems, "\n".join(problems[:20])
    for kind in ("Kustomization", "HelmRelease", "HelmRepository", "ReferenceGrant", "HTTPRoute"):
        assert checked[kind] > 0, kind
    assert checked["core"] > 0


def _sampled(file: Path) -> bool:
    parts = file.parts
    if "tenants" not in parts:
        return True
    name = parts[parts.index("tenants") + 1]
    return name < "t030"


def test_strict_crd_validation_rejects_unknown_fields() -> None:
    require_crds()
    ks = {
        "apiVersion": FLUX_KS,
        "kind": "Kustomization",
        "metadata": {"name": "x", "namespace": "flux-system"},
        "spec": {
            "interval": "2m",
            "path": "./x",
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
        },
    }
    assert crd_errors(ks) == []
    ks["spec"]["wiat"] = True
    assert crd_errors(ks)


def _tenant_files(text: str) -> dict[str, dict[str, bytes]]:
    config, _ = parse(text)
    platform = resolve(config, "./generated")
    plan = make_plan(config, "./generated")
    owned: dict[str, dict[str, bytes]] = collections.defaultdict(dict)
    for path, planned in plan.items():
        for cluster in platform.clusters:
            owner = cluster.layout.owner(path)
            if owner is not None:
                owned[owner][path] = planned.data
    return owned


@pytest.mark.parametrize("change", ["tenant", "cluster", "shard"])
def test_growing_the_fleet_changes_no_existing_tenant(change: str) -> None:
    before_text = fleet_text(60)
    if change == "tenant":
        after_text = add_tenant(before_text, "newcomer").text
    elif change == "cluster":
        after_text = before_text.replace(
            "tenants:",
            "  - name: sa-1\n    pool: [10.40.0.0/24]\n"
            "    reserved: {traefik: 10.40.0.1}\ntenants:",
            1,
        )
    else:
        after_text = before_text.replace("shards: [s1, s2, s3]", "shards: [s1, s2, s3, s4]")
    assert after_text != before_text
    before, after = _tenant_files(before_text), _tenant_files(after_text)
    assert before
    for tenant, files in before.items():
        assert after[tenant] == files, tenant


def test_add_tenant_spreads_new_tenants_evenly() -> None:
    text = fleet_text(0)
    for i in range(100):
        text = add_tenant(text, f"n{i:03d}").text
    config, _ = parse(text)
    platform = resolve(config, "./generated")
    counts = {c.name: len(c.tenants) for c in platform.clusters}
    assert sum(counts.values()) == 100
    for count in counts.values():
        assert abs(count - 100 / 3) <= 0.3 * 100 / 3, counts
    eu = platform.cluster("eu-1")
    shards = collections.Counter(t.shard for t in eu.tenants)
    for shard in eu.shards:
        assert abs(shards[shard] - len(eu.tenants) / 3) <= 0.3 * len(eu.tenants) / 3, shards
    for cluster in platform.clusters:
        ips = [t.ip for t in cluster.tenants]
        assert len(set(ips)) == len(ips)
