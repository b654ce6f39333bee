"""gitopsgen migrate: a version 1 tenants.yaml rewritten as version 2, comments and
layout kept, every tenant pinned to k3s; and diff across the migration."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import GIT_ENV, REPO, invoke
from gitopsgen.config import parse
from gitopsgen.migrate import migrate_text
from gitopsgen.model import Config, ConfigV2
from gitopsgen.plan import render_outputs

BUNDLED = REPO / "tenants.yaml"


def _comments(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        if "#" in line:
            out.append(line[line.index("#") :].strip())
    return out


def _values(config: Any) -> dict[str, dict[str, Any]]:
    docs = [d for f in render_outputs(config, "./generated") for d in f.docs]
    return {
        d["spec"].get("targetNamespace") or d["metadata"]["name"]: d["spec"]["values"]
        for d in docs
        if d["kind"] == "HelmRelease"
    }


def test_migrate_the_bundled_file() -> None:
    original = BUNDLED.read_text()
    old, _ = parse(original)
    assert isinstance(old, Config)
    result = migrate_text(original)
    new, _ = parse(result.text)
    assert isinstance(new, ConfigV2)
    assert result.pinned == ("a", "b", "c")
    # Every comment of the file is still there, in order.
    kept = _comments(result.text)
    for comment in _comments(original):
        assert comment in kept, comment
    # One cluster named after the old host-cluster directory, with the pool and
    # reserved addresses; the tenants as they were, pinned.
    (cluster,) = new.clusters
    assert cluster.name == "host-cluster"
    assert cluster.pool == old.pool and cluster.reserved == old.reserved
    assert cluster.entry_point == old.wiring.host_cluster
    assert [(t.name, t.ip, t.vcluster.distro) for t in new.tenants] == [
        (t.name, t.ip, "k3s") for t in old.tenants
    ]
    assert new.tenants[1].vcluster.values == old.tenants[1].vcluster.values
    # The file on disk is untouched (migrate_text only returns text).
    assert BUNDLED.read_text() == original


def test_migrated_tenants_keep_their_running_values() -> None:
    """What cannot change on a running vcluster is the same in both trees: the k3s
    distro block (with its --tls-san), the k3s statefulSet environment, the
    exported kubeconfig's server, the tenant's own values."""
    original = BUNDLED.read_text()
    v1 = _values(parse(original)[0])
    v2 = _values(parse(migrate_text(original).text)[0])
    assert set(v1) == set(v2) == {"vcluster-a", "vcluster-b", "vcluster-c"}
    for name in v1:
        old, new = v1[name], v2[name]
        assert new["controlPlane"]["distro"] == old["controlPlane"]["distro"]
        assert "k3s" in new["controlPlane"]["distro"]
        assert new["controlPlane"]["statefulSet"] == old["controlPlane"]["statefulSet"]
        assert new["exportKubeConfig"] == old["exportKubeConfig"]
        assert new["sync"] == old["sync"]
        assert new["controlPlane"]["proxy"] == old["controlPlane"]["proxy"]


def test_migrate_keeps_an_existing_pin_and_adds_options() -> None:
    text = (
        "version: 1\npool: [10.0.0.0/24]\ntenants:\n"
        "  - name: a\n    ip: 10.0.0.5\n    vcluster: {distro: k3s}\n"
    )
    with pytest.raises(Exception, match="distro"):
        migrate_text(text)  # distro is not a version 1 key: the input is refused
    text = "version: 1\npool: [10.0.0.0/24]\ntenants:\n  - name: a\n    ip: 10.0.0.5\n"
    result = migrate_text(text, repository="https://example.com/p.git", output="fleet")
    config, _ = parse(result.text)
    assert isinstance(config, ConfigV2)
    assert config.output == "fleet"
    assert config.defaults.flux.repository is not None
    assert config.defaults.flux.repository.url == "https://example.com/p.git"


def test_migrate_refuses_a_version_2_file(tmp_path: Path) -> None:
    shutil.copyfile(REPO / "examples" / "fleet" / "tenants.yaml", tmp_path / "tenants.yaml")
    before = (tmp_path / "tenants.yaml").read_bytes()
    res = invoke("migrate", cwd=tmp_path)
    assert res.code == 2 and "already version 2" in res.err
    assert (tmp_path / "tenants.yaml").read_bytes() == before


def test_cli_dry_run_writes_nothing(tmp_path: Path) -> None:
    shutil.copyfile(BUNDLED, tmp_path / "tenants.yaml")
    before = (tmp_path / "tenants.yaml").read_bytes()
    res = invoke("migrate", "--dry-run", cwd=tmp_path)
    assert res.code == 0, res.err
    assert res.out == migrate_text(before.decode()).text
    assert (tmp_path / "tenants.yaml").read_bytes() == before


def test_cli_in_place_and_move_output(tmp_path: Path) -> None:
    shutil.copyfile(BUNDLED, tmp_path / "tenants.yaml")
    shutil.copytree(REPO / "clusters", tmp_path / "clusters")
    assert invoke("build", "-q", cwd=tmp_path).code == 0
    assert invoke("migrate", "--move-output", cwd=tmp_path).code == 2  # needs --output
    res = invoke("migrate", "--output", "fleet", "--move-output", cwd=tmp_path)
    assert res.code == 0, res.err
    assert "pinned to k3s: a, b, c" in res.out
    assert not (tmp_path / "generated").exists()
    assert (tmp_path / "fleet" / ".gitopsgen-manifest").is_file()
    config, _ = parse((tmp_path / "tenants.yaml").read_text())
    assert isinstance(config, ConfigV2) and config.output == "fleet"
    # The build then replaces the version 1 tree in place, from its manifest.
    res = invoke("build", cwd=tmp_path)
    assert res.code == 0, res.err
    assert not (tmp_path / "fleet" / "infrastructure").exists()
    assert (tmp_path / "fleet" / "clusters" / "host-cluster" / "tenants" / "a").is_dir()


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, env={**GIT_ENV, "PATH": "/usr/bin:/bin"})


def test_diff_across_the_migration_keeps_k3s(tmp_path: Path) -> None:
    """On a real git repository: commit version 1, migrate, and `gitopsgen diff`
    shows every vcluster's HelmRelease still on k3s."""
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copyfile(BUNDLED, repo / "tenants.yaml")
    shutil.copytree(REPO / "clusters", repo / "clusters")
    _git(repo, "init", "-q", "-b", "main")
    assert invoke("build", "-q", cwd=repo).code == 0
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "version 1")
    assert invoke("migrate", cwd=repo).code == 0
    res = invoke("diff", "--base", "main", "--format", "json", cwd=repo)
    assert res.code == 0, res.err
    report = json.loads(res.out)
    seen = {}
    for tenant in report["tenants"]:
        for obj in tenant["objects"]:
            if obj["kind"] != "HelmRelease" or obj["change"] == "removed":
                continue
            new = obj.get("new")
            assert new is not None, obj
            seen[tenant["name"]] = new["spec"]["values"]["controlPlane"]["distro"]
    assert set(seen) == {"a", "b", "c"}
    for distro in seen.values():
        assert set(distro) == {"k3s"} and distro["k3s"]["enabled"] is True
