"""Incremental plans (gitopsgen.incremental) write exactly what a full build writes:
random sequences of edits, each applied to the previous tree with only the edited
tenants' files and the cluster-level files, end in the full plan's tree byte for
byte, manifest included."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitopsgen.config import parse
from gitopsgen.incremental import plan_partial, verify_partial
from gitopsgen.ipam import parse_range
from gitopsgen.plan import MANIFEST, plan_platform
from gitopsgen.platform import resolve
from gitopsgen.render import Context, render_cluster_files, render_tenant_files

ROOT = Path(__file__).resolve().parents[1]
SOURCE = "tenants.yaml"
FLUX_ROOT = "./generated"

V1: dict[str, Any] = {
    "version": 1,
    "pool": ["172.18.0.200-172.18.0.239"],
    "reserved": {"traefik": "172.18.0.200"},
    "tenants": [
        {"name": "a", "ip": "172.18.0.210"},
        {"name": "b", "ip": "172.18.0.211", "vcluster": {"authDelegator": True}},
    ],
}


def _v2() -> dict[str, Any]:
    _, doc = parse((ROOT / "examples/fleet/tenants.yaml").read_text(), SOURCE)
    data: dict[str, Any] = doc.data
    return data


def _platform(data: dict[str, Any]) -> Any:
    config, _ = parse(json.dumps(data), SOURCE)
    return resolve(config, FLUX_ROOT)


def _manifest(tree: dict[str, bytes]) -> list[str]:
    lines = tree[MANIFEST].decode().splitlines()
    return [line for line in lines if line and not line.startswith("#")]


# One edit: ("add", i) a new tenant, ("remove", i) the i-th tenant (mod count),
# ("toggle", i) authDelegator of the i-th tenant, ("host", i) its hostname.
EDITS = st.lists(
    st.tuples(st.sampled_from(["add", "remove", "toggle", "host"]), st.integers(0, 50)),
    min_size=1,
    max_size=8,
)


def _apply(data: dict[str, Any], edit: tuple[str, int], serial: int) -> tuple[dict[str, Any], str]:
    data = copy.deepcopy(data)
    tenants: list[dict[str, Any]] = data["tenants"]
    kind, i = edit
    if kind == "add" or not tenants:
        name = f"n{serial}"
        entry: dict[str, Any] = {"name": name}
        if data["version"] == 2:
            cluster = data["clusters"][i % len(data["clusters"])]
            entry["cluster"] = cluster["name"]
            if cluster.get("shards"):
                entry["shard"] = cluster["shards"][i % len(cluster["shards"])]
            used = {t["ip"] for t in tenants} | set(cluster.get("reserved", {}).values())
            first = parse_range(cluster["pool"][0]).first
            entry["ip"] = next(ip for k in range(20, 60) if (ip := str(first + k)) not in used)
        else:
            used = {t["ip"] for t in tenants}
            entry["ip"] = next(ip for k in range(212, 239) if (ip := f"172.18.0.{k}") not in used)
        tenants.append(entry)
        return data, name
    target = tenants[i % len(tenants)]
    if kind == "remove":
        tenants.remove(target)
    elif kind == "toggle":
        vc = target.setdefault("vcluster", {})
        vc["authDelegator"] = not vc.get("authDelegator", False)
    else:
        if "hostname" in target:
            del target["hostname"]
        else:
            target["hostname"] = f"{target['name']}-{i}.traefik.local"
    return data, target["name"]


def _run(start: dict[str, Any], edits: list[tuple[str, int]]) -> None:
    data = start
    tree = plan_platform(_platform(data), SOURCE).contents()
    for serial, edit in enumerate(edits):
        data, name = _apply(data, edit, serial)
        platform = _platform(data)
        partial = plan_partial(platform, [name], _manifest(tree), SOURCE)
        verify_partial(partial, platform, "generated")
        for rel, planned in partial.plan.items():
            tree[rel] = planned.data
        for rel in partial.stale:
            del tree[rel]
        full = plan_platform(platform, SOURCE).contents()
        assert sorted(tree) == sorted(full), edit
        assert tree == full, edit
        assert list(partial.manifest) == _manifest(full)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EDITS)
def test_version_1_edit_sequences_match_a_full_build(edits: list[tuple[str, int]]) -> None:
    _run(V1, edits)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EDITS)
def test_version_2_edit_sequences_match_a_full_build(edits: list[tuple[str, int]]) -> None:
    _run(_v2(), edits)


@pytest.mark.parametrize("data", [V1, _v2()], ids=["v1", "v2"])
def test_every_path_reads_back_to_its_owner(data: dict[str, Any]) -> None:
    """What incremental plans rely on: each tenant's own files read back (layout.owner)
    to that tenant, and each cluster-level file to none."""
    platform = _platform(data)
    ctx = Context(platform)
    for cluster in platform.clusters:
        for t in cluster.tenants:
            for f in render_tenant_files(ctx, cluster, t):
                assert [c.layout.owner(f.path) for c in platform.clusters].count(t.name) == 1
        for f in render_cluster_files(ctx, cluster):
            assert all(c.layout.owner(f.path) is None for c in platform.clusters), f.path


def test_a_partial_plan_renders_only_the_named_tenants() -> None:
    platform = _platform(V1)
    full = plan_platform(platform, SOURCE)
    partial = plan_partial(platform, ["a"], list(full), SOURCE)
    assert not any("vcluster-b" in rel or "tenant-b" in rel for rel in partial.plan)
    assert any("vcluster-a" in rel for rel in partial.plan)
    assert partial.plan[MANIFEST].data == full[MANIFEST].data
    assert partial.stale == []


def test_files_of_a_tenant_that_is_gone_are_removed_even_unnamed() -> None:
    """tenants.yaml edited by hand (b removed), then `build --tenant a`: b's files go."""
    before = plan_platform(_platform(V1), SOURCE)
    data = copy.deepcopy(V1)
    data["tenants"] = data["tenants"][:1]
    platform = _platform(data)
    partial = plan_partial(platform, ["a"], list(before), SOURCE)
    tree = before.contents()
    for rel, planned in partial.plan.items():
        tree[rel] = planned.data
    for rel in partial.stale:
        del tree[rel]
    assert any("vcluster-b" in rel for rel in partial.stale)
    assert tree == plan_platform(platform, SOURCE).contents()


def test_a_partial_plan_is_verified() -> None:
    """A broken cluster-level file is caught in a partial plan too."""
    from gitopsgen.consistency import ConsistencyError

    data = copy.deepcopy(V1)
    platform = _platform(data)
    full = plan_platform(platform, SOURCE)
    partial = plan_partial(platform, ["a"], list(full), SOURCE)
    verify_partial(partial, platform, "generated")
    # Without b's trusted Kustomizations, network-policies' dependsOn on vcluster-b breaks.
    pretend = plan_partial(platform, ["a", "b"], list(full), SOURCE)
    files = {k: v for k, v in pretend.plan.files.items() if "vcluster-b" not in k}
    broken = type(pretend)(pretend.tenants, type(pretend.plan)(files), pretend.covered, ())
    with pytest.raises(ConsistencyError):
        verify_partial(broken, platform, "generated")


_SEGMENTS = st.sampled_from(
    [
        "clusters",
        "tenant",
        "tenants",
        "vcluster-a",
        "tenant-a",
        "tenant-",
        "vcluster-",
        "host-cluster",
        "fleet-a",
        "eu-1",
        "a",
        "b-c",
        "flux",
        "vcluster",
        "workload",
        "routes",
        "x.yaml",
        "tenant-a_kustomization.yaml",
        "vcluster-b_kustomization.yaml",
        "infrastructure",
        "network-policies",
        "vcluster-a-netpol.yaml",
        "",
        "kustomization.yaml",
    ]
)


@settings(max_examples=300, deadline=None)
@given(paths=st.lists(st.lists(_SEGMENTS, min_size=1, max_size=6).map("/".join), max_size=30))
def test_owners_of_many_paths_equal_the_owner_of_each(paths: list[str]) -> None:
    """Layout.owners matches each directory once; it must answer as owner does."""
    platforms = [_platform(V1), _platform(_v2())]
    real = [f for p in platforms for f in plan_platform(p, SOURCE)]
    for platform in platforms:
        for cluster in platform.clusters:
            layout = cluster.layout
            rels = [*paths, *real]
            expected = {r: o for r in rels if (o := layout.owner(r)) is not None}
            assert layout.owners(rels) == expected
            assert layout.owners(sorted(rels), ordered=True) == expected
