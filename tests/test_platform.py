"""The resolved platform, the layout and the component registry."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from gitopsgen.config import parse
from gitopsgen.layout import NAME_MAX, TenantNames, name_too_long
from gitopsgen.model import Defaults
from gitopsgen.platform import Platform, resolve
from gitopsgen.render import COMPONENTS, Context, render_platform

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def platform() -> Platform:
    config, _ = parse((ROOT / "tenants.yaml").read_bytes())
    return resolve(config, "./generated")


def test_every_tenant_file_is_located_by_its_path(platform: Platform) -> None:
    """Reading the layout backwards gives each tenant file's owner, namespace and
    target exactly as the renderer placed it; shared files belong to nobody."""
    layout = platform.clusters[0].layout
    files = render_platform(Context(platform))
    assert files
    for f in files:
        found = layout.locate(f.path)
        if f.tenant is None:
            assert found is None, f.path
        else:
            assert found is not None, f.path
            assert (found.tenant, found.namespace, found.target) == (
                f.tenant,
                f.namespace,
                f.target,
            ), f.path


def test_locate_rejects_lookalikes(platform: Platform) -> None:
    layout = platform.clusters[0].layout
    for rel in (
        "clusters/vcluster-/x.yaml",
        "clusters/vcluster-a",
        "clusters/host-cluster/kustomization.yaml",
        "clusters/host-cluster/vcluster-a/b_kustomization.yaml",
        "tenant/tenant-a",
        "infrastructure/network-policies/kustomization.yaml",
        "infrastructure/traefik/config/referencegrant.yaml",
    ):
        assert layout.locate(rel) is None, rel
    assert layout.owner("clusters/host-cluster/tenant-a-b_kustomization.yaml") == "a-b"


def test_name_limit_is_the_strictest_derived_name() -> None:
    longest = "x" * NAME_MAX
    assert name_too_long(longest) is None
    # The StatefulSet named after the release must fit 52 (kubernetes/kubernetes#64023).
    assert len(TenantNames(longest).vcluster) == 52
    message = name_too_long(longest + "x")
    assert message is not None and "StatefulSet (Helm release) name" in message


def _changed(platform: Platform, name: str, defaults: Defaults) -> Platform:
    cluster = platform.clusters[0]
    tenants = tuple(
        dataclasses.replace(t, defaults=defaults) if t.name == name else t for t in cluster.tenants
    )
    return dataclasses.replace(platform, clusters=(dataclasses.replace(cluster, tenants=tenants),))


@pytest.mark.parametrize(
    ("section", "update"),
    [
        ("workload", {"image": "nginx:9.9"}),
        ("workload", {"port": 8080}),
        ("network_policies", {"ingress_namespace": "contour"}),
        ("flux", {"namespace": "gitops"}),
        ("vcluster", {"interval": "7m"}),
    ],
)
def test_a_tenant_specific_change_in_a_shared_part_stays_with_that_tenant(
    platform: Platform, section: str, update: dict[str, object]
) -> None:
    """Parts shared between tenants are keyed by the values they are made from: a
    tenant whose values differ gets its own part, and no other tenant's file moves."""
    base = platform.clusters[0].defaults
    part = getattr(base, section).model_copy(update=update)
    changed = _changed(platform, "b", base.model_copy(update={section: part}))
    before = {f.path: f for f in render_platform(Context(platform))}
    after = {f.path: f for f in render_platform(Context(changed))}
    differing = {p for p in before if before[p].docs != after[p].docs}
    assert differing, "the change must show somewhere"
    owners = {before[p].tenant for p in differing}
    assert "b" in owners
    assert owners <= {"b", None}
    # A shared file may change only in b's documents.
    for p in differing:
        f = before[p]
        if f.tenant is None and f.doc_tenants is not None:
            for i, (old, new) in enumerate(zip(f.docs, after[p].docs, strict=True)):
                if old != new:
                    assert f.doc_tenants[i] == "b", p


def test_registry_lists_every_component_once() -> None:
    names = [c.name for c in COMPONENTS]
    assert len(names) == len(set(names))
    assert all(c.per_tenant or c.per_cluster for c in COMPONENTS)
