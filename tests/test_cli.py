"""CLI conventions: finding tenants.yaml, -c everywhere, one --format, streams, paths,
exit codes (3 internal with --debug, 130 interrupted, 141 closed pipe), colours,
completion, --version, and the library entry point without click."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import click
import pytest

from conftest import SEED_TENANTS, invoke
from gitopsgen import __version__, api
from gitopsgen.cli import COMMANDS, LazyGroup, cli
from gitopsgen.cli.common import EXIT_BROKEN_PIPE, colour_wanted
from gitopsgen.cli.complete import cluster_names, shard_names, tenant_names
from gitopsgen.report import FORMATS, resolve_format

BIN = Path(sys.executable).parent
READS_CONFIG = {
    "migrate",
    "build",
    "check",
    "diff",
    "validate",
    "add-tenant",
    "remove-tenant",
    "ips",
    "hosts",
    "rebalance",
    "secrets",
}
INVALID = SEED_TENANTS.replace("ip: 172.18.0.214", "ip: 172.18.0.210")


def _command(name: str) -> click.Command:
    command = LazyGroup._load(name)
    assert command is not None
    return command


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "NO_COLOR")}
    env.update(extra)
    return env


@pytest.fixture
def repo(project: Callable[[str], Path]) -> Path:
    """A seed repository (a Git work tree) with a subdirectory."""
    root = project(SEED_TENANTS).parent
    (root / ".git").mkdir()
    (root / "docs" / "deep").mkdir(parents=True)
    return root


# --- finding tenants.yaml ----------------------------------------------------------------


def test_every_command_that_reads_a_config_takes_c(repo: Path) -> None:
    for name in COMMANDS:
        options = {opt for p in _command(name).params for opt in getattr(p, "opts", [])}
        if name in READS_CONFIG:
            assert {"-c", "--config"} <= options, name
        else:
            assert "-c" not in options, name  # schema, import, completion read none


def test_nearest_tenants_yaml_from_a_subdirectory(repo: Path) -> None:
    res = invoke("validate", cwd=repo / "docs" / "deep")
    assert res.code == 0, res.err
    assert res.out == "tenants.yaml: valid (3 tenants)\n"
    assert api.find_config(repo / "docs" / "deep") == repo / "tenants.yaml"
    # The nearest wins: one in docs/ is used from docs/deep.
    (repo / "docs" / "tenants.yaml").write_text(
        SEED_TENANTS.replace("  - name: c\n", "  - name: e\n")
    )
    assert api.find_config(repo / "docs" / "deep") == repo / "docs" / "tenants.yaml"


def test_not_found_names_where_it_looked_and_stops_at_the_repository_root(
    repo: Path,
) -> None:
    (repo / "tenants.yaml").rename(repo.parent / "tenants.yaml")  # above the repository
    res = invoke("check", cwd=repo / "docs")
    assert res.code == 2
    assert res.out == ""
    assert res.err == (
        f"gitopsgen: no tenants.yaml in {repo / 'docs'} or any directory above it up to the "
        f"repository root {repo}; create one, or pass -c PATH\n"
    )
    assert ":1:1" not in res.err
    for fmt in ("json", "github"):
        res = invoke("check", "--format", fmt, cwd=repo / "docs")
        assert res.code == 2
        assert "no tenants.yaml in" in res.out


def test_outside_a_repository_only_the_working_directory(tmp_path: Path) -> None:
    res = invoke("ips", cwd=tmp_path)
    assert res.code == 2
    assert res.err == (
        f"gitopsgen: no tenants.yaml in {tmp_path} (not inside a Git repository, so no "
        "directory above it); create one, or pass -c PATH\n"
    )


# --- one result model, one --format ------------------------------------------------------


def test_format_is_declared_once_with_the_same_names() -> None:
    for name, formats in FORMATS.items():
        (option,) = [p for p in _command(name).params if p.name == "fmt"]
        assert isinstance(option.type, click.Choice)
        assert tuple(option.type.choices) == ("auto", *formats), name
        assert option.default == "auto"
    assert set(FORMATS) == {"check", "validate", "diff", "ips", "hosts", "rebalance", "secrets"}


def test_auto_is_github_under_github_actions(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_format("auto", "check", {"GITHUB_ACTIONS": "true"}) == "github"
    assert resolve_format("auto", "ips", {"GITHUB_ACTIONS": "true"}) == "text"  # none there
    assert resolve_format("auto", "check", {}) == "text"
    (repo / "tenants.yaml").write_text(INVALID)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    res = invoke("validate", cwd=repo)
    assert res.out.startswith("::error file=tenants.yaml,line=22,col=9::tenants[2].ip: ")


@pytest.mark.parametrize("fmt", ["text", "json", "github", "markdown"])
@pytest.mark.parametrize("command", ["check", "validate"])
def test_invalid_input_takes_the_same_path_in_every_format(
    repo: Path, command: str, fmt: str
) -> None:
    (repo / "tenants.yaml").write_text(INVALID)
    res = invoke(command, "--format", fmt, cwd=repo)
    assert res.code == 2
    text = res.out + res.err
    assert "tenants[2].ip" in text and "already used by tenant a" in text
    if fmt == "text":  # a diagnostic: standard error, FILE:LINE:COL
        assert res.out == ""
        assert res.err.startswith("tenants.yaml:22:9: tenants[2].ip: ")
    elif fmt == "json":
        assert json.loads(res.out)["status"] == "invalid"
    elif fmt == "markdown":
        assert res.out.startswith(f"### gitopsgen {command}: invalid\n")
        assert "`tenants.yaml:22:9`" in res.out


def test_hosts_and_ips_render_through_the_reporter(repo: Path) -> None:
    hosts = json.loads(invoke("hosts", "--format", "json", cwd=repo).out)
    assert hosts == {
        "address": "172.18.0.200",
        "hostnames": ["tenant-a.traefik.local", "tenant-b.traefik.local", "tenant-c.traefik.local"],
    }
    md = invoke("ips", "--format", "markdown", cwd=repo).out
    assert "| vcluster-a | 172.18.0.210 |" in md


def test_check_markdown_lists_drift(repo: Path) -> None:
    assert invoke("build", "-q", cwd=repo).code == 0
    (repo / "generated/tenant/tenant-a/tenant-a_namespace.yaml").unlink()
    res = invoke("check", "--format", "markdown", cwd=repo)
    assert res.code == 1
    assert res.out.startswith("### gitopsgen check: drift\n")
    assert "| missing | `generated/tenant/tenant-a/tenant-a_namespace.yaml` |" in res.out


def test_paths_relative_to_the_repository_root_or_absolute(repo: Path) -> None:
    assert invoke("build", "-q", cwd=repo).code == 0
    (repo / "generated/tenant/tenant-a/tenant-a_namespace.yaml").unlink()
    sub = invoke("check", cwd=repo / "docs")
    assert "  missing  generated/tenant/tenant-a/tenant-a_namespace.yaml" in sub.out
    absolute = invoke("check", "--absolute", cwd=repo / "docs")
    assert f"  missing  {repo}/generated/tenant/tenant-a/tenant-a_namespace.yaml" in absolute.out
    data = json.loads(invoke("check", "--format", "json", cwd=repo / "docs").out)
    assert data["findings"][0]["file"] == "generated/tenant/tenant-a/tenant-a_namespace.yaml"


# --- exit codes ------------------------------------------------------------------------------


def _boom(*args: object, **kwargs: object) -> None:
    raise RuntimeError("boom")


def test_internal_error_exits_3_and_debug_shows_the_traceback(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api, "validate", _boom)
    res = invoke("validate", cwd=repo)
    assert res.code == 3
    assert res.err == (
        "gitopsgen: internal error: RuntimeError: boom\n"
        "This is a bug; rerun with --debug for a traceback and report it.\n"
    )
    with pytest.raises(RuntimeError, match="boom"):
        invoke("--debug", "validate", cwd=repo)


def test_interrupt_exits_130(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "check", interrupted)
    res = invoke("check", cwd=repo)
    assert res.code == 130
    assert res.err.strip() == "Interrupted."


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_closed_pipe_ends_quietly_with_141(project: Callable[[str], Path]) -> None:
    cfg = project(
        textwrap.dedent(
            """\
            version: 1
            pool: [10.0.0.0/16]
            reserved: {traefik: 10.0.0.1}
            tenants:
            """
        )
        + "".join(
            f"  - name: t{i}\n    ip: 10.0.{i // 200}.{i % 200 + 2}\n" for i in range(0, 2000, 2)
        )
    )
    command = f'"{BIN / "gitopsgen"}" ips --format json -c "{cfg}"'
    script = f'set -o pipefail; {command} | head -n 2; exit "${{PIPESTATUS[0]}}"'
    proc = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env=_env(), timeout=120
    )
    # Several megabytes of JSON: the pipe fills, head exits, the next write fails.
    assert proc.stdout.splitlines() == ["{", '  "pool": [']
    assert proc.returncode == EXIT_BROKEN_PIPE == 141
    assert proc.stderr == ""  # no traceback, no "Exception ignored"


# --- colours ------------------------------------------------------------------------------


def test_colour_choice_and_no_color() -> None:
    assert colour_wanted("auto", {}) is None  # click decides: colours on a terminal only
    assert colour_wanted("auto", {"NO_COLOR": "1"}) is False
    assert colour_wanted("auto", {"NO_COLOR": ""}) is None  # set but empty: no effect
    assert colour_wanted("always", {"NO_COLOR": "1"}) is True
    assert colour_wanted("never", {}) is False


def test_diff_colours_only_when_asked(repo: Path, tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(SEED_TENANTS)
    (repo / "tenants.yaml").write_text(SEED_TENANTS + "  - name: d\n    ip: 172.18.0.215\n")
    plain = invoke("diff", "--base", str(base), cwd=repo)
    assert plain.code == 0, plain.err
    assert "\x1b[" not in plain.out and "+ tenant d (" in plain.out
    coloured = invoke("--color", "always", "diff", "--base", str(base), cwd=repo)
    assert "\x1b[" in coloured.out
    never = invoke("--color", "never", "diff", "--base", str(base), cwd=repo)
    assert never.out == plain.out


def test_no_color_on_a_terminal(repo: Path, tmp_path: Path) -> None:
    """On a real terminal (a pty) diff colours, unless NO_COLOR is set."""
    pty = pytest.importorskip("pty")
    base = tmp_path / "base.yaml"
    base.write_text(SEED_TENANTS)
    (repo / "tenants.yaml").write_text(SEED_TENANTS + "  - name: d\n    ip: 172.18.0.215\n")

    def on_tty(env: dict[str, str]) -> bytes:
        primary, secondary = pty.openpty()
        proc = subprocess.Popen(
            [str(BIN / "gitopsgen"), "diff", "--base", str(base)],
            cwd=repo,
            stdout=secondary,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        os.close(secondary)
        chunks = []
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        proc.wait(timeout=60)
        os.close(primary)
        return b"".join(chunks)

    assert b"\x1b[" in on_tty(_env())
    assert b"\x1b[" not in on_tty(_env(NO_COLOR="1"))


# --- completion, version, library -----------------------------------------------------------


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "_GITOPSGEN_COMPLETE=bash_complete"),
        ("zsh", "#compdef gitopsgen"),
        ("fish", "complete --no-files --command gitopsgen"),
    ],
)
def test_completion_scripts(shell: str, marker: str) -> None:
    res = invoke("completion", shell)
    assert res.code == 0
    assert marker in res.out


def test_tenant_names_complete(repo: Path) -> None:
    """What the shell asks on <TAB>: `gitopsgen remove-tenant ` -> the tenants."""
    env = _env(
        _GITOPSGEN_COMPLETE="bash_complete", COMP_WORDS="gitopsgen remove-tenant ", COMP_CWORD="2"
    )
    proc = subprocess.run(
        [str(BIN / "gitopsgen")], cwd=repo / "docs", env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["plain,a", "plain,b", "plain,c"]
    env["COMP_WORDS"] = "gitopsgen remove-tenant -c ../tenants.yaml "
    env["COMP_CWORD"] = "4"
    proc = subprocess.run(
        [str(BIN / "gitopsgen")], cwd=repo / "docs", env=env, capture_output=True, text=True
    )
    assert proc.stdout.splitlines() == ["plain,a", "plain,b", "plain,c"]


def test_cluster_and_shard_names() -> None:
    v1 = {"version": 1, "tenants": [{"name": "a"}, {"name": "b"}]}
    assert tenant_names(v1) == ["a", "b"]
    assert cluster_names(v1) == ["host-cluster"]
    v2 = {
        "version": 2,
        "clusters": [{"name": "eu-1", "shards": ["s1", "s2"]}, {"name": "us-1"}],
        "tenants": [{"name": "a", "cluster": "eu-1"}],
    }
    assert cluster_names(v2) == ["eu-1", "us-1"]
    assert shard_names(v2) == ["s1", "s2"]
    assert shard_names(v2, "us-1") == []
    assert tenant_names("not a mapping") == []


def test_version_comes_from_one_place() -> None:
    res = invoke("--version")
    assert res.out == f"gitopsgen, version {__version__}\n"
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject
    assert 'version = { attr = "gitopsgen.__version__" }' in pyproject


def test_library_entry_point_without_click(repo: Path) -> None:
    code = textwrap.dedent(
        """\
        import sys
        from gitopsgen import api
        report = api.check()
        build = api.build()
        after = api.check()
        d = api.diff(base_file="tenants.yaml")
        print(report.status, len(build.written), after.status, d.changed,
              api.ips().free, len(api.hosts().hostnames), "click" in sys.modules)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, env=_env()
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["drift", "54", "ok", "False", "14", "3", "False"]


def test_help_lists_every_command() -> None:
    res = invoke("--help")
    for name in COMMANDS:
        assert name in res.out
    assert cli.name == "cli"


def test_diff_github_notices(repo: Path, tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(SEED_TENANTS)
    (repo / "tenants.yaml").write_text(SEED_TENANTS + "  - name: d\n    ip: 172.18.0.215\n")
    res = invoke("diff", "--base", str(base), "--format", "github", cwd=repo)
    assert res.code == 0, res.err
    lines = res.out.splitlines()
    assert lines[0].startswith("::notice title=gitopsgen diff::+ tenant d (")
    assert not lines[-1].startswith("::")  # the totals, a plain line
    # --format auto under GitHub Actions is the same.
    auto = subprocess.run(
        [str(BIN / "gitopsgen"), "diff", "--base", str(base)],
        cwd=repo,
        capture_output=True,
        text=True,
        env=_env(GITHUB_ACTIONS="true"),
    )
    assert auto.stdout == res.out


def test_cluster_and_shard_names_complete() -> None:
    """`add-tenant --cluster <TAB>` and `--shard <TAB>` on the version 2 fleet example."""
    root = Path(__file__).parents[1]

    def complete(words: str) -> list[str]:
        env = _env(
            _GITOPSGEN_COMPLETE="bash_complete",
            COMP_WORDS=words,
            COMP_CWORD=str(len(words.split()) - (0 if words.endswith(" ") else 1)),
        )
        proc = subprocess.run(
            [str(BIN / "gitopsgen")], cwd=root, env=env, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.splitlines()

    base = "gitopsgen add-tenant -c examples/fleet/tenants.yaml x"
    assert complete(f"{base} --cluster ") == ["plain,eu-1", "plain,us-1", "plain,ap-1"]
    assert complete(f"{base} --cluster eu-1 --shard ") == ["plain,s1", "plain,s2", "plain,s3"]
    assert complete("gitopsgen ips -c examples/fleet/tenants.yaml --cluster u") == ["plain,us-1"]
