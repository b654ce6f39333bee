"""Shared fixtures: write a tenants.yaml into a temporary repository and run the
CLI in-process (click's CliRunner) the way a user would."""

from __future__ import annotations

import os
import sys
import tempfile
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

sys.path.insert(0, str(Path(__file__).parent))

from gitopsgen.cli import cli

REPO = Path(__file__).resolve().parents[1]

# The command cache (gitopsgen.cache) of this test session, never the user's; on, so
# that every test that runs validate or check twice also runs the cached path.
os.environ["GITOPSGEN_CACHE_DIR"] = tempfile.mkdtemp(prefix="gitopsgen-test-cache-")

# git for tests: a fixed identity, no system or user configuration.
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}

# The seed's three tenants as version 2 (what `gitopsgen migrate` makes of them).
SEED_V2 = textwrap.dedent(
    """\
    version: 2
    clusters:
      - name: host-cluster
        pool: [172.18.0.200-172.18.0.220]
        reserved: {traefik: 172.18.0.200}
    tenants:
      - {name: a, ip: 172.18.0.210, vcluster: {distro: k3s}}
      - {name: b, ip: 172.18.0.211, vcluster: {distro: k3s, authDelegator: true}}
      - {name: c, ip: 172.18.0.214}
    """
)

SEED_TENANTS = textwrap.dedent(
    """\
    version: 1
    pool:
      - 172.18.0.200-172.18.0.220
    reserved:
      traefik: 172.18.0.200
      grafana: 172.18.0.212
      prometheus: 172.18.0.213
      vcluster-platform: 172.18.0.219
    tenants:
      - name: a
        ip: 172.18.0.210
      - name: b
        ip: 172.18.0.211
        vcluster:
          authDelegator: true
          values:
            sync:
              fromHost:
                nodes: {enabled: true, syncBackChanges: false}
                storageClasses: {enabled: true}
      - name: c
        ip: 172.18.0.214
    """
)


@dataclass
class Run:
    result: Result

    @property
    def code(self) -> int:
        return self.result.exit_code

    @property
    def out(self) -> str:
        return self.result.stdout

    @property
    def err(self) -> str:
        return self.result.stderr


def invoke(*args: str, cwd: Path | None = None) -> Run:
    """Run gitopsgen in-process, with the same error handling as the console script."""
    import os

    from gitopsgen.cli.common import run_cli

    runner = CliRunner()
    old = Path.cwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        result = runner.invoke(_Entry(), list(args), catch_exceptions=False)
    finally:
        os.chdir(old)
    del run_cli
    return Run(result)


class _Entry:
    """Adapter so CliRunner drives run_cli (exit codes, error printing) not the bare group."""

    name = "gitopsgen"

    def main(self, args: list[str], prog_name: str | None = None, **extra: object) -> None:
        from gitopsgen.cli.common import run_cli

        run_cli(cli, args)


@pytest.fixture
def project(tmp_path: Path) -> Callable[[str], Path]:
    """Write ``text`` as tmp/repo/tenants.yaml; return its path."""

    def write(text: str = SEED_TENANTS) -> Path:
        repo = tmp_path / "repo"
        repo.mkdir(exist_ok=True)
        path = repo / "tenants.yaml"
        path.write_text(textwrap.dedent(text))
        return path

    return write


@pytest.fixture(autouse=True)
def _no_ci_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--format auto` and colours depend on GITHUB_ACTIONS and NO_COLOR: tests that
    want them set them; nothing leaks in from the environment the suite runs in."""
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
