"""check confirms the generated tree is reachable from the repository's own
kustomizations (wiring.hostCluster, wiring.traefikConfig)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import REPO, SEED_TENANTS, invoke
from gitopsgen.config import load
from gitopsgen.wiring import check_wiring, links

KUBECTL = Path(sys.executable).parent / "kubectl"
HOST = "clusters/host-cluster/kustomization.yaml"
TRAEFIK = "infrastructure/traefik/config/kustomization.yaml"
HOST_LINE = "- ../../generated/clusters/host-cluster"
TRAEFIK_LINE = "- ../../../generated/infrastructure/traefik/config"

SEED_HOST = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: flux-system
resources:
  - infrastructure_kustomization.yaml
"""


def _repo(project: Callable[[str], Path], text: str = SEED_TENANTS) -> Path:
    cfg = project(text)
    res = invoke("build", "-q", "-c", "tenants.yaml", cwd=cfg.parent)
    assert res.code == 0, res.err
    return cfg.parent


def _write(repo: Path, rel: str, text: str) -> Path:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _config_map(name: str, namespace: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {namespace}\n"


def _wire(repo: Path) -> None:
    _write(repo, HOST, SEED_HOST + f"  {HOST_LINE}\n")
    # The files the kustomizations list exist: the repository check builds them.
    _write(repo, "clusters/host-cluster/infrastructure_kustomization.yaml", _config_map("i", "x"))
    _write(repo, TRAEFIK, f"resources:\n  - traefik_certificate.yaml\n  {TRAEFIK_LINE}\n")
    _write(repo, "infrastructure/traefik/config/traefik_certificate.yaml", _config_map("c", "x"))


def test_this_repository_is_wired_and_kustomize_builds_it() -> None:
    project = load(REPO / "tenants.yaml")
    assert check_wiring(project) == []
    assert {
        link.root_file.relative_to(REPO).as_posix(): f"- {link.line}" for link in links(project)
    } == {
        HOST: HOST_LINE,
        TRAEFIK: TRAEFIK_LINE,
    }
    host = subprocess.run(
        [str(KUBECTL), "kustomize", str(REPO / "clusters/host-cluster")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in ("vcluster-a", "tenant-c", "network-policies"):
        assert f"  name: {name}\n  namespace: flux-system\n" in host
    grants = subprocess.run(
        [str(KUBECTL), "kustomize", str(REPO / "infrastructure/traefik/config")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert grants.count("kind: ReferenceGrant") == 3


def test_wired_repository_is_clean(project: Callable[[str], Path]) -> None:
    repo = _repo(project)
    _wire(repo)
    res = invoke("check", "-c", "tenants.yaml", cwd=repo)
    assert res.code == 0, res.err
    assert res.err == ""
    assert res.out == "generated: in sync with tenants.yaml (54 files)\n"


def test_missing_line_is_drift_with_the_line_to_add(project: Callable[[str], Path]) -> None:
    repo = _repo(project)
    _wire(repo)
    _write(repo, HOST, SEED_HOST)  # the seed's root kustomization, not yet wired
    res = invoke("check", "-c", "tenants.yaml", cwd=repo)
    assert res.code == 1
    assert res.err == ""  # the report goes to standard output
    assert res.out.splitlines() == [
        "generated: in sync with tenants.yaml, but 1 wiring line(s) are missing: "
        "Flux does not reach the generated tree",
        f"  {HOST}:4: does not include the generated directory generated/clusters/host-cluster, "
        "so Flux never applies it; add this line under resources: "
        f"`{HOST_LINE}`",
    ]
    # Adding exactly that line fixes it.
    _write(repo, HOST, SEED_HOST + f"  {HOST_LINE}\n")
    assert invoke("check", "-c", "tenants.yaml", cwd=repo).code == 0


def test_quiet_prints_the_summary_only(project: Callable[[str], Path]) -> None:
    repo = _repo(project)
    _wire(repo)
    _write(repo, TRAEFIK, "resources:\n  - traefik_certificate.yaml\n")
    res = invoke("check", "-q", "-c", "tenants.yaml", cwd=repo)
    assert res.code == 1
    assert len(res.out.splitlines()) == 1


def test_file_without_resources_suggests_a_resources_list(project: Callable[[str], Path]) -> None:
    repo = _repo(project)
    _wire(repo)
    _write(repo, TRAEFIK, "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n")
    res = invoke("check", "-c", "tenants.yaml", cwd=repo)
    assert res.code == 1
    assert (
        f"  {TRAEFIK}: does not include the generated directory "
        "generated/infrastructure/traefik/config, so Flux never applies it; add this line in "
        f"a new 'resources:' list: `{TRAEFIK_LINE}`"
    ) in res.out.splitlines()


def test_unreadable_wiring_file_is_reported(project: Callable[[str], Path]) -> None:
    repo = _repo(project)
    _wire(repo)
    _write(repo, HOST, "resources: [\n")
    res = invoke("check", "-c", "tenants.yaml", cwd=repo)
    assert res.code == 1
    assert f"  {HOST}: cannot check that it includes generated/clusters/host-cluster: " in res.out
    assert "YAML syntax error" in res.out


def test_missing_wiring_file_is_a_note(project: Callable[[str], Path]) -> None:
    repo = _repo(project)
    res = invoke("check", "-c", "tenants.yaml", cwd=repo)
    assert res.code == 0
    assert res.out == "generated: in sync with tenants.yaml (54 files)\n"
    notes = res.err.splitlines()
    assert len(notes) == 2
    assert notes[0] == (
        f"note: wiring.hostCluster: {HOST} does not exist, so nothing shows that Flux applies "
        "generated/clusters/host-cluster; the kustomization Flux syncs should list it under "
        f"resources: `{HOST_LINE}` (set wiring.hostCluster: null in tenants.yaml to skip "
        "this check)"
    )
    assert notes[1].startswith(f"note: wiring.traefikConfig: {TRAEFIK} does not exist")
    assert invoke("check", "-q", "-c", "tenants.yaml", cwd=repo).result.output == ""


def test_null_disables_a_link(project: Callable[[str], Path]) -> None:
    repo = _repo(project, SEED_TENANTS + "wiring:\n  hostCluster: null\n  traefikConfig: null\n")
    res = invoke("check", "-c", "tenants.yaml", cwd=repo)
    assert res.code == 0
    assert res.err == ""


def test_indirect_and_spelled_differently(project: Callable[[str], Path]) -> None:
    repo = _repo(project)
    _wire(repo)
    # Through a local directory the root lists, with './' and a trailing '/'.
    _write(repo, HOST, SEED_HOST + "  - ./tenants/\n")
    _write(
        repo,
        "clusters/host-cluster/tenants/kustomization.yaml",
        "resources:\n  - ./../../../generated/clusters/host-cluster/\n",
    )
    _write(repo, TRAEFIK, "bases:\n  - ../../../generated/infrastructure/traefik/config\n")
    res = invoke("check", "-c", "tenants.yaml", cwd=repo)
    assert res.code == 0, res.err
    assert res.err == ""
    # A cycle of directories is followed once.
    _write(repo, "clusters/host-cluster/tenants/kustomization.yaml", "resources:\n  - ../\n")
    res = invoke("check", "-c", "tenants.yaml", cwd=repo)
    assert res.code == 1
    assert HOST_LINE in res.out


def test_custom_paths_and_output(project: Callable[[str], Path]) -> None:
    text = (
        SEED_TENANTS
        + "output: deploy/gen\n"
        + "wiring:\n  hostCluster: flux/root/kustomization.yaml\n  traefikConfig: null\n"
    )
    repo = _repo(project, text)
    res = invoke("check", "-c", "tenants.yaml", cwd=repo)
    assert res.code == 0
    assert res.err == (
        "note: wiring.hostCluster: flux/root/kustomization.yaml does not exist, so nothing "
        "shows that Flux applies deploy/gen/clusters/host-cluster; the kustomization Flux "
        "syncs should list it under resources: `- ../../deploy/gen/clusters/host-cluster` "
        "(set wiring.hostCluster: null in tenants.yaml to skip this check)\n"
    )
    _write(
        repo,
        "flux/root/kustomization.yaml",
        "resources:\n  - ../../deploy/gen/clusters/host-cluster\n",
    )
    assert invoke("check", "-c", "tenants.yaml", cwd=repo).err == ""


@pytest.mark.parametrize("key", ["hostCluster", "traefikConfig"])
def test_wiring_keys_are_validated(project: Callable[[str], Path], key: str) -> None:
    cfg = project(SEED_TENANTS + f"wiring:\n  {key}: 3\n  colour: red\n")
    res = invoke("validate", "-c", "tenants.yaml", cwd=cfg.parent)
    assert res.code == 2
    assert res.err == (
        f"tenants.yaml:24:{len(key) + 5}: wiring.{key}: expected a string, got int 3\n"
        "tenants.yaml:25:3: wiring.colour: unknown key 'colour'\n"
    )
