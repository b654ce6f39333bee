"""Incremental builds on disk: add-tenant, remove-tenant and build --tenant write only
the tenant's files and the cluster-level files, and the tree they leave is byte for
byte the tree a full build writes from the same tenants.yaml."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from conftest import SEED_TENANTS, invoke
from gitopsgen.plan import MANIFEST
from support.golden import tree_files


def _full(repo: Path, tmp: Path) -> dict[str, bytes]:
    """What a full build writes from repo's tenants.yaml, in a fresh copy."""
    fresh = tmp / "fresh"
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir()
    shutil.copy(repo / "tenants.yaml", fresh / "tenants.yaml")
    (fresh / ".git").mkdir()
    res = invoke("build", "-q", cwd=fresh)
    assert res.code == 0, res.err
    return tree_files(fresh / "generated")


@pytest.fixture
def repo(project, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    cfg = project(SEED_TENANTS)
    (cfg.parent / ".git").mkdir()
    assert invoke("build", "-q", cwd=cfg.parent).code == 0
    return cfg.parent


@pytest.mark.parametrize("seed", range(4))
def test_random_add_and_remove_match_a_full_build(repo: Path, tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    present = ["a", "b", "c"]
    serial = 0
    for _ in range(6):
        if present and rng.random() < 0.4:
            name = rng.choice(present)
            res = invoke("remove-tenant", name, cwd=repo)
            present.remove(name)
        else:
            name = f"n{seed}x{serial}"
            serial += 1
            res = invoke("add-tenant", name, cwd=repo)
            present.append(name)
        assert res.code == 0, res.out + res.err
        assert tree_files(repo / "generated") == _full(repo, tmp_path)


def test_build_tenant_rewrites_only_that_tenant(repo: Path, tmp_path: Path) -> None:
    cfg = repo / "tenants.yaml"
    cfg.write_text(cfg.read_text().replace("172.18.0.214", "172.18.0.215"))
    # A hand edit in another tenant's file: build --tenant c trusts the manifest for
    # it (not read, not repaired); a full build repairs it.
    other = next(p for p in (repo / "generated").rglob("*vcluster-a*") if p.is_file())
    other.write_text(other.read_text() + "# hand edit\n")
    res = invoke("build", "--tenant", "c", cwd=repo)
    assert res.code == 0, res.out + res.err
    expected = _full(repo, tmp_path)
    now = tree_files(repo / "generated")
    rel = other.relative_to(repo / "generated").as_posix()
    assert now[rel] != expected[rel]
    assert {k: v for k, v in now.items() if k != rel} == {
        k: v for k, v in expected.items() if k != rel
    }
    check = invoke("check", cwd=repo)
    assert check.code == 1  # check reads every file
    assert invoke("build", "-q", cwd=repo).code == 0
    assert tree_files(repo / "generated") == expected


def test_without_a_manifest_a_tenant_build_is_a_full_build(repo: Path, tmp_path: Path) -> None:
    (repo / "generated" / MANIFEST).unlink()
    shutil.rmtree(repo / "generated")
    res = invoke("build", "--tenant", "a", cwd=repo)
    assert res.code == 0, res.out + res.err
    assert tree_files(repo / "generated") == _full(repo, tmp_path)


def test_a_foreign_file_in_the_way_stops_an_incremental_build(repo: Path) -> None:
    blocked = repo / "generated" / "clusters" / "vcluster-zz"
    blocked.mkdir(parents=True)
    (blocked / "kustomization.yaml").write_text("# mine\n")
    before = tree_files(repo / "generated")
    res = invoke("add-tenant", "zz", cwd=repo)
    assert res.code == 2
    assert "did not write" in res.out + res.err
    assert tree_files(repo / "generated") == before


def test_after_a_killed_build_the_next_edit_builds_in_full(repo: Path, tmp_path: Path) -> None:
    """A journal left by a killed build: files of any tenant may be half-done, so the
    edit's build renders and compares every file (and repairs a hand edit too)."""
    from gitopsgen import fsio
    from gitopsgen.tree import JOURNAL

    (repo / "generated" / JOURNAL).write_bytes(fsio.JOURNAL_HEADER + b"0123456789abcdef\n")
    other = next(p for p in (repo / "generated").rglob("*vcluster-a*") if p.is_file())
    other.write_text(other.read_text() + "# hand edit\n")
    res = invoke("add-tenant", "zz", cwd=repo)
    assert res.code == 0, res.out + res.err
    assert tree_files(repo / "generated") == _full(repo, tmp_path)
