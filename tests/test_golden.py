"""Golden cases: each tests/cases/<name>/tenants.yaml builds byte for byte into
tests/cases/<name>/expected/. Regenerate with GITOPSGEN_UPDATE_GOLDEN=1 (see
tests/support/golden.py), then review the diff."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from conftest import REPO, invoke
from gitopsgen.config import load, parse
from gitopsgen.layout import TenantNames
from gitopsgen.plan import make_plan, plan_project
from support.golden import (
    CASES,
    replace_tree,
    tree_differences,
    tree_files,
    updating,
    valid_cases,
)


def build_case(name: str, tmp_path: Path) -> Path:
    """Build case ``name`` in a fresh repository under ``tmp_path``; return the output dir."""
    repo = tmp_path / "repo"
    repo.mkdir(parents=True)
    shutil.copyfile(CASES / name / "tenants.yaml", repo / "tenants.yaml")
    res = invoke("build", "-c", "tenants.yaml", cwd=repo)
    assert res.code == 0, res.err
    return load(repo / "tenants.yaml").output_dir


@pytest.mark.parametrize("case", valid_cases())
def test_golden_tree(case: str, tmp_path: Path) -> None:
    out = build_case(case, tmp_path)
    expected_dir = CASES / case / "expected"
    if updating():
        replace_tree(expected_dir, out)
    actual, expected = tree_files(out), tree_files(expected_dir)
    assert expected, f"{expected_dir} is empty; run with GITOPSGEN_UPDATE_GOLDEN=1 and review"
    diff = tree_differences(actual, expected)
    assert not diff, f"case {case!r} differs from {expected_dir}:\n" + "\n".join(diff)


def test_every_case_is_collected() -> None:
    """A typo in a folder name must not silently drop a case."""
    assert set(valid_cases()) >= {"seed", "long-names", "overrides", "empty", "cidr-pool"}


def test_seed_case_is_the_bundled_tenants_yaml() -> None:
    """The seed case and the repository's own tenants.yaml / generated/ agree."""
    assert (CASES / "seed" / "tenants.yaml").read_bytes() == (REPO / "tenants.yaml").read_bytes()
    assert tree_files(CASES / "seed" / "expected") == tree_files(REPO / "generated")


def test_tenant_order_does_not_matter() -> None:
    config, _ = parse((CASES / "seed" / "tenants.yaml").read_bytes())
    shuffled = config.model_copy(update={"tenants": list(reversed(config.tenants))})
    assert make_plan(shuffled, "./generated").contents() == (
        make_plan(config, "./generated").contents()
    )


def test_build_is_deterministic_across_directories(tmp_path: Path) -> None:
    first = build_case("overrides", tmp_path / "one")
    second = build_case("overrides", tmp_path / "two")
    assert tree_files(first) == tree_files(second)


def test_plan_matches_what_build_writes(tmp_path: Path) -> None:
    out = build_case("seed", tmp_path)
    project = load(out.parent / "tenants.yaml")
    assert tree_files(out) == plan_project(project).contents()


# vcluster's SafeConcatName, written out independently of gitopsgen.layout.
def _vcluster_name(tenant: str) -> str:
    full = f"nginx-x-default-x-vcluster-{tenant}"
    if len(full) <= 63:
        return full
    return full[:52] + "-" + hashlib.sha256(full.encode()).hexdigest()[:10]


@pytest.mark.parametrize("length", [1, 35, 36, 37, 43])
def test_backend_name_follows_vcluster(length: int) -> None:
    tenant = ("t" + "0123456789" * 5)[:length]
    name = TenantNames(tenant).synced_service("nginx", "default")
    assert name == _vcluster_name(tenant)
    assert len(name) <= 63
    assert (len(name) == 63) == (length >= 36)


def test_long_names_case_routes_to_shortened_backend() -> None:
    """The 43-character tenant's route uses the SHA-256-shortened Service name."""
    name = "customer-portal-payments-eu-central-1-prd-a"
    full = f"nginx-x-default-x-vcluster-{name}"
    route = (
        CASES / "long-names" / "expected" / f"tenant/tenant-{name}/routes/nginx_httproute.yaml"
    ).read_text()
    short = full[:52] + "-" + hashlib.sha256(full.encode()).hexdigest()[:10]
    assert f"name: {short}\n" in route
    assert full not in route
