"""The hooks of .pre-commit-hooks.yaml through the real pre-commit framework.

A user's repository lists gitopsgen by repository and rev in its
.pre-commit-config.yaml; pre-commit clones it, installs it into its own virtualenv
(pip, from PyPI for the dependencies) and runs the hook. Here the "gitopsgen
repository" is a snapshot of this checkout's working tree (what `pre-commit
try-repo` would use), committed into a temporary git repository once per session;
PRE_COMMIT_HOME is a session temporary directory, so the hook environment is
installed once and shared by every test, and nothing is written under ~.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from conftest import GIT_ENV, REPO, SEED_TENANTS, invoke

pytestmark = pytest.mark.slow

GIT = shutil.which("git")
WIRING = {
    "clusters/host-cluster/kustomization.yaml": "../../generated/clusters/host-cluster",
    "infrastructure/traefik/config/kustomization.yaml": (
        "../../../generated/infrastructure/traefik/config"
    ),
}


def _git(cwd: Path, *args: str) -> str:
    assert GIT is not None
    proc = subprocess.run(
        [GIT, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        env=_git_env(),
    )
    return proc.stdout.strip()


def _git_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(GIT_ENV)
    return env


def _snapshot(dest: Path) -> str:
    """The package files of this checkout's working tree, committed in ``dest``."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml"):
        shutil.copyfile(REPO / name, dest / name)
    shutil.copytree(
        REPO / "src" / "gitopsgen",
        dest / "src" / "gitopsgen",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    _git(dest, "init", "-q", "-b", "main")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", "snapshot of the gitopsgen checkout")
    return _git(dest, "rev-parse", "HEAD")


@pytest.fixture(scope="session")
def hooks_env(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict[str, str]]:
    """(hook repository, rev, environment with a session PRE_COMMIT_HOME); the hook
    environment is installed here, once."""
    if GIT is None:
        pytest.skip("git is not installed")
    base = tmp_path_factory.mktemp("precommit")
    hook_repo = base / "gitopsgen-hooks"
    rev = _snapshot(hook_repo)
    env = _git_env()
    env["PRE_COMMIT_HOME"] = str(base / "home")
    env.pop("PRE_COMMIT", None)
    # Install the environment once: `pre-commit install-hooks` in a throwaway repository.
    warm = base / "warm"
    warm.mkdir()
    _git(warm, "init", "-q", "-b", "main")
    _write_config(warm, hook_repo, rev)
    proc = _pre_commit(warm, env, "install-hooks")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return hook_repo, rev, env


def _write_config(repo: Path, hook_repo: Path, rev: str) -> None:
    config = {
        "repos": [
            {
                "repo": str(hook_repo),
                "rev": rev,
                "hooks": [{"id": "gitopsgen-validate"}, {"id": "gitopsgen-check"}],
            }
        ]
    }
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def _pre_commit(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )


@pytest.fixture
def user_repo(
    tmp_path: Path, hooks_env: tuple[Path, str, dict[str, str]]
) -> Callable[[], tuple[Path, dict[str, str]]]:
    """A seed-like repository that uses the hooks: tenants.yaml, generated/ built, the
    wiring kustomizations, all committed, and the git hook installed."""

    def make() -> tuple[Path, dict[str, str]]:
        hook_repo, rev, env = hooks_env
        repo = tmp_path / "platform"
        repo.mkdir()
        _git(repo, "init", "-q", "-b", "main")
        (repo / "tenants.yaml").write_text(SEED_TENANTS)
        res = invoke("build", "-q", "-c", "tenants.yaml", cwd=repo)
        assert res.code == 0, res.err
        for rel, entry in WIRING.items():
            (repo / rel).parent.mkdir(parents=True)
            (repo / rel).write_text(f"resources:\n  - {entry}\n")
        _write_config(repo, hook_repo, rev)
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "--no-verify", "-m", "platform")
        proc = _pre_commit(repo, env, "install")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return repo, env

    return make


def _commit(repo: Path, env: dict[str, str], message: str) -> subprocess.CompletedProcess[str]:
    """``git commit`` as a user runs it: the installed pre-commit git hook decides."""
    assert GIT is not None
    return subprocess.run(
        [GIT, "commit", "-q", "-m", message],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )


def test_clean_repository_passes(user_repo: Callable[[], tuple[Path, dict[str, str]]]) -> None:
    repo, env = user_repo()
    proc = _pre_commit(repo, env, "run", "--all-files")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "gitopsgen check" in proc.stdout
    assert "Passed" in proc.stdout
    assert "Failed" not in proc.stdout
    # A commit that adds a tenant together with its build passes the hook.
    cfg = repo / "tenants.yaml"
    cfg.write_text(cfg.read_text() + "  - name: d\n    ip: 172.18.0.215\n")
    assert invoke("build", "-q", "-c", "tenants.yaml", cwd=repo).code == 0
    _git(repo, "add", "-A")
    proc = _commit(repo, env, "add tenant d")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _git(repo, "log", "-1", "--format=%s") == "add tenant d"
    # One hook environment for the whole session.
    assert len(list(Path(env["PRE_COMMIT_HOME"]).glob("repo*/py_env-*"))) == 1


def test_hand_edited_generated_file_fails(
    user_repo: Callable[[], tuple[Path, dict[str, str]]],
) -> None:
    repo, env = user_repo()
    route = repo / "generated/tenant/tenant-a/routes/nginx_httproute.yaml"
    route.write_text(route.read_text().replace("tenant-a.traefik.local", "evil.example.com"))
    _git(repo, "add", str(route.relative_to(repo)))
    proc = _commit(repo, env, "hand edit")
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert "gitopsgen check" in output
    assert "Failed" in output
    assert "exit code: 1" in output
    assert "changed  generated/tenant/tenant-a/routes/nginx_httproute.yaml" in output
    assert "+    - tenant-a.traefik.local" in output
    # The commit was refused.
    assert _git(repo, "log", "-1", "--format=%s") == "platform"


def test_invalid_tenants_yaml_fails_with_located_message(
    user_repo: Callable[[], tuple[Path, dict[str, str]]],
) -> None:
    repo, env = user_repo()
    cfg = repo / "tenants.yaml"
    text = cfg.read_text()
    cfg.write_text(text.replace("ip: 172.18.0.214", "ip: 172.18.0.210"))
    expected = (
        "tenants.yaml:22:9: tenants[2].ip: 172.18.0.210 is already used by tenant a "
        "(line 11, column 9)"
    )
    assert invoke("validate", cwd=repo).err.strip() == expected
    _git(repo, "add", "tenants.yaml")
    proc = _commit(repo, env, "reuse an address")
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert output.count(expected) == 2, output  # from validate and from check
    assert "exit code: 2" in output
    assert _git(repo, "log", "-1", "--format=%s") == "platform"


def test_hook_manifest_and_readme_snippet() -> None:
    hooks = {h["id"]: h for h in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {"gitopsgen-check", "gitopsgen-validate"}
    for hook in hooks.values():
        assert hook["language"] == "python"
        assert hook["pass_filenames"] is False
    readme = (REPO / "README.md").read_text()
    assert "      - id: gitopsgen-validate\n      - id: gitopsgen-check\n" in readme


def test_a_seed_era_tenant_kustomization_fails_the_hook(
    user_repo: Callable[[], tuple[Path, dict[str, str]]],
) -> None:
    """Issue 12 item 1: a hand-kept copy of a generated Flux Kustomization, listed in the
    entry point, made kustomize fail on Flux's root sync while the hook passed."""
    repo, env = user_repo()
    generated = repo / "generated/clusters/host-cluster/tenant-a_kustomization.yaml"
    copy = repo / "clusters/host-cluster/tenant-a_kustomization.yaml"
    copy.write_text(generated.read_text())
    entry = repo / "clusters/host-cluster/kustomization.yaml"
    entry.write_text(entry.read_text() + "  - tenant-a_kustomization.yaml\n")
    _git(repo, "add", "-A")
    proc = _commit(repo, env, "seed-era copy")
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert "exit code: 1" in output
    line = copy.read_text().splitlines().index("apiVersion: kustomize.toolkit.fluxcd.io/v1") + 1
    assert (
        f"clusters/host-cluster/tenant-a_kustomization.yaml:{line}: Kustomization "
        "flux-system/tenant-a is also defined by the generated tree" in output
    )
    assert _git(repo, "log", "-1", "--format=%s") == "platform"
