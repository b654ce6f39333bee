"""build and check on disk: untouched unchanged files, pruning, foreign files,
check's exit codes and report, the committed schema, and the CLI as a user runs it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from conftest import REPO, SEED_TENANTS, invoke
from gitopsgen.config import load
from gitopsgen.plan import MANIFEST, plan_project
from support.golden import CASES, tree_files, valid_cases

OLD_NS = 1_000_000_000_000_000_000  # 2001-09-09: any rewrite moves the mtime away from it
WITHOUT_C = SEED_TENANTS.split("  - name: c\n")[0]
BIN = Path(sys.executable).parent
_ENTRY = re.compile(r"^  (missing|changed|stale|foreign) +(\S+)")


def _stat(root: Path) -> dict[str, tuple[int, int]]:
    return {
        p.relative_to(root).as_posix(): (p.stat().st_mtime_ns, p.stat().st_ino)
        for p in root.rglob("*")
        if p.is_file()
    }


def _age(root: Path) -> None:
    for p in root.rglob("*"):
        if p.is_file():
            os.utime(p, ns=(OLD_NS, OLD_NS))


def _dirs(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir()}


@pytest.fixture
def built(project) -> Path:  # type: ignore[no-untyped-def]
    """A repository with the seed tenants, built; returns tenants.yaml's path."""
    cfg: Path = project()
    res = invoke("build", "-c", str(cfg))
    assert res.code == 0, res.err
    assert " 0 unchanged, 0 removed (54 files, 3 tenants)" in res.out
    # Wired into Flux like a seed-like repository, so that check has nothing to note.
    for rel, entry in (
        ("clusters/host-cluster", "../../generated/clusters/host-cluster"),
        ("infrastructure/traefik/config", "../../../generated/infrastructure/traefik/config"),
    ):
        (cfg.parent / rel).mkdir(parents=True)
        (cfg.parent / rel / "kustomization.yaml").write_text(f"resources:\n  - {entry}\n")
    return cfg


# --- build ----------------------------------------------------------------------------


def test_second_build_touches_nothing(built: Path) -> None:
    out = built.parent / "generated"
    _age(out)
    before = _stat(out)
    assert len(before) == 55  # 54 files and the manifest
    res = invoke("build", "-c", str(built))
    assert res.code == 0, res.err
    assert ": 0 written, 54 unchanged, 0 removed (54 files, 3 tenants)" in res.out
    after = _stat(out)
    assert after == before
    assert all(mtime == OLD_NS for mtime, _ in after.values())


def test_build_rewrites_only_what_changed(built: Path) -> None:
    out = built.parent / "generated"
    _age(out)
    built.write_text(built.read_text().replace("ip: 172.18.0.214", "ip: 172.18.0.215"))
    res = invoke("build", "-c", str(built))
    assert res.code == 0, res.err
    assert ": 1 written, 53 unchanged, 0 removed" in res.out
    moved = sorted(rel for rel, (mtime, _) in _stat(out).items() if mtime != OLD_NS)
    assert moved == ["clusters/vcluster-c/vcluster-c_helmrelease.yaml"]


def test_removing_a_tenant_prunes_its_files_and_dirs(built: Path) -> None:
    out = built.parent / "generated"
    built.write_text(WITHOUT_C)
    res = invoke("build", "-c", str(built))
    assert res.code == 0, res.err
    # c's 16 files go; the 4 shared files naming c are rewritten (the manifest, the
    # ownership record, is not counted among the files).
    assert ": 4 written, 34 unchanged, 16 removed (38 files, 2 tenants)" in res.out
    assert not [rel for rel in tree_files(out) if "tenant-c" in rel or "vcluster-c" in rel]
    dirs = _dirs(out)
    assert not {"tenant/tenant-c", "clusters/vcluster-c"} & dirs
    assert {"tenant/tenant-a", "tenant/tenant-b", "infrastructure/traefik"} <= dirs
    # The tree is exactly what a fresh build of the new file writes.
    assert tree_files(out) == plan_project(load(built)).contents()
    assert invoke("check", "-c", str(built)).code == 0


def test_foreign_file_at_a_planned_path_stops_build(project) -> None:  # type: ignore[no-untyped-def]
    cfg: Path = project()
    foreign = cfg.parent / "generated/tenant/tenant-a/routes/nginx_httproute.yaml"
    foreign.parent.mkdir(parents=True)
    foreign.write_text("# my own route\nkind: HTTPRoute\n")
    res = invoke("build", "-c", str(cfg))
    assert res.code == 2
    assert "tenant/tenant-a/routes/nginx_httproute.yaml" in res.err
    assert "nothing was written" in res.err
    assert foreign.read_text() == "# my own route\nkind: HTTPRoute\n"
    assert tree_files(cfg.parent / "generated") == {
        "tenant/tenant-a/routes/nginx_httproute.yaml": b"# my own route\nkind: HTTPRoute\n"
    }


def test_foreign_file_for_a_new_tenant_stops_build_before_any_write(built: Path) -> None:
    out = built.parent / "generated"
    _age(out)
    before = _stat(out)
    foreign = out / "clusters/vcluster-d/kustomization.yaml"
    foreign.parent.mkdir()
    foreign.write_text("resources: []\n")
    built.write_text(built.read_text() + "  - name: d\n    ip: 172.18.0.215\n")
    res = invoke("build", "-c", str(built))
    assert res.code == 2
    assert "clusters/vcluster-d/kustomization.yaml" in res.err
    after = _stat(out)
    assert after.pop("clusters/vcluster-d/kustomization.yaml")
    assert after == before
    assert foreign.read_text() == "resources: []\n"
    # check calls it drift, naming the foreign file where build must write.
    checked = invoke("check", "-c", str(built))
    assert checked.code == 1
    assert "  foreign  generated/clusters/vcluster-d/kustomization.yaml" in checked.out


def test_foreign_file_elsewhere_is_left_alone(built: Path) -> None:
    out = built.parent / "generated"
    notes = out / "tenant/NOTES.md"
    notes.write_text("hand-written notes\n")
    res = invoke("build", "-c", str(built))
    assert res.code == 0, res.err
    assert "1 file(s) not written by gitopsgen left alone" in res.out
    # Pruning a tenant whose directory holds a foreign file keeps file and directory.
    (out / "tenant/tenant-c/README").write_text("keep me\n")
    built.write_text(WITHOUT_C)
    assert invoke("build", "-c", str(built)).code == 0
    assert notes.read_text() == "hand-written notes\n"
    assert (out / "tenant/tenant-c/README").read_text() == "keep me\n"
    checked = invoke("check", "-c", str(built))
    assert checked.code == 0, checked.err
    # Notes are diagnostics (standard error); paths relative to the repository root.
    assert checked.err == (
        "note: 2 file(s) in generated not written by gitopsgen (left alone):\n"
        "  generated/tenant/NOTES.md\n  generated/tenant/tenant-c/README\n"
    )
    assert "in sync" in checked.out


# --- check ----------------------------------------------------------------------------


def test_check_in_sync(built: Path) -> None:
    res = invoke("check", "-c", str(built))
    assert res.code == 0
    assert res.out == "generated: in sync with tenants.yaml (54 files)\n"
    assert res.err == ""
    absolute = invoke("check", "--absolute", "-c", str(built))
    assert absolute.out == f"{built.parent / 'generated'}: in sync with {built} (54 files)\n"


def test_check_lists_missing_changed_and_stale(built: Path) -> None:
    out = built.parent / "generated"
    _age(out)
    before = _stat(out)
    (out / "tenant/tenant-a/workload/nginx_service.yaml").unlink()
    route = out / "tenant/tenant-b/routes/nginx_httproute.yaml"
    route.write_text(route.read_text().replace("tenant-b.traefik.local", "evil.example"))
    built.write_text(WITHOUT_C)
    res = invoke("check", "-c", str(built))
    assert res.code == 1
    # The report on standard output, paths relative to the repository root.
    lines = res.out.splitlines()
    assert lines[0] == "generated: 23 file(s) out of sync with tenants.yaml; run `gitopsgen build`"
    listed = [m.groups() for m in map(_ENTRY.match, lines[1:]) if m]
    kinds = {kind for kind, _ in listed}
    assert len(listed) == 23
    assert {"missing", "changed", "stale"} <= kinds
    assert ("missing", "generated/tenant/tenant-a/workload/nginx_service.yaml") in listed
    assert ("changed", "generated/tenant/tenant-b/routes/nginx_httproute.yaml") in listed
    assert ("changed", f"generated/{MANIFEST}") in listed
    assert ("stale", "generated/tenant/tenant-c/workload/nginx_deployment.yaml") in listed
    assert sum(1 for kind, _ in listed if kind == "stale") == 16
    assert "+    - tenant-b.traefik.local" in res.out
    assert "-    - evil.example" in res.out
    # check writes nothing.
    after = _stat(out)
    del before["tenant/tenant-a/workload/nginx_service.yaml"]
    before["tenant/tenant-b/routes/nginx_httproute.yaml"] = after[
        "tenant/tenant-b/routes/nginx_httproute.yaml"
    ]
    assert after == before


def test_check_quiet(built: Path) -> None:
    assert invoke("check", "-q", "-c", str(built)).result.output == ""
    (built.parent / "generated/clusters/vcluster-a/kustomization.yaml").unlink()
    res = invoke("check", "--quiet", "-c", str(built))
    assert res.code == 1
    assert res.err == ""
    assert res.out.splitlines() == [
        "generated: 1 file(s) out of sync with tenants.yaml; run `gitopsgen build`"
    ]


def test_check_invalid_input_exits_2(built: Path) -> None:
    built.write_text(built.read_text().replace("ip: 172.18.0.214", "ip: 172.18.0.210"))
    res = invoke("check", "-c", str(built))
    assert res.code == 2
    assert res.out == ""
    assert res.err.endswith(
        "tenants[2].ip: 172.18.0.210 is already used by tenant a (line 11, column 9)\n"
    )


def test_check_before_any_build(project) -> None:  # type: ignore[no-untyped-def]
    cfg: Path = project()
    res = invoke("check", "-c", str(cfg))
    assert res.code == 1
    assert res.out.count("  missing  ") == 55
    assert not (cfg.parent / "generated").exists()


def test_repository_is_in_sync_with_its_tenants_yaml() -> None:
    res = invoke("check", "-c", str(REPO / "tenants.yaml"))
    assert res.code == 0, res.err


def test_fleet_example_is_in_sync_with_its_tenants_yaml() -> None:
    """The repository's self-check, once, here (make test does not run make selfcheck)."""
    res = invoke("check", "-c", str(REPO / "examples/fleet/tenants.yaml"))
    assert res.code == 0, res.out + res.err


# --- schema and the bundled tenants.yaml ----------------------------------------------


def test_committed_schema_is_current() -> None:
    res = invoke("schema")
    assert res.code == 0
    assert res.out == (REPO / "schema" / "tenants.schema.json").read_text()


def _schema() -> dict[str, object]:
    schema: dict[str, object] = json.loads((REPO / "schema" / "tenants.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def test_bundled_tenants_yaml_validates_against_the_schema() -> None:
    text = (REPO / "tenants.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=schema/tenants.schema.json\n")
    jsonschema.validate(yaml.safe_load(text), _schema())


@pytest.mark.parametrize("case", valid_cases())
def test_golden_inputs_validate_against_the_schema(case: str) -> None:
    data = yaml.safe_load((CASES / case / "tenants.yaml").read_text())
    jsonschema.validate(data, _schema())


def test_schema_rejects_unknown_keys() -> None:
    data = yaml.safe_load(SEED_TENANTS)
    data["tenants"][0]["colour"] = "blue"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, _schema())


# --- the CLI as a real subprocess -----------------------------------------------------


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False, timeout=60)


def test_python_m_gitopsgen_help(tmp_path: Path) -> None:
    proc = _run(sys.executable, "-m", "gitopsgen", "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for command in ("build", "check", "validate", "schema"):
        assert command in proc.stdout


def test_console_script_build_and_check(project) -> None:  # type: ignore[no-untyped-def]
    cfg: Path = project()
    script = str(BIN / "gitopsgen")
    proc = _run(script, "build", cwd=cfg.parent)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("generated: 54 written, 0 unchanged, 0 removed")
    proc = _run(script, "check", cwd=cfg.parent)
    assert proc.returncode == 0, proc.stderr
    (cfg.parent / "generated/tenant/tenant-a/tenant-a_namespace.yaml").unlink()
    proc = _run(script, "check", "-q", cwd=cfg.parent)
    assert proc.returncode == 1
    assert (
        proc.stdout == "generated: 1 file(s) out of sync with tenants.yaml; run `gitopsgen build`\n"
    )
    assert proc.stderr == ""


def test_console_script_invalid_input(tmp_path: Path) -> None:
    (tmp_path / "tenants.yaml").write_text("version: 1\npool: 10.0.0.0/24\ncolor: red\n")
    proc = _run(str(BIN / "gitopsgen"), "build", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == "tenants.yaml:3:1: color: unknown key 'color'\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tenants.yaml"]
