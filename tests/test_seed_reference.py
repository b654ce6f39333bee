"""For tenants a, b and c the generated objects are those of the seed repository.

Both trees go through the real ``kubectl kustomize``; objects are keyed by
(apiVersion, kind, namespace, name) and must be equal, except that Flux
``spec.path`` carries the ``./generated`` prefix. The network-policies Flux
Kustomization, which the seed keeps inside
clusters/host-cluster/infrastructure_kustomization.yaml, is compared with that one.

The seed lives outside the repository, in ``<repo>/../shared/reference/seed-tree``
(or ``$GITOPSGEN_SEED_TREE``); fresh clones lack it and this module skips.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import REPO, SEED_TENANTS, invoke
from support.kustomize import Key, index, key, kustomization_dirs, kustomize

SEED = Path(
    os.environ.get("GITOPSGEN_SEED_TREE", REPO.parent / "shared" / "reference" / "seed-tree")
)
FLUX_KUSTOMIZATION = ("kustomize.toolkit.fluxcd.io/v1", "Kustomization")
PREFIX = "./generated"
TENANTS = ("a", "b", "c")

pytestmark = pytest.mark.skipif(
    not SEED.is_dir(),
    reason=f"seed reference tree not found at {SEED} (it lives outside the repository; "
    "CI provides it, fresh clones do not)",
)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("seed") / "repo"
    repo.mkdir()
    (repo / "tenants.yaml").write_text(SEED_TENANTS)
    res = invoke("build", "-q", "-c", "tenants.yaml", cwd=repo)
    assert res.code == 0, res.err
    return repo / "generated"


def _normalise(obj: dict[str, Any]) -> dict[str, Any]:
    """A deep copy with a Flux Kustomization's path stripped of ``./generated``."""
    out: dict[str, Any] = yaml.safe_load(yaml.safe_dump(obj))
    if (out["apiVersion"], out["kind"]) == FLUX_KUSTOMIZATION:
        path = out["spec"]["path"]
        assert path.startswith(PREFIX + "/"), f"{key(obj)}: path {path!r} lacks {PREFIX}"
        out["spec"]["path"] = "." + path[len(PREFIX) :]
    return out


def _seed_objects(rel: Path) -> dict[Key, dict[str, Any]]:
    seed_dir = SEED / rel
    assert (seed_dir / "kustomization.yaml").is_file(), f"the seed has no {rel}"
    return index(kustomize(seed_dir))


def _is_tenant_specific(k: Key) -> bool:
    _, _, namespace, name = k
    return any(
        f"{prefix}-{t}" in (namespace, name) or name.startswith(f"allow-tenant-{t}-")
        for t in TENANTS
        for prefix in ("vcluster", "tenant")
    )


def test_objects_equal_the_seed(generated: Path) -> None:
    compared = 0
    problems: list[str] = []
    for directory in kustomization_dirs(generated):
        rel = directory.relative_to(generated)
        ours = index(kustomize(directory))
        theirs = _seed_objects(rel)
        for k, obj in ours.items():
            if k not in theirs:
                problems.append(f"{rel}: {k} is not in the seed")
                continue
            if _normalise(obj) != theirs[k]:
                problems.append(
                    f"{rel}: {k} differs\n--- ours\n{yaml.safe_dump(_normalise(obj))}"
                    f"--- seed\n{yaml.safe_dump(theirs[k])}"
                )
            compared += 1
        # What only the seed has is shared platform wiring, never a tenant's object.
        for k in theirs.keys() - ours.keys():
            if _is_tenant_specific(k):
                problems.append(f"{rel}: the seed's {k} is not generated")
    assert not problems, "\n".join(problems)
    # 3 tenants x (3 + 1 rbac for b) vcluster objects, 3 x 6 tenant objects,
    # 3 x 8 policies, 3 grants, 7 Flux Kustomizations in host-cluster.
    assert compared == 10 + 18 + 24 + 3 + 7


def test_network_policies_kustomization_equals_the_seeds(generated: Path) -> None:
    ours = yaml.safe_load(
        (generated / "clusters/host-cluster/network-policies_kustomization.yaml").read_text()
    )
    infra = SEED / "clusters/host-cluster/infrastructure_kustomization.yaml"
    theirs = [
        d
        for d in yaml.safe_load_all(infra.read_text())
        if d
        and (d["apiVersion"], d["kind"]) == FLUX_KUSTOMIZATION
        and d["metadata"]["name"] == "network-policies"
    ]
    assert len(theirs) == 1, f"{infra} should hold one network-policies Kustomization"
    assert _normalise(ours) == theirs[0]


def test_every_generated_file_mirrors_a_seed_path(generated: Path) -> None:
    """Same layout as the seed; only network-policies_kustomization.yaml is new
    (the seed keeps that object in infrastructure_kustomization.yaml)."""
    new = sorted(
        p.relative_to(generated).as_posix()
        for p in generated.rglob("*.yaml")
        if not (SEED / p.relative_to(generated)).exists()
    )
    assert new == ["clusters/host-cluster/network-policies_kustomization.yaml"]


def test_seed_tenant_files_are_all_generated(generated: Path) -> None:
    """Nothing per tenant in the seed is missing from the generated tree."""
    missing = []
    for t in TENANTS:
        for top in (SEED / f"tenant/tenant-{t}", SEED / f"clusters/vcluster-{t}"):
            for path in top.rglob("*.yaml"):
                rel = path.relative_to(SEED)
                if not (generated / rel).is_file():
                    missing.append(rel.as_posix())
        net = f"infrastructure/network-policies/vcluster-{t}-netpol.yaml"
        if not (generated / net).is_file():
            missing.append(net)
    assert not missing
