"""The command cache (gitopsgen.cache): validate and check served from it say exactly
what the full commands say, and anything the cache cannot vouch for runs them."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import invoke
from gitopsgen import cache

HOST = "clusters/host-cluster/kustomization.yaml"
HOST_LINE = "- ../../generated/clusters/host-cluster"


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    directory = tmp_path / "cache"
    monkeypatch.setenv("GITOPSGEN_CACHE_DIR", str(directory))
    monkeypatch.delenv("GITOPSGEN_NO_CACHE", raising=False)
    yield directory


@pytest.fixture
def repo(project: Callable[..., Path]) -> Path:
    cfg = project()
    (cfg.parent / ".git").mkdir()
    res = invoke("build", "-q", cwd=cfg.parent)
    assert res.code == 0, res.err
    return cfg.parent


def _uncached(monkeypatch: pytest.MonkeyPatch, *args: str, cwd: Path) -> tuple[int, str, str]:
    with monkeypatch.context() as m:
        m.setenv("GITOPSGEN_NO_CACHE", "1")
        res = invoke(*args, cwd=cwd)
    return res.code, res.out, res.err


def _model_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every path that would load tenants.yaml fail: what still works is cached."""
    import gitopsgen.config

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("tenants.yaml was loaded")

    monkeypatch.setattr(gitopsgen.config, "load", refuse)


@pytest.mark.parametrize("fmt", ["text", "json", "github"])
def test_cached_validate_and_check_say_what_the_full_commands_say(
    repo: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    (repo / "notes.txt").write_text("not ours\n")
    (repo / "generated" / "README.md").write_text("a foreign file in the tree\n")
    full = {c: _uncached(monkeypatch, c, "--format", fmt, cwd=repo) for c in ("validate", "check")}
    for command in ("validate", "check"):
        invoke(command, cwd=repo)  # fills the cache
    _model_unavailable(monkeypatch)
    for command, expected in full.items():
        res = invoke(command, "--format", fmt, cwd=repo)
        assert (res.code, res.out, res.err) == expected, command


def test_a_build_fills_the_cache_for_check(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _model_unavailable(monkeypatch)
    res = invoke("check", cwd=repo)
    assert res.code == 0, res.err
    assert "in sync" in res.out


@pytest.mark.parametrize("change", ["edit", "delete", "stale", "link"])
def test_drift_runs_the_full_check(repo: Path, change: str) -> None:
    assert invoke("check", cwd=repo).code == 0
    out = repo / "generated"
    some = next(p for p in sorted(out.rglob("*.yaml")) if p.is_file())
    if change == "edit":
        some.write_text(some.read_text() + "# hand edit\n")
    elif change == "delete":
        some.unlink()
    elif change == "stale":
        header = some.read_text().splitlines()[0]
        (out / "old.yaml").write_text(header + "\n{}\n")
    else:
        (out / "link.yaml").symlink_to(some)
    res = invoke("check", cwd=repo)
    full_words = {
        "edit": "changed",
        "delete": "missing",
        "stale": "old.yaml",
        "link": "link.yaml",
    }
    assert full_words[change] in res.out + res.err
    if change != "link":
        assert res.code == 1


def test_wiring_is_read_again_every_time(repo: Path) -> None:
    host = repo / HOST
    host.parent.mkdir(parents=True)
    host.write_text(f"resources:\n  {HOST_LINE}\n")
    first = invoke("check", cwd=repo)
    assert HOST not in first.out + first.err
    host.write_text("resources:\n  - other.yaml\n")
    second = invoke("check", cwd=repo)
    assert second.code == 1
    assert HOST_LINE in second.out + second.err


def test_an_edited_tenants_yaml_is_a_miss(repo: Path) -> None:
    assert invoke("check", cwd=repo).code == 0
    cfg = repo / "tenants.yaml"
    cfg.write_text(cfg.read_text().replace("172.18.0.214", "172.18.0.215"))
    res = invoke("check", cwd=repo)
    assert res.code == 1
    assert "vcluster-c" in res.out + res.err


def test_the_output_rules_are_asked_again(repo: Path, tmp_path: Path) -> None:
    assert invoke("validate", cwd=repo).code == 0
    # The output directory now leads out of the repository through a link.
    elsewhere = tmp_path / "elsewhere"
    (repo / "generated").rename(elsewhere)
    (repo / "generated").symlink_to(elsewhere)
    res = invoke("validate", cwd=repo)
    assert res.code == 2
    assert "symbolic link" in res.err


def test_a_corrupt_entry_is_a_miss(repo: Path, own_cache: Path) -> None:
    assert invoke("check", cwd=repo).code == 0
    for entry in own_cache.glob("*.json"):
        entry.write_text("{not json")
    assert invoke("check", cwd=repo).code == 0
    entries = [json.loads(p.read_text()) for p in own_cache.glob("*.json")]
    assert entries and all(e["format"] == cache.FORMAT for e in entries)


def test_off_writes_nothing(project: Callable[..., Path], own_cache: Path) -> None:
    cfg = project()
    os.environ["GITOPSGEN_NO_CACHE"] = "1"
    try:
        assert invoke("build", "-q", cwd=cfg.parent).code == 0
        assert invoke("check", cwd=cfg.parent).code == 0
    finally:
        del os.environ["GITOPSGEN_NO_CACHE"]
    assert not own_cache.exists()


def test_the_key_covers_the_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = b"version: 1\n"
    before = cache.key_for("tenants.yaml", raw, False)
    assert cache.key_for("tenants.yaml", raw, True) != before
    assert cache.key_for("./tenants.yaml", raw, False) != before
    assert cache.key_for("tenants.yaml", raw + b"\n", False) != before
    fake = tmp_path / "pkg"
    fake.mkdir()
    (fake / "a.py").write_text("x = 1\n")
    monkeypatch.setattr(cache, "_PACKAGE", fake)
    one = cache.key_for("tenants.yaml", raw, False)
    (fake / "a.py").write_text("x = 22\n")
    assert cache.key_for("tenants.yaml", raw, False) != one


def test_a_flux_instance_is_always_judged_by_the_full_check(project: Callable[..., Path]) -> None:
    """check_shards needs the model to judge a FluxInstance: never served cached."""
    text = (Path(__file__).resolve().parents[1] / "examples/fleet/tenants.yaml").read_text()
    text = text.replace(
        "    shards: [s1, s2, s3]",
        "    fluxInstance: flux/eu-1.yaml\n    shards: [s1, s2, s3]",
    )
    cfg = project(text)
    repo = cfg.parent
    instance = repo / "flux" / "eu-1.yaml"
    instance.parent.mkdir()
    body = "apiVersion: fluxcd.controlplane.io/v1\nkind: FluxInstance\nmetadata: {name: flux}\n"
    instance.write_text(body + "spec:\n  sharding:\n    shards: [s1, s2, s3]\n")
    assert invoke("build", "-q", cwd=repo).code == 0
    first = invoke("check", cwd=repo)
    assert first.code == 0, first.out + first.err
    instance.write_text(body + "spec:\n  sharding:\n    shards: [s1, s2]\n")
    second = invoke("check", cwd=repo)
    assert second.code == 1
    assert "s3" in second.out + second.err


def test_schema_is_served_from_the_cache_once_built(
    own_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gitopsgen.schema import schema_text

    first = invoke("schema")
    assert first.code == 0
    assert first.out == schema_text()
    assert len(list(own_cache.glob("schema-*.json"))) == 1
    import gitopsgen.schema

    monkeypatch.setattr(gitopsgen.schema, "schema_text", lambda: "rebuilt\n")
    assert invoke("schema").out == first.out  # served, not rebuilt


def test_a_wired_repository_is_always_walked_by_the_full_check(repo: Path) -> None:
    """The repository check reads hand-kept files with the plan's documents: while the
    entry point exists, check is never served from the cache."""
    host = repo / HOST
    host.parent.mkdir(parents=True)
    host.write_text(f"resources:\n  {HOST_LINE}\n")
    first = invoke("check", cwd=repo)
    assert first.code == 0, first.out + first.err
    (host.parent / "extra.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: vcluster-a\n"
    )
    host.write_text(f"resources:\n  - extra.yaml\n  {HOST_LINE}\n")
    second = invoke("check", cwd=repo)
    assert second.code == 1, second.out + second.err
    assert "extra.yaml" in second.out + second.err


# ------------------------------------------------- builds, and trees of any size


def _renders(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the plans rendered from now on (gitopsgen.plan.PlanStream iterations)."""
    import gitopsgen.plan

    seen: list[int] = []
    real = gitopsgen.plan.PlanStream.__iter__

    def counted(self: gitopsgen.plan.PlanStream) -> Iterator[object]:
        seen.append(1)
        return real(self)

    monkeypatch.setattr(gitopsgen.plan.PlanStream, "__iter__", counted)
    return seen


@pytest.fixture(params=["digests", "tree sum"])
def built(request: pytest.FixtureRequest, project: Callable[..., Path], monkeypatch: Any) -> Path:
    """A built repository whose cache entry holds per-file digests, or (the plan
    counted as larger than MAX_DIGESTS) only the TreeSum of the tree."""
    if request.param == "tree sum":
        monkeypatch.setattr(cache, "MAX_DIGESTS", 3)
    cfg = project()
    (cfg.parent / ".git").mkdir()
    res = invoke("build", "-q", cwd=cfg.parent)
    assert res.code == 0, res.err
    entries = [json.loads(p.read_text()) for p in cache.cache_dir().glob("*.json")]
    assert len(entries) == 1
    assert (entries[0]["digests"] is None) == (request.param == "tree sum")
    assert entries[0]["tree"]
    return cfg.parent


def test_a_no_change_build_says_what_the_full_build_says_without_rendering(
    built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (built / "generated" / "README.md").write_text("a foreign file in the tree\n")
    full = _uncached(monkeypatch, "build", cwd=built)
    full_check = _uncached(monkeypatch, "check", cwd=built)
    renders = _renders(monkeypatch)
    res = invoke("build", cwd=built)
    assert (res.code, res.out, res.err) == full
    assert "0 written" in res.out and "1 file(s) not written by gitopsgen" in res.out
    cached = invoke("check", cwd=built)
    assert (cached.code, cached.out, cached.err) == full_check
    assert renders == []  # every file was read and hashed; nothing was rendered


@pytest.mark.parametrize("change", ["edit", "delete", "stale", "journal"])
def test_a_build_after_drift_renders_and_repairs(
    built: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    out = built / "generated"
    some = next(p for p in sorted(out.rglob("*.yaml")) if p.is_file())
    before = some.read_bytes()
    if change == "edit":
        some.write_bytes(before + b"# hand edit\n")
    elif change == "delete":
        some.unlink()
    elif change == "stale":
        header = before.decode().splitlines()[0]
        (out / "old.yaml").write_text(header + "\n{}\n")
    else:  # a killed build's journal: the full build finishes it
        (out / ".gitopsgen-journal").write_bytes(
            b"# gitopsgen journal: tokens of temporary files of an unfinished write\n"
        )
    renders = _renders(monkeypatch)
    res = invoke("build", cwd=built)
    assert res.code == 0, res.err
    assert renders == [1]
    assert some.read_bytes() == before
    assert not (out / "old.yaml").exists() and not (out / ".gitopsgen-journal").exists()
    assert invoke("check", "-q", cwd=built).code == 0


def test_a_fleet_check_is_served_when_it_reads_only_the_generated_tree(
    project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Version 2 without fluxInstance or entryPoint: the repository walk reads only
    the generated tree, which the cached digests vouch for."""
    text = (Path(__file__).resolve().parents[1] / "examples/fleet/tenants.yaml").read_text()
    assert "fluxInstance" not in text and "entryPoint" not in text
    repo = project(text).parent
    assert invoke("build", "-q", cwd=repo).code == 0
    full = _uncached(monkeypatch, "check", cwd=repo)
    assert full[0] == 0, full
    _model_unavailable(monkeypatch)
    res = invoke("check", cwd=repo)
    assert (res.code, res.out, res.err) == full
    some = next(p for p in sorted((repo / "generated").rglob("*.yaml")) if p.is_file())
    some.write_text(some.read_text() + "# hand edit\n")
    drift = invoke("check", cwd=repo)  # the full check runs: it needs the model
    assert drift.code == 3 and "tenants.yaml was loaded" in drift.err, drift.err


def test_tree_sum_is_order_free_and_binds_paths_to_bytes() -> None:
    files = [("a.yaml", b"one"), ("b/c.yaml", b"two"), ("d.yaml", b"")]
    sums = set()
    for order in (files, files[::-1], [files[1], files[0], files[2]]):
        total = cache.TreeSum()
        for rel, data in order:
            total.add(rel, data)
        sums.add(total.hexdigest())
    assert len(sums) == 1
    swapped = cache.TreeSum()
    for rel, data in (("a.yaml", b"two"), ("b/c.yaml", b"one"), ("d.yaml", b"")):
        swapped.add(rel, data)
    fewer = cache.TreeSum()
    for rel, data in files[:2]:
        fewer.add(rel, data)
    assert swapped.hexdigest() not in sums and fewer.hexdigest() not in sums
