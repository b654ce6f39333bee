"""diff: object identity, named-list matching, linear cost, and the markdown budget."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import gitopsgen.diff as core
from conftest import GIT_ENV, invoke
from gitopsgen.diff import compare_sides, field_changes, side_from_config, side_from_outputs
from gitopsgen.diffreport import DEFAULT_MAX_BYTES, to_markdown, to_text
from gitopsgen.model import Config, Tenant
from gitopsgen.render.base import RenderedFile


def _config(n: int, **defaults: object) -> Config:
    tenants = [Tenant(name=f"t{i:02d}", ip=f"10.0.{i // 250}.{i % 250 + 1}") for i in range(n)]
    return Config.model_validate(
        {"version": 1, "pool": ["10.0.0.0/16"], "tenants": tenants, "defaults": defaults}
    )


def test_named_lists_match_by_name_so_reordering_is_no_change() -> None:
    old = {
        "spec": {
            "containers": [
                {"name": "a", "image": "x:1", "env": [{"name": "A", "value": "1"}]},
                {"name": "b", "image": "y:1"},
            ]
        }
    }
    reordered = {
        "spec": {
            "containers": [
                {"name": "b", "image": "y:1"},
                {"env": [{"value": "1", "name": "A"}], "image": "x:1", "name": "a"},
            ]
        }
    }
    assert field_changes(old, reordered) == []
    changed = {
        "spec": {"containers": [{"name": "b", "image": "y:2"}, old["spec"]["containers"][0]]}
    }
    [change] = field_changes(old, changed)
    assert change.path == "spec.containers[name=b].image"
    assert (change.op, change.old, change.new) == ("changed", "y:1", "y:2")
    # lists without unique names stay positional
    [positional] = field_changes({"args": ["a", "b"]}, {"args": ["a", "c"]})
    assert positional.path == "args[1]"


def test_api_version_change_is_a_change_not_remove_and_add() -> None:
    def route(api: str) -> RenderedFile:
        doc = {"apiVersion": api, "kind": "HTTPRoute", "metadata": {"name": "r"}, "spec": {}}
        return RenderedFile("r.yaml", (doc,), "a", "tenant-a")

    old = side_from_outputs("old", [route("gateway.networking.k8s.io/v1beta1")])
    new = side_from_outputs("new", [route("gateway.networking.k8s.io/v1")])
    result = compare_sides(old, new)
    [tenant] = result.tenants
    [obj] = tenant.objects
    assert obj.op == "changed"
    assert [(f.path, f.old, f.new) for f in obj.fields] == [
        ("apiVersion", "gateway.networking.k8s.io/v1beta1", "gateway.networking.k8s.io/v1")
    ]


def test_identity_includes_cluster_and_effective_namespace() -> None:
    side = side_from_config("s", _config(3))
    deployments = [o.id for o in side.objects.values() if o.id.kind == "Deployment"]
    assert sorted(deployments) == [
        core.ObjectId(f"vcluster-t0{i}", "apps", "Deployment", "default", "nginx") for i in range(3)
    ]
    namespaces = {o.id for o in side.objects.values() if o.id.kind == "Namespace"}
    assert all(i.namespace == "" for i in namespaces)  # cluster-scoped
    release = next(o for o in side.objects.values() if o.id.kind == "HelmRelease")
    assert release.id.namespace == "vcluster-t00"  # from the kustomization's namespace


def test_only_differing_objects_are_diffed(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = core.field_changes

    def counting(old: dict, new: dict) -> list:  # type: ignore[type-arg]
        calls.append(old["kind"])
        return real(old, new)

    monkeypatch.setattr(core, "field_changes", counting)
    base = _config(200)
    tenants = list(base.tenants)
    tenants[7] = Tenant(name="t07", ip="10.0.3.1")
    result = compare_sides(
        side_from_config("old", base),
        side_from_config("new", base.model_copy(update={"tenants": tenants})),
    )
    assert calls == ["HelmRelease"]
    assert [t.name for t in result.tenants] == ["t07"]


def test_text_colours_only_through_the_style_callable() -> None:
    old = side_from_config("old", _config(1))
    new = side_from_config("new", _config(2))
    result = compare_sides(old, new)
    plain = to_text(result)
    assert "\x1b[" not in plain
    assert "+ tenant t01 (" in plain
    styled = to_text(result, lambda text, colour: f"<{colour}>{text}</{colour}>")
    assert "<green>+ tenant t01 (" in styled


def _tenants_yaml(names: list[str], image: str = "nginx:1.27-alpine") -> str:
    lines = ["version: 1", "pool: 10.0.0.0/24", "defaults:", "  workload:", f"    image: {image}"]
    lines.append("tenants:")
    for i, name in enumerate(names):
        lines += [f"  - name: {name}", f"    ip: 10.0.0.{i + 10}"]
    return "\n".join(lines) + "\n"


@pytest.fixture
def fifty(tmp_path: Path) -> Path:
    """A git repository whose feature branch changes 50 tenants: 5 removed, 10 added,
    the image of every remaining one changed (55 tenant sections)."""
    root = tmp_path / "repo"
    root.mkdir()

    def git(*args: str) -> None:
        subprocess.run(
            ["git", *args], cwd=root, env={**os.environ, **GIT_ENV}, check=True, capture_output=True
        )

    config = root / "tenants.yaml"
    git("init", "-q", "-b", "main")
    config.write_text(_tenants_yaml([f"t{i:02d}" for i in range(45)]))
    git("add", "tenants.yaml")
    git("commit", "-q", "-m", "45 tenants")
    git("checkout", "-q", "-b", "feature")
    names = [f"t{i:02d}" for i in range(5, 45)] + [f"new{i}" for i in range(10)]
    config.write_text(_tenants_yaml(names, image="nginx:1.28-alpine"))
    return config


def test_fifty_tenant_markdown_stays_under_the_budget_and_says_so(fifty: Path) -> None:
    import markdown

    run = invoke("diff", "-c", str(fifty), "--format", "markdown", cwd=fifty.parent)
    assert run.code == 0, run.err
    text = run.out
    assert len(text.encode()) <= DEFAULT_MAX_BYTES
    assert "> [!NOTE]" in text and "trimmed to fit 60000 bytes" in text
    # every section is still in the summary table and every deletion is listed
    for i in range(5):
        assert f"| tenant t{i:02d} |" in text
        assert f"- Deployment default/nginx (in vcluster-t{i:02d})" in text
    for i in range(10):
        assert f"| tenant new{i} |" in text
    assert text.count("<details>") == text.count("</details>") == 56  # 55 tenants + shared
    html = markdown.markdown(text, extensions=["tables", "fenced_code"])
    assert "<table>" in html and html.count("<tr>") == 57

    small = invoke(
        "diff", "-c", str(fifty), "--format", "markdown", "--max-bytes", "3000", cwd=fifty.parent
    )
    assert len(small.out.encode()) <= 3000
    assert "trimmed to fit 3000 bytes" in small.out
    assert "summary rows" in small.out


def test_small_markdown_is_complete_without_a_note(fifty: Path) -> None:
    base = _tenants_yaml([f"t{i:02d}" for i in range(45)])  # as committed on main
    fifty.write_text(base.replace("10.0.0.10\n", "10.0.0.99\n"))
    old = side_from_config("old", _config(0))
    result = compare_sides(old, old)
    assert "No changes" in to_markdown(result)
    run = invoke(
        "diff", "-c", str(fifty), "--format", "markdown", "--base", "HEAD", cwd=fifty.parent
    )
    assert run.code == 0, run.err
    assert "[!NOTE]" not in run.out
    assert "ip 10.0.0.10 → 10.0.0.99" in run.out
    block = "  spec.values.external.platform.apiServerHost:\n-   10.0.0.10\n+   10.0.0.99\n```"
    assert block in run.out
    assert run.out.count("<details>") == 1


def test_fast_path_matches_a_full_compile() -> None:
    from conftest import SEED_TENANTS
    from gitopsgen.config import parse
    from gitopsgen.diff import changed_tenants, compare_configs
    from gitopsgen.diffreport import to_json_data

    old, _ = parse(SEED_TENANTS)
    full = side_from_config("full", old)
    every = side_from_config("every", old, only={t.name for t in old.tenants})
    assert every.objects == full.objects  # shared renderers are the same as plan's
    assert side_from_config("none", old, only=set()).objects.keys() < full.objects.keys()

    new, _ = parse(
        SEED_TENANTS.replace("172.18.0.211", "172.18.0.215").split("  - name: c\n")[0]
        + "  - name: d\n    ip: 172.18.0.216\n"
    )
    assert changed_tenants(old, new, "./generated", "./generated") == {"b", "c", "d"}
    fast = to_json_data(compare_configs("old", old, "new", new))
    slow = to_json_data(compare_sides(side_from_config("old", old), side_from_config("new", new)))
    assert fast == slow
    assert fast["summary"]["tenants"] == {"added": 1, "removed": 1, "changed": 1}
    # a default change means every tenant is compiled
    image_changed, _ = parse(
        SEED_TENANTS + "defaults:\n  workload:\n    image: nginx:1.28-alpine\n"
    )
    assert changed_tenants(old, image_changed, "./generated", "./generated") is None
    assert changed_tenants(old, old, "./generated", "./other") is None
