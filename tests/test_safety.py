"""Hostile names and paths, symbolic links, foreign files and concurrent builds:
gitopsgen never writes outside its output directory, never follows a link out of
it, never overwrites or deletes a file it does not own, and two builds never
interleave.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import SEED_TENANTS, invoke
from gitopsgen import tree
from gitopsgen.config import load
from gitopsgen.errors import OutputError
from gitopsgen.plan import MANIFEST, Plan, PlannedFile, plan_project
from gitopsgen.render.base import RenderedFile
from support.golden import snapshot

ONE = "version: 1\npool: 10.0.0.0/24\ntenants:\n  - name: {name}\n    ip: 10.0.0.5\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    (path / ".git").mkdir()  # a Git work tree, as in real use
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    path = tmp_path / "outside"
    path.mkdir()
    (path / "precious.yaml").write_text("keep me\n")
    return path


def write_cfg(repo: Path, text: str) -> Path:
    cfg = repo / "tenants.yaml"
    cfg.write_text(textwrap.dedent(text))
    return cfg


# -- hostile names ------------------------------------------------------------------------

BAD_NAMES = [
    "..",
    ".",
    "../a",
    "a/b",
    "/abs",
    "a\\\\b",
    "A",
    "Tenant",
    "tenаnt",  # Cyrillic 'а'
    "ｔenant",  # fullwidth 't'
    "tenant\u200b",  # zero-width space
    "a_b",
    "a.b",
    "-a",
    "a-",
    "a b",
    "",
    "a" * 45,  # vcluster-<45> is 54 characters: over Helm's 53
    "a" * 55,  # vcluster-<55> is 64: over the namespace limit too
    "a" * 64,
    "a" * 10_000,
]


@pytest.mark.parametrize("name", BAD_NAMES, ids=lambda n: repr(n)[:20])
def test_hostile_names_are_rejected(repo: Path, name: str) -> None:
    cfg = write_cfg(repo, ONE.format(name=f'"{name}"'))
    res = invoke("build", "-c", str(cfg))
    assert res.code == 2, res.out
    assert "tenants.yaml:4:" in res.err, res.err  # relative to the repository root
    assert "tenants[0].name" in res.err
    assert not (repo / "generated").exists()


@pytest.mark.parametrize("length", [1, 42, 43])
def test_names_at_the_limit_are_accepted(repo: Path, length: int) -> None:
    name = "a" * length
    cfg = write_cfg(repo, ONE.format(name=name))
    res = invoke("build", "-c", str(cfg))
    assert res.code == 0, res.err
    release = repo / f"generated/clusters/vcluster-{name}/vcluster-{name}_helmrelease.yaml"
    assert release.exists()
    assert len(f"vcluster-{name}") <= 53


@pytest.mark.parametrize(
    "hostname",
    ["../x", "a/b.example", "/etc", "Shop.example.com", "shop..example", "a" * 64 + ".x"],
)
def test_hostile_hostnames_are_rejected(repo: Path, hostname: str) -> None:
    cfg = write_cfg(repo, ONE.format(name="a") + f'    hostname: "{hostname}"\n')
    res = invoke("build", "-c", str(cfg))
    assert res.code == 2
    assert "tenants[0].hostname" in res.err


@pytest.mark.parametrize("value", ["../../x", "a/b", "/etc/passwd", "..", "Nginx"])
def test_names_that_become_file_names_are_rejected(repo: Path, outside: Path, value: str) -> None:
    cfg = write_cfg(repo, ONE.format(name="a") + f'defaults: {{workload: {{name: "{value}"}}}}\n')
    before = snapshot(outside)
    res = invoke("build", "-c", str(cfg))
    assert res.code == 2
    assert "tenants.yaml:" in res.err
    assert snapshot(outside) == before


def test_a_planned_path_outside_the_output_is_refused(repo: Path, outside: Path) -> None:
    # Defence in depth below validation: tree.write itself refuses such a path.
    cfg = write_cfg(repo, SEED_TENANTS)
    plan = plan_project(load(cfg))
    files = dict(plan.files)
    files["../../outside/evil.yaml"] = PlannedFile(RenderedFile("x", ()), b"# evil\n")
    root = repo / "generated"
    with pytest.raises(OutputError, match="outside the output directory"):
        tree.write(Plan(files), root)
    assert not (outside / "evil.yaml").exists()
    assert not (repo.parent / "outside/evil.yaml").exists()


# -- the output directory -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "words"),
    [
        (".", "repository root"),
        ("./", "repository root"),
        ("generated/..", "repository root"),
        ("..", "contains tenants.yaml"),
        ("../..", "contains tenants.yaml"),
        ("../elsewhere", "outside the repository root"),
        ("generated/../../elsewhere", "outside the repository root"),
        ("/tmp/abs", "must be a relative path"),
        ("C:\\\\x", "must be a relative path"),
    ],
)
def test_output_directory_rules(repo: Path, output: str, words: str) -> None:
    cfg = write_cfg(repo, SEED_TENANTS + f'output: "{output}"\n')
    before = snapshot(repo.parent)
    res = invoke("build", "-c", str(cfg))
    assert res.code == 2, res.out
    assert words in res.err
    assert res.err.startswith("tenants.yaml:"), res.err
    assert snapshot(repo.parent) == before


def test_allow_outside_permits_an_outside_output(repo: Path) -> None:
    cfg = write_cfg(repo, SEED_TENANTS + "output: ../elsewhere\n")
    assert invoke("build", "-c", str(cfg)).code == 2
    res = invoke("build", "--allow-outside", "-c", str(cfg))
    assert res.code == 0, res.err
    assert (repo.parent / "elsewhere" / MANIFEST).exists()


def test_validate_applies_the_same_output_rules_as_build(repo: Path) -> None:
    cfg = write_cfg(repo, SEED_TENANTS + "output: ../elsewhere\n")
    res = invoke("validate", "-c", str(cfg))
    assert res.code == 2
    assert "is outside the repository root (pass --allow-outside" in res.err
    assert invoke("validate", "--allow-outside", "-c", str(cfg)).code == 0
    assert not (repo.parent / "elsewhere").exists()


def test_output_may_not_be_the_tenants_file(repo: Path) -> None:
    cfg = write_cfg(repo, SEED_TENANTS + "output: tenants.yaml\n")
    res = invoke("build", "-c", str(cfg))
    assert res.code == 2
    assert cfg.read_text().startswith("version: 1")


@pytest.mark.parametrize(
    ("root", "words"),
    [
        ("../../../../../../../../..", "above the Git work tree"),
        ("..", "above the Git work tree"),
        ("sub", "does not contain this file"),
    ],
)
def test_repository_root_cannot_reach_out(repo: Path, root: str, words: str) -> None:
    (repo / "sub").mkdir()
    text = SEED_TENANTS + f"repositoryRoot: {root}\noutput: {root}/generated-here\n"
    cfg = write_cfg(repo, text)
    before = snapshot(repo.parent)
    res = invoke("build", "-c", str(cfg))
    assert res.code == 2, res.out
    assert words in res.err
    assert snapshot(repo.parent) == before


def test_repository_root_above_the_file_without_git(tmp_path: Path) -> None:
    # Without a Git work tree, the directory of tenants.yaml is the boundary: a
    # repositoryRoot above it needs --allow-outside (issue 19, item 8).
    repo = tmp_path / "plain" / "config"
    repo.mkdir(parents=True)
    cfg = write_cfg(repo, SEED_TENANTS + "repositoryRoot: ..\noutput: generated\n")
    refused = invoke("build", "-c", str(cfg))
    assert refused.code == 2
    assert refused.err == (
        "tenants.yaml:23:17: repositoryRoot: the repository root '..' is above the directory of "
        "this file, and no Git work tree marks the repository (pass --allow-outside to "
        "permit it)\n"
    )
    assert not (repo / "generated").exists()
    res = invoke("build", "--allow-outside", "-c", str(cfg))
    assert res.code == 0, res.err
    text = (repo / "generated/clusters/host-cluster/vcluster-a_kustomization.yaml").read_text()
    assert "path: ./config/generated/clusters/vcluster-a" in text


# -- symbolic links -------------------------------------------------------------------------


def test_output_directory_is_a_link_out_of_the_repository(repo: Path, outside: Path) -> None:
    (repo / "generated").symlink_to(outside)
    cfg = write_cfg(repo, SEED_TENANTS)
    before = snapshot(outside)
    res = invoke("build", "-c", str(cfg))
    assert res.code == 2
    assert "symbolic link" in res.err and "outside the repository root" in res.err
    assert snapshot(outside) == before
    # Even permitted outside, build does not write through the link.
    res = invoke("build", "--allow-outside", "-c", str(cfg))
    assert res.code == 2
    assert "symbolic link" in res.err
    assert snapshot(outside) == before


def test_output_directory_is_a_link_inside_the_repository(repo: Path) -> None:
    (repo / "real").mkdir()
    (repo / "generated").symlink_to(repo / "real")
    cfg = write_cfg(repo, SEED_TENANTS)
    res = invoke("build", "-c", str(cfg))
    assert res.code == 2
    assert "symbolic link" in res.err
    assert list((repo / "real").iterdir()) == []


def test_output_directory_links_to_the_repository_root(repo: Path) -> None:
    (repo / "generated").symlink_to(repo)
    cfg = write_cfg(repo, SEED_TENANTS)
    before = snapshot(repo)
    res = invoke("build", "-c", str(cfg))
    assert res.code == 2
    assert "repository root" in res.err
    assert snapshot(repo) == before


def test_a_parent_of_the_output_is_a_link_out(repo: Path, outside: Path) -> None:
    (repo / "deploy").symlink_to(outside)
    cfg = write_cfg(repo, SEED_TENANTS + "output: deploy/generated\n")
    res = invoke("build", "-c", str(cfg))
    assert res.code == 2
    assert "symbolic link" in res.err and "outside the repository root" in res.err
    assert not (outside / "generated").exists()


def test_symlinked_subdirectory_inside_the_output(repo: Path, outside: Path) -> None:
    cfg = write_cfg(repo, SEED_TENANTS)
    assert invoke("build", "-c", str(cfg)).code == 0
    root = repo / "generated"
    # Replace a generated directory with a link that leads out of the output.
    target = root / "tenant" / "tenant-a"
    for path in sorted(target.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    target.rmdir()
    target.symlink_to(outside)
    before_out, before_root = snapshot(outside), snapshot(root)
    res = invoke("build", "-c", str(cfg))
    assert res.code == 2
    assert "  tenant/tenant-a (a symbolic link; gitopsgen never writes through one)" in res.err
    assert "nothing was written" in res.err
    assert snapshot(outside) == before_out
    assert snapshot(root) == before_root
    check = invoke("check", "-c", str(cfg))
    assert check.code == 1
    assert "tenant/tenant-a" in check.out


def test_symlinked_file_inside_the_output(repo: Path, outside: Path) -> None:
    cfg = write_cfg(repo, SEED_TENANTS)
    assert invoke("build", "-c", str(cfg)).code == 0
    root = repo / "generated"
    victim = root / "clusters/host-cluster/kustomization.yaml"
    victim.unlink()
    victim.symlink_to(outside / "precious.yaml")
    before = snapshot(outside)
    res = invoke("build", "-c", str(cfg))
    assert res.code == 2
    assert "clusters/host-cluster/kustomization.yaml" in res.err
    assert snapshot(outside) == before
    assert victim.is_symlink()


def test_a_link_in_an_unplanned_place_is_left_alone(repo: Path, outside: Path) -> None:
    cfg = write_cfg(repo, SEED_TENANTS)
    assert invoke("build", "-c", str(cfg)).code == 0
    root = repo / "generated"
    (root / "docs").symlink_to(outside)
    (root / "tenant/tenant-a/extra.yaml").symlink_to(outside / "precious.yaml")
    before = snapshot(outside)
    # Removing tenant a prunes its files but neither link nor what it points to.
    cfg.write_text(SEED_TENANTS.replace("  - name: a\n    ip: 172.18.0.210\n", ""))
    res = invoke("build", "-c", str(cfg))
    assert res.code == 0, res.err
    assert (root / "docs").is_symlink()
    assert (root / "tenant/tenant-a/extra.yaml").is_symlink()
    assert not (root / "tenant/tenant-a/kustomization.yaml").exists()
    assert snapshot(outside) == before


# -- foreign files ------------------------------------------------------------------------


def test_foreign_files_are_never_deleted_and_reported_apart(repo: Path) -> None:
    cfg = write_cfg(repo, SEED_TENANTS)
    assert invoke("build", "-c", str(cfg)).code == 0
    root = repo / "generated"
    mine = {
        root / "README.md": b"notes\n",
        root / "tenant/tenant-b/notes.txt": b"about b\n",
        root / "clusters/vcluster-b/extra.yaml": b"kind: ConfigMap\n",
    }
    for path, data in mine.items():
        path.write_bytes(data)
    check = invoke("check", "-c", str(cfg))
    assert check.code == 0, check.err  # foreign files are not drift
    for rel in ("README.md", "tenant/tenant-b/notes.txt", "clusters/vcluster-b/extra.yaml"):
        assert rel in check.err
    assert "not written by gitopsgen" in check.err
    # Removing tenant b prunes its files, keeps the user's, and their directories.
    cfg.write_text(SEED_TENANTS.replace("- name: b", "- name: bb"))
    res = invoke("build", "-c", str(cfg))
    assert res.code == 0, res.err
    assert "3 file(s) not written by gitopsgen left alone" in res.out
    for path, data in mine.items():
        assert path.read_bytes() == data
    assert not (root / "tenant/tenant-b/kustomization.yaml").exists()


def test_a_foreign_file_in_a_planned_place_stops_the_build(repo: Path) -> None:
    cfg = write_cfg(repo, SEED_TENANTS)
    assert invoke("build", "-c", str(cfg)).code == 0
    root = repo / "generated"
    cfg.write_text(SEED_TENANTS + "  - name: d\n    ip: 172.18.0.215\n")
    squatter = root / "tenant/tenant-d/kustomization.yaml"
    squatter.parent.mkdir(parents=True)
    squatter.write_bytes(b"resources: [mine.yaml]\n")
    before = snapshot(root)
    res = invoke("build", "-c", str(cfg))
    assert res.code == 2
    assert "tenant/tenant-d/kustomization.yaml" in res.err
    assert "nothing was written" in res.err
    assert snapshot(root) == before
    check = invoke("check", "-c", str(cfg))
    assert check.code == 1
    # The report (drift) on standard output.
    assert "foreign" in check.out and "tenant/tenant-d/kustomization.yaml" in check.out


def test_the_manifest_decides_what_is_owned(repo: Path) -> None:
    cfg = write_cfg(repo, SEED_TENANTS)
    assert invoke("build", "-c", str(cfg)).code == 0
    root = repo / "generated"
    # A file without the header is ours only if the manifest lists it.
    (root / "clusters/vcluster-a/kustomization.yaml").write_bytes(b"edited by hand\n")
    assert invoke("build", "-c", str(cfg)).code == 0
    assert (root / "clusters/vcluster-a/kustomization.yaml").read_bytes().startswith(b"# Gen")
    # Lose the manifest: files with the header are still recognised as ours.
    (root / MANIFEST).unlink()
    cfg.write_text(SEED_TENANTS.replace("  - name: c\n    ip: 172.18.0.214\n", ""))
    assert invoke("build", "-c", str(cfg)).code == 0
    assert not (root / "tenant/tenant-c").exists()


# -- concurrent builds ----------------------------------------------------------------------

_BUILD_WITH_WAIT = (
    "import sys; from gitopsgen import tree; tree.LOCK_WAIT_SECONDS = float(sys.argv[1]); "
    "from gitopsgen.cli import main; main(sys.argv[2:])"
)


def _build_process(cfg: Path, wait: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _BUILD_WITH_WAIT, str(wait), "build", "-c", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_build_refuses_while_another_holds_the_lock(repo: Path) -> None:
    cfg = write_cfg(repo, SEED_TENANTS)
    root = repo / "generated"
    root.mkdir()
    with tree.lock(root):
        proc = _build_process(cfg, 0.3)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 2, out + err
        assert "another gitopsgen build holds the lock" in err
        assert "Traceback" not in err
        assert list(root.iterdir()) == []
    res = invoke("build", "-c", str(cfg))
    assert res.code == 0, res.err


def test_a_build_waits_for_the_lock(repo: Path) -> None:
    cfg = write_cfg(repo, SEED_TENANTS)
    root = repo / "generated"
    root.mkdir()
    with tree.lock(root):
        proc = _build_process(cfg, 60)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=1.5)
        # Still waiting, and nothing written while the lock is held.
        assert proc.poll() is None, proc.communicate()
        assert list(root.iterdir()) == []
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert invoke("check", "-c", str(cfg)).code == 0


def test_two_builds_at_once_never_interleave(repo: Path) -> None:
    a = write_cfg(repo, SEED_TENANTS)
    b = repo / "other.yaml"
    extra = "  - name: d\n    ip: 172.18.0.215\ndefaults: {flux: {interval: 9m}}\n"
    b.write_text(SEED_TENANTS + extra)
    plans = {name: plan_project(load(p)).contents() for name, p in (("a", a), ("b", b))}
    for _ in range(3):
        procs = [_build_process(cfg, 60) for cfg in (a, b, a, b)]
        for proc in procs:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
        disk = {
            p.relative_to(repo / "generated").as_posix(): p.read_bytes()
            for p in (repo / "generated").rglob("*")
            if p.is_file()
        }
        assert disk in (plans["a"], plans["b"]), "the tree mixes two builds"


def test_allow_outside_never_permits_the_repository_root_through_a_link(repo: Path) -> None:
    (repo / "up").symlink_to(repo.parent)
    cfg = write_cfg(repo, SEED_TENANTS + f"output: up/{repo.name}\n")
    before = snapshot(repo)
    res = invoke("build", "--allow-outside", "-c", str(cfg))
    assert res.code == 2
    assert "the repository root" in res.err
    assert snapshot(repo) == before


@pytest.mark.parametrize(
    "text",
    [
        "# gitopsgen manifest\na/b.yaml\nc.yaml\n",
        "a/b.yaml\n../x\n/etc/passwd\na//b\na/./b\na/../b\n.\n..\n...\nx/\nok\n",
        "a\rb\n/x\u2028/y\nz\x85../w\n",
        "a\x00b\nc\n",
        "no-final-newline",
        "",
        "\n\n#only\n",
    ],
)
def test_manifest_lines_are_judged_one_by_one_or_all_at_once(tmp_path: Path, text: str) -> None:
    from gitopsgen import tree

    path = tmp_path / "manifest"
    path.write_text(text, encoding="utf-8", newline="")
    expected = {
        line
        for line in text.splitlines()
        if line and not line.startswith("#") and tree._is_relative(line)
    }
    assert tree._manifest_paths(str(path)) == expected
