"""The generated trees are usable: every directory with a kustomization.yaml builds
with the real ``kubectl kustomize``, every file is reachable from one, every Flux
path points at such a directory, and every core Kubernetes object passes
``kubernetes-validate --strict`` (offline, with its bundled schemas)."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from conftest import REPO, invoke
from gitopsgen.config import load
from support.golden import CASES, valid_cases
from support.kustomize import kustomization_dirs, kustomize

# The Kubernetes version whose OpenAPI schemas the core objects are checked against.
K8S_VERSION = "1.33.0"
CORE_APIS = {"v1", "apps/v1", "networking.k8s.io/v1", "rbac.authorization.k8s.io/v1"}
FLUX_KUSTOMIZATION = "kustomize.toolkit.fluxcd.io/v1"


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """Every golden case built fresh, plus the repository's own generated/:
    name -> (repository root, output directory)."""
    out: dict[str, tuple[Path, Path]] = {"generated": (REPO, REPO / "generated")}
    for case in valid_cases():
        repo = tmp_path_factory.mktemp(case) / "repo"
        repo.mkdir()
        shutil.copyfile(CASES / case / "tenants.yaml", repo / "tenants.yaml")
        res = invoke("build", "-q", "-c", "tenants.yaml", cwd=repo)
        assert res.code == 0, res.err
        out[case] = (repo, load(repo / "tenants.yaml").output_dir)
    return out


TREE_NAMES = ["generated", *valid_cases()]


def _rendered(trees: dict[str, tuple[Path, Path]], name: str) -> Iterator[tuple[Path, list[Any]]]:
    _, output = trees[name]
    dirs = kustomization_dirs(output)
    assert dirs, f"no kustomization.yaml under {output}"
    for directory in dirs:
        yield directory, kustomize(directory)


@pytest.mark.slow
@pytest.mark.parametrize("name", TREE_NAMES)
def test_kubectl_kustomize_builds_every_directory(
    trees: dict[str, tuple[Path, Path]], name: str
) -> None:
    validated = 0
    for directory, objects in _rendered(trees, name):
        rel = directory.relative_to(trees[name][1])
        # Each directory's kustomization lists its own files; the object count matches.
        listed = yaml.safe_load((directory / "kustomization.yaml").read_text())["resources"]
        expected = 0
        for resource in listed:
            target = directory / resource
            if target.is_dir():
                expected += len(kustomize(target))
            else:
                expected += sum(1 for d in yaml.safe_load_all(target.read_text()) if d)
        assert len(objects) == expected, f"{name}: {rel}"
        for obj in objects:
            if obj["apiVersion"] in CORE_APIS:
                kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
                validated += 1
    if name != "empty":
        assert validated > 0


@pytest.mark.parametrize("name", TREE_NAMES)
def test_every_file_is_listed_by_its_kustomization(
    trees: dict[str, tuple[Path, Path]], name: str
) -> None:
    _, output = trees[name]
    for path in sorted(output.rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            listed = yaml.safe_load(path.read_text())["resources"]
            assert listed == sorted(set(listed), key=listed.index), path
            for resource in listed:
                assert (path.parent / resource).exists(), f"{path} lists missing {resource}"
            continue
        index = path.parent / "kustomization.yaml"
        assert index.is_file(), f"{path} is in a directory without kustomization.yaml"
        assert path.name in yaml.safe_load(index.read_text())["resources"], path


@pytest.mark.parametrize("name", TREE_NAMES)
def test_flux_paths_point_at_kustomize_directories(
    trees: dict[str, tuple[Path, Path]], name: str
) -> None:
    repo, output = trees[name]
    paths = []
    for path in output.rglob("*.yaml"):
        for obj in yaml.safe_load_all(path.read_text()):
            if obj and obj["apiVersion"] == FLUX_KUSTOMIZATION:
                paths.append(obj["spec"]["path"])
    assert paths, name
    for flux_path in paths:
        assert flux_path.startswith("./"), flux_path
        target = repo / flux_path
        assert target.resolve().is_relative_to(output.resolve()), flux_path
        assert (target / "kustomization.yaml").is_file(), flux_path


def test_kubernetes_validate_is_bundled_and_strict() -> None:
    """The checks above are real: the version is bundled (so nothing is fetched)
    and strict mode rejects an unknown field and a wrong type."""
    assert K8S_VERSION in kubernetes_validate.utils.all_versions()
    service = yaml.safe_load(
        (REPO / "generated/tenant/tenant-a/workload/nginx_service.yaml").read_text()
    )
    kubernetes_validate.validate(service, K8S_VERSION, strict=True)
    extra = copy.deepcopy(service)
    extra["spec"]["ports"][0]["portt"] = 80
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(extra, K8S_VERSION, strict=True)
    wrong = copy.deepcopy(service)
    wrong["spec"]["ports"][0]["port"] = "eighty"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, K8S_VERSION, strict=True)


def test_kubectl_kustomize_fails_on_a_broken_directory(tmp_path: Path) -> None:
    """The helper really reports kustomize failures."""
    (tmp_path / "kustomization.yaml").write_text("resources:\n  - missing.yaml\n")
    with pytest.raises(AssertionError, match="kubectl kustomize"):
        kustomize(tmp_path)
