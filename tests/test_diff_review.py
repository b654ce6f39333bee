"""diff for review at fleet scale: the cause (tenants.yaml keys with their lines),
identical changes grouped, risk flags and --fail-on, migration diffs against a
hand-made tree, and explicit base options. Real git repositories in tmp dirs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import GIT_ENV, REPO, SEED_TENANTS, invoke
from gitopsgen.diffreport import DEFAULT_MAX_BYTES

FLEET = (REPO / "examples/fleet/tenants.yaml").read_text()


def _schema():  # type: ignore[no-untyped-def]
    import jsonschema

    return jsonschema.Draft202012Validator(
        json.loads((REPO / "schema/diff.schema.json").read_text())
    )


SCHEMA = _schema()
SEEDLIKE = Path(__file__).parent / "fixtures" / "seedlike"


class Repo:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = root / "tenants.yaml"
        root.mkdir(parents=True, exist_ok=True)

    def git(self, *args: str) -> str:
        proc = subprocess.run(
            ["git", *args],
            cwd=self.root,
            env={**os.environ, **GIT_ENV},
            capture_output=True,
            text=True,
            check=True,
        )
        return proc.stdout

    def init(self, text: str | None = None) -> Repo:
        self.git("init", "-q", "-b", "main")
        if text is not None:
            self.config.write_text(text)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "base")
        return self

    def diff(self, *args: str):  # type: ignore[no-untyped-def]
        return invoke("diff", "-c", str(self.config), "--base-ref", "main", *args, cwd=self.root)

    def formats(self, *args: str) -> tuple[str, str, dict]:  # type: ignore[type-arg]
        text = self.diff(*args)
        md = self.diff("--format", "markdown", *args)
        js = self.diff("--format", "json", *args)
        for run in (text, md, js):
            assert run.code == 0, run.err
        data = json.loads(js.out)
        errors = [e.message for e in SCHEMA.iter_errors(data)]
        assert errors == []
        return text.out, md.out, data


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def _v1_file(n: int, image: str = "nginx:1.27-alpine") -> str:
    lines = ["version: 1", "pool: 10.0.0.0/16", "defaults:", "  workload:", f"    image: {image}"]
    lines.append("tenants:")
    for i in range(n):
        lines += [f"  - name: t{i:04d}", f"    ip: 10.0.{(i + 10) // 250}.{(i + 10) % 250 + 1}"]
    return "\n".join(lines) + "\n"


# --- the cause, grouped, under the budget --------------------------------------------


@pytest.mark.parametrize("n", [3, 2000])
def test_default_image_change_names_the_key_its_line_and_the_count(tmp_path: Path, n: int) -> None:
    repo = Repo(tmp_path / "repo").init(_v1_file(n))
    changed = _v1_file(n, image="nginx:1.28-alpine")
    repo.config.write_text(changed)
    line = _line_of(changed, "image: nginx:1.28-alpine")
    run = repo.diff("--format", "markdown")
    assert run.code == 0, run.err
    md = run.out
    assert len(md.encode()) <= DEFAULT_MAX_BYTES
    assert "nginx:1.28-alpine" in md
    # the cause table: key, old -> new, its line, tenants and objects touched
    row = f"| `defaults.workload.image` | nginx:1.27-alpine → nginx:1.28-alpine | {line} | "
    row += f"{n} | {n} |"
    assert row in md
    # one group for the whole fleet, with the field and the tenant count
    assert f"**~ Deployment default/nginx (in vcluster-{{name}})  [{n} tenants: t0000" in md
    assert "-   nginx:1.27-alpine\n+   nginx:1.28-alpine" in md
    assert md.count("spec.template.spec.containers[name=nginx].image") == (
        1 if n == 2000 else 1 + n  # per-tenant details stay when they fit
    )
    if n == 2000:
        note = re.search(r"> \[!NOTE\]\n> (.*)\n", md)
        assert note is not None
        assert "Every distinct change is shown above at least once" in note.group(1)
        assert "per-tenant section" in note.group(1) or "rows of the per-tenant table" in (
            note.group(1)
        )
    else:
        assert "[!NOTE]" not in md
    # a tight budget keeps the cause and the group too
    tight = repo.diff("--format", "markdown", "--max-bytes", "2000").out
    assert len(tight.encode()) <= 2000
    assert row in tight and "nginx:1.28-alpine" in tight
    assert f"[{n} tenants: t0000" in tight
    data = json.loads(repo.diff("--format", "json").out)
    [cause] = data["inputs"]
    assert (cause["key"], cause["old"], cause["new"]) == (
        "defaults.workload.image",
        "nginx:1.27-alpine",
        "nginx:1.28-alpine",
    )
    assert (cause["line"], cause["tenants"], cause["objects"]) == (line, n, n)
    [group] = data["groups"]
    assert group["count"] == n and len(group["tenants"]) == n
    text = repo.diff().out
    assert (
        f"defaults.workload.image: nginx:1.27-alpine -> nginx:1.28-alpine  (line {line}; " in text
    )


def test_changes_that_differ_per_tenant_stay_per_tenant(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo").init(SEED_TENANTS)
    # every tenant gets a new address: the same path, a different value each
    text = SEED_TENANTS
    for old, new in (("0.210", "0.215"), ("0.211", "0.216"), ("0.214", "0.217")):
        text = text.replace(f"172.18.{old}\n", f"172.18.{new}\n")
    repo.config.write_text(text)
    data = json.loads(repo.diff("--format", "json").out)
    releases = [g for g in data["groups"] if g["kind"] == "HelmRelease"]
    assert sorted(g["tenants"][0] for g in releases) == ["a", "b", "c"]
    assert all(g["count"] == 1 for g in releases)
    keys = [c["key"] for c in data["inputs"]]
    assert keys == ["tenants[a].ip", "tenants[b].ip", "tenants[c].ip"]
    assert [c["line"] for c in data["inputs"]] == [
        _line_of(text, "172.18.0.215"),
        _line_of(text, "172.18.0.216"),
        _line_of(text, "172.18.0.217"),
    ]


def test_derived_names_are_placeholders_in_groups(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo").init(SEED_TENANTS)
    repo.config.write_text(SEED_TENANTS + "defaults:\n  ingress:\n    domain: apps.example\n")
    data = json.loads(repo.diff("--format", "json").out)
    route = next(g for g in data["groups"] if g["kind"] == "HTTPRoute")
    assert route["object"] == "HTTPRoute tenant-{name}/nginx"
    assert route["tenants"] == ["a", "b", "c"]
    assert route["fields"][0]["old"] == "tenant-{name}.traefik.local"
    assert route["fields"][0]["new"] == "tenant-{name}.apps.example"
    [cause] = data["inputs"]
    # the domain is transformed into hostnames: the count is every tenant in scope
    assert cause["key"] == "defaults.ingress.domain" and cause["tenants"] == 3


def test_version_2_cause_names_clusters_and_list_items(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo").init(FLEET)
    changed = FLEET.replace("shards: [s1, s2, s3]", "shards: [s1, s2, s3, s4]")
    repo.config.write_text(changed)
    _, md, data = repo.formats()
    shards = next(c for c in data["inputs"] if c["key"] == "clusters[eu-1].shards")
    assert shards["itemsAdded"] == ["s4"] and shards["itemsRemoved"] == []
    assert shards["line"] == _line_of(changed, "shards: [s1, s2, s3, s4]")
    assert "| `clusters[eu-1].shards` | + s4 |" in md


# --- risk flags ------------------------------------------------------------------


def _flags(data: dict) -> set[str]:  # type: ignore[type-arg]
    return {r["flag"] for r in data["risk"]}


def _assert_flag(repo: Repo, flag: str, tenant: str) -> dict:  # type: ignore[type-arg]
    text, md, data = repo.formats()
    assert flag in _flags(data), data["risk"]
    assert any(r["flag"] == flag and r["tenant"] == tenant for r in data["risk"])
    assert flag in _tenant(data, tenant)["risk"]
    # text and markdown list flagged changes above everything else
    first = text.splitlines()[1:4]
    assert any(line.startswith("RISK: ") for line in first), text[:400]
    assert f"! {flag}: tenant {tenant}: " in text
    assert md.index("Risk:") < md.index("Per tenant")
    if "What changed in tenants.yaml" in md:
        assert md.index("Risk:") < md.index("What changed in tenants.yaml")
    assert f"| **{flag}** | {tenant} |" in md
    return data


def _tenant(data: dict, name: str) -> dict:  # type: ignore[type-arg]
    return next(t for t in data["tenants"] if t["name"] == name)


def test_remove_tenant_destroys_and_fail_on_gates_it(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo").init(SEED_TENANTS)
    run = invoke("remove-tenant", "c", "-c", str(repo.config), "--no-build", cwd=repo.root)
    assert run.code == 0, run.err
    data = _assert_flag(repo, "destroys", "c")
    destroyed = {(r["object"]["kind"], r["object"]["name"]) for r in data["risk"]}
    assert destroyed >= {("Namespace", "vcluster-c"), ("HelmRelease", "vcluster-c")}
    assert repo.diff("--fail-on", "destroys").code == 1
    assert repo.diff("--fail-on", "moves,distro").code == 0
    assert repo.diff("--fail-on", "any", "--format", "json").code == 1


def test_an_unflagged_change_passes_the_gate(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo").init(SEED_TENANTS)
    repo.config.write_text(SEED_TENANTS + "defaults:\n  workload:\n    image: nginx:1.28-alpine\n")
    data = json.loads(repo.diff("--format", "json").out)
    assert data["changed"] and data["risk"] == []
    assert repo.diff("--fail-on", "destroys").code == 0
    assert repo.diff("--fail-on", "any").code == 0
    assert repo.diff("--fail-on", "destroys", "--exit-code").code == 1  # changed
    bad = repo.diff("--fail-on", "everything")
    assert bad.code == 2 and "unknown risk everything" in bad.err


def test_ip_change_flags_address(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo").init(SEED_TENANTS)
    repo.config.write_text(SEED_TENANTS.replace("172.18.0.211", "172.18.0.215"))
    data = _assert_flag(repo, "address", "b")
    assert _flags(data) == {"address"}
    assert repo.diff("--fail-on", "address").code == 1
    # GitHub: the risk as a warning, the key as a notice on its line of tenants.yaml
    github = repo.diff("--format", "github").out.splitlines()
    assert github[0].startswith("::warning title=gitopsgen diff risk (address)::address: tenant b")
    line = data["inputs"][0]["line"]
    assert github[1].startswith(
        f"::notice title=gitopsgen diff (tenants.yaml),file=tenants.yaml,line={line}::"
        "tenants[b].ip: 172.18.0.211 -> 172.18.0.215"
    )


def test_auth_delegator_toggle_flags_access(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo").init(SEED_TENANTS)
    repo.config.write_text(
        SEED_TENANTS.replace(
            "  - name: a\n    ip: 172.18.0.210\n",
            "  - name: a\n    ip: 172.18.0.210\n    vcluster:\n      authDelegator: true\n",
        )
    )
    data = _assert_flag(repo, "access", "a")
    [risk] = data["risk"]
    assert risk["object"]["kind"] == "ClusterRoleBinding"
    assert risk["object"]["name"] == "vcluster-a:auth-delegator"


def test_shard_move_flags_moves(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo").init(FLEET)
    repo.config.write_text(FLEET.replace("    shard: s1\n", "    shard: s2\n"))
    data = _assert_flag(repo, "moves", "shop")
    assert any("shard s2 (from s1)" in r["reason"] for r in data["risk"])
    assert "destroys" not in _flags(data)  # the same cluster: a hand-over, nothing removed
    assert _tenant(data, "shop")["attributes"][0] == {"name": "shard", "old": "s1", "new": "s2"}


def test_cluster_move_flags_moves_and_destroys(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo").init(FLEET)
    moved = FLEET.replace(
        "    cluster: us-1\n    ip: 10.20.0.11\n", "    cluster: ap-1\n    ip: 10.30.0.3\n"
    )
    assert moved != FLEET
    repo.config.write_text(moved)
    data = _assert_flag(repo, "moves", "analytics")
    assert _flags(data) == {"moves", "destroys"}
    # its policies and grant come with the new vcluster: not more access for an old one
    assert repo.diff("--fail-on", "moves").code == 1


def test_distro_change_flags_distro(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo").init(FLEET)
    repo.config.write_text(FLEET.replace("      distro: k3s ", "      distro: k8s "))
    data = _assert_flag(repo, "distro", "shop")
    assert repo.diff("--fail-on", "distro").code == 1
    assert any("k3s -> k8s" in r["reason"] for r in data["risk"])


# --- migration ----------------------------------------------------------------------


def _seed_like(root: Path) -> Repo:
    """The seed-like fixture without its hand edits (which tenants.yaml cannot
    express): a faithful migration is possible."""
    shutil.copytree(SEEDLIKE, root)
    (root / "tenant/tenant-alpha/workload/configmap.yaml").unlink()
    index = root / "tenant/tenant-alpha/workload/kustomization.yaml"
    index.write_text(index.read_text().replace("  - configmap.yaml\n", ""))
    deployment = root / "tenant/tenant-alpha/workload/nginx_deployment.yaml"
    deployment.write_text(deployment.read_text().replace("  replicas: 2\n", ""))
    return Repo(root).init()


def _migrate(repo: Repo, edit: str | None = None, wire: bool = True) -> None:
    """The README's migration: import, build, wire, prune the replaced files, commit."""
    run = invoke("import", str(repo.root), "-o", str(repo.config), cwd=repo.root)
    assert run.code == 0, run.err
    if edit is not None:
        repo.config.write_text(repo.config.read_text().replace(*edit.split(" -> ")))
    assert invoke("build", "-c", str(repo.config), cwd=repo.root).code == 0
    pruned = invoke("import", "--prune-replaced", "--apply", str(repo.root), cwd=repo.root)
    assert pruned.code == 0, pruned.err
    if wire:
        for index, line in (
            ("clusters/host-cluster/kustomization.yaml", "../../generated/clusters/host-cluster"),
            (
                "infrastructure/traefik/config/kustomization.yaml",
                "../../../generated/infrastructure/traefik/config",
            ),
        ):
            path = repo.root / index
            path.write_text(path.read_text().rstrip("\n").removesuffix(" []") + f"\n  - {line}\n")
        check = invoke("check", "-c", str(repo.config), cwd=repo.root)
        assert check.code == 0, check.out + check.err
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "migrate to gitopsgen")


def test_faithful_migration_is_no_change_to_the_cluster(tmp_path: Path) -> None:
    repo = _seed_like(tmp_path / "seed")
    _migrate(repo)
    for base in (("--base-ref", "HEAD~1"), ("--base-tree", "HEAD~1:.")):
        run = invoke("diff", "-c", str(repo.config), *base, "--exit-code", cwd=repo.root)
        assert run.code == 0, run.out + run.err
        assert "No change to the cluster" in run.out
        assert "Flux Kustomization(s) now take their path from ./generated/" in run.out
        assert "WARNING" not in run.out
    data = json.loads(
        invoke("diff", "-c", str(repo.config), "--base-ref", "HEAD~1", "--format", "json").out
    )
    assert data["mode"] == "migration" and data["changed"] is False
    assert [e.message for e in SCHEMA.iter_errors(data)] == []
    assert data["baseCommit"] == repo.git("rev-parse", "HEAD~1").strip()
    md = invoke("diff", "-c", str(repo.config), "--base-ref", "HEAD~1", "--format", "markdown")
    assert "**No change to the cluster" in md.out


def test_a_migration_flux_cannot_reach_is_a_warning(tmp_path: Path) -> None:
    repo = _seed_like(tmp_path / "seed")
    _migrate(repo, wire=False)
    run = invoke("diff", "-c", str(repo.config), "--base-ref", "HEAD~1", cwd=repo.root)
    first_note = run.out.splitlines()[1]
    assert first_note.startswith("note: WARNING: 2 wiring line(s) missing: Flux does not reach")
    assert "clusters/host-cluster/kustomization.yaml: " in first_note


def test_a_changed_object_in_the_migration_is_that_one_change(tmp_path: Path) -> None:
    repo = _seed_like(tmp_path / "seed")
    _migrate(repo, edit="shop.example.com -> store.example.com")
    run = invoke(
        "diff", "-c", str(repo.config), "--base-ref", "HEAD~1", "--format", "json", cwd=repo.root
    )
    data = json.loads(run.out)
    assert data["mode"] == "migration"
    assert data["summary"]["objects"] == {"added": 0, "removed": 0, "changed": 1}
    [tenant] = data["tenants"]
    [obj] = tenant["objects"]
    assert (tenant["name"], obj["kind"], obj["namespace"], obj["name"]) == (
        "beta",
        "HTTPRoute",
        "tenant-beta",
        "nginx",
    )
    assert [(f["path"], f["old"], f["new"]) for f in obj["fields"]] == [
        ("spec.hostnames[0]", "shop.example.com", "store.example.com")
    ]


def test_hand_made_file_left_next_to_the_generated_one_is_named(tmp_path: Path) -> None:
    repo = _seed_like(tmp_path / "seed")
    run = invoke("import", str(repo.root), "-o", str(repo.config), cwd=repo.root)
    assert run.code == 0
    assert invoke("build", "-c", str(repo.config), cwd=repo.root).code == 0
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "generated, old files kept")
    out = invoke("diff", "-c", str(repo.config), "--base-ref", "HEAD~1", cwd=repo.root).out
    assert re.search(
        r"note: clusters/vcluster-alpha/vcluster-alpha_helmrelease\.yaml: HelmRelease "
        r"vcluster-alpha/vcluster-alpha generated and also defined by hand here",
        out,
    )


def test_unreadable_yaml_in_the_base_tree_is_located_and_named(tmp_path: Path) -> None:
    repo = _seed_like(tmp_path / "seed")
    bad = repo.root / "infrastructure/monitoring/monitoring_helmrelease.yaml"
    bad.write_text(bad.read_text() + "---\nkind: x\nkind: y\n")
    template = repo.root / "charts/x/templates/cm.yaml"
    template.parent.mkdir(parents=True)
    template.write_text("{{- if .Values.enabled }}\nkind: ConfigMap\n{{- end }}\n")
    repo.git("add", "-A")
    repo.git("commit", "-qm", "a duplicate key, a chart template")
    # import skips the file with its located problem (it once crashed on the duplicate)
    imported = invoke("import", str(repo.root), "-o", str(tmp_path / "t.yaml"), cwd=repo.root)
    assert imported.code == 0, imported.err
    assert "monitoring_helmrelease.yaml: not valid YAML, skipped (" in imported.err
    assert 'found duplicate key "kind"' in imported.err
    _migrate(repo)
    run = invoke("diff", "-c", str(repo.config), "--base-ref", "HEAD~1", cwd=repo.root)
    assert run.code == 0, run.err
    line = len(bad.read_text().splitlines())  # the second 'kind' is the last line
    note = next(n for n in run.out.splitlines() if n.startswith("note: base: "))
    assert "2 YAML files not read (their objects are not compared)" in note
    assert f"infrastructure/monitoring/monitoring_helmrelease.yaml:{line}:1: " in note
    assert "duplicate key 'kind'" in note and "charts/x/templates/cm.yaml:1:" in note
    # the monitoring release is unreadable on both sides: not a difference
    assert "No change to the cluster" in run.out


# --- explicit inputs --------------------------------------------------------------


def test_explicit_base_options_and_the_resolved_commit(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo").init(SEED_TENANTS)
    commit = repo.git("rev-parse", "main").strip()
    repo.config.write_text(SEED_TENANTS.replace("172.18.0.214", "172.18.0.216"))
    data = json.loads(repo.diff("--format", "json").out)
    assert data["baseCommit"] == commit
    assert data["base"] == f"tenants.yaml at main ({commit[:10]})"
    # a file named like a branch is still the branch with --base-ref ...
    (repo.root / "main").write_text("not yaml: [")
    assert repo.diff().code == 0
    # ... and a path is never a revision with --base-file
    other = tmp_path / "old.yaml"
    other.write_text(SEED_TENANTS)
    run = invoke(
        "diff", "-c", str(repo.config), "--base-file", str(other), "--format", "json", cwd=repo.root
    )
    assert run.code == 0, run.err
    assert json.loads(run.out)["baseCommit"] is None
    missing = invoke("diff", "-c", str(repo.config), "--base-file", "main.yaml", cwd=repo.root)
    assert missing.code == 2 and "--base-file main.yaml: cannot read" in missing.err
    unknown = invoke("diff", "-c", str(repo.config), "--base-ref", "nope", cwd=repo.root)
    assert unknown.code == 2 and "--base-ref nope: not a commit" in unknown.err
    both = invoke(
        "diff",
        "-c",
        str(repo.config),
        "--base-ref",
        "main",
        "--base-file",
        str(other),
        cwd=repo.root,
    )
    assert both.code == 2 and "exclude each other" in both.err


# --- markdown that renders -----------------------------------------------------------


def test_mixed_change_markdown_renders_as_tables_and_blocks(tmp_path: Path) -> None:
    """One default, one tenant added, one removed, one address changed: the comment
    is read through a real markdown renderer (python-markdown, as GitHub renders
    GFM tables and fences)."""
    import html as html_lib
    from html.parser import HTMLParser

    import markdown

    repo = Repo(tmp_path / "repo").init(SEED_TENANTS)
    mixed = (
        SEED_TENANTS.replace("172.18.0.211", "172.18.0.215").split("  - name: c\n")[0]
        + "  - name: d\n    ip: 172.18.0.216\n"
        + "defaults:\n  workload:\n    image: nginx:1.28-alpine\n"
    )
    repo.config.write_text(mixed)
    md = repo.diff("--format", "markdown").out
    page = markdown.markdown(md, extensions=["tables", "fenced_code"])

    class Walk(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.headings: list[str] = []
            self.rows: list[list[str]] = []
            self.tables = 0
            self.stack: list[str] = []
            self.text = ""

        def handle_starttag(self, tag: str, attrs: list) -> None:  # type: ignore[type-arg]
            self.stack.append(tag)
            if tag == "table":
                self.tables += 1
            if tag == "tr":
                self.rows.append([])
            if tag in ("h3", "h4", "td", "th"):
                self.text = ""

        def handle_endtag(self, tag: str) -> None:
            self.stack.pop()
            if tag in ("h3", "h4"):
                self.headings.append(self.text.strip())
            if tag in ("td", "th"):
                self.rows[-1].append(self.text.strip())

        def handle_data(self, data: str) -> None:
            self.text += data

    walk = Walk()
    walk.feed(page)
    assert walk.headings[0] == "gitopsgen diff"
    assert [h.split(":")[0] for h in walk.headings[1:]] == [
        "⚠️ Risk",
        "What changed in tenants.yaml",
        "Changes, each distinct change once",
        "Per tenant",
    ]
    assert walk.tables == 3
    # every row has as many cells as its table's header: no pipe broke a table
    widths = {3, 5}
    assert all(len(row) in widths for row in walk.rows), walk.rows
    cause = {row[0]: row for row in walk.rows if row and row[0].startswith(("defaults", "tenants"))}
    assert cause["defaults.workload.image"][1:] == [
        "nginx:1.27-alpine → nginx:1.28-alpine",
        str(_line_of(mixed, "nginx:1.28-alpine")),
        "2",
        "2",
    ]
    assert cause["tenants[b].ip"][1] == "172.18.0.211 → 172.18.0.215"
    assert cause["tenants[d]"][1].startswith("added: ")
    assert cause["tenants[c]"][1].startswith("removed ")
    risks = [row for row in walk.rows if row[0] in ("destroys", "address")]
    assert {(r[0], r[1]) for r in risks} == {("destroys", "c"), ("address", "b")}
    assert page.count("<details>") == page.count("</details>") == 5
    assert html_lib.unescape(page).count('<code class="language-diff">') >= 5


# --- what counts as more access ---------------------------------------------------


def _policy(ingress: list, types: list | None = None) -> dict:  # type: ignore[type-arg]
    spec: dict = {"podSelector": {}, "policyTypes": types or ["Ingress"], "ingress": ingress}  # type: ignore[type-arg]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "p", "namespace": "vcluster-a"},
        "spec": spec,
    }


def _grant(to: list) -> dict:  # type: ignore[type-arg]
    return {
        "apiVersion": "gateway.networking.k8s.io/v1beta1",
        "kind": "ReferenceGrant",
        "metadata": {"name": "g", "namespace": "vcluster-a"},
        "spec": {
            "from": [
                {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "tenant-a"}
            ],
            "to": to,
        },
    }


def _flags_between(old: dict, new: dict | None) -> list[str]:  # type: ignore[type-arg]
    from gitopsgen.diff import compare_sides, side_from_outputs
    from gitopsgen.render.base import RenderedFile

    def side(doc: dict | None) -> object:  # type: ignore[type-arg]
        docs = () if doc is None else (doc,)
        return side_from_outputs("s", [RenderedFile("f.yaml", docs, "a", "vcluster-a")], ["a"])

    result = compare_sides(side(old), side(new))  # type: ignore[arg-type]
    return [r.flag for r in result.risks]


def test_network_policy_and_grant_widening() -> None:
    peer = {"from": [{"namespaceSelector": {"matchLabels": {"n": "traefik"}}}]}
    other = {"from": [{"namespaceSelector": {"matchLabels": {"n": "monitoring"}}}]}
    assert _flags_between(_policy([peer]), _policy([peer, other])) == ["access"]  # a rule more
    assert _flags_between(_policy([peer, other]), _policy([peer])) == []  # a rule less
    open_peer = {"from": [{"namespaceSelector": {}}]}
    assert _flags_between(_policy([peer]), _policy([open_peer])) == ["access"]  # broader
    assert _flags_between(_policy([]), None) == ["access"]  # an isolating policy removed
    assert _flags_between(_policy([peer]), _policy([peer])) == []
    named = [{"group": "", "kind": "Service", "name": "nginx"}]
    every = [{"group": "", "kind": "Service"}]
    assert _flags_between(_grant(named), _grant(every)) == ["access"]  # any Service now
    assert _flags_between(_grant(every), _grant(named)) == []  # narrowed


def test_base_tree_names_a_tree_elsewhere(tmp_path: Path) -> None:
    """--base-tree REF:PATH: the hand-made tree was a subdirectory (say, a copy of the
    old repository kept under old/); its Flux paths are relative to that tree."""
    seed = _seed_like(tmp_path / "seed")  # a faithful seed-like tree, for its files
    repo = Repo(tmp_path / "repo")
    shutil.copytree(seed.root, repo.root / "old", ignore=shutil.ignore_patterns(".git"))
    repo.init()
    run = invoke("import", str(repo.root / "old"), "-o", str(repo.config), cwd=repo.root)
    assert run.code == 0, run.err
    assert invoke("build", "-c", str(repo.config), cwd=repo.root).code == 0
    repo.git("rm", "-rq", "old")
    repo.git("add", "-A")
    repo.git("commit", "-qm", "generated")
    run = invoke("diff", "-c", str(repo.config), "--base-tree", "HEAD~1:old", cwd=repo.root)
    assert run.code == 0, run.err
    # the old tree's other objects (pool, Traefik, monitoring) are gone with old/
    data = json.loads(
        invoke(
            "diff",
            "-c",
            str(repo.config),
            "--base-tree",
            "HEAD~1:old",
            "--format",
            "json",
            cwd=repo.root,
        ).out
    )
    removed = {(o["kind"], o["name"]) for t in data["tenants"] for o in t["objects"]}
    assert removed == {
        ("IPAddressPool", "lb"),
        ("HelmRelease", "traefik"),
        ("HelmRelease", "monitoring"),
        ("Certificate", "traefik-tls"),
    }
    assert all(o["change"] == "removed" for t in data["tenants"] for o in t["objects"])
    generated = [t for t in data["tenants"] if t["name"] in ("alpha", "beta")]
    assert generated == []  # every tenant object is the same as in old/
    missing = invoke("diff", "-c", str(repo.config), "--base-tree", "HEAD~1:nope", cwd=repo.root)
    assert missing.code == 2 and "nope does not exist at HEAD~1" in missing.err
    bad = invoke("diff", "-c", str(repo.config), "--base-tree", "HEAD~1", cwd=repo.root)
    assert bad.code == 2 and "expected REF:PATH" in bad.err


def test_unnamed_list_items_are_keys_of_their_own(tmp_path: Path) -> None:
    """A route added to a tenant's routes (a list without names) is one key."""
    text = (REPO / "examples/workloads/tenants.yaml").read_text()
    repo = Repo(tmp_path / "repo").init(text)
    added = (
        "      - name: admin\n        service: api\n        port: 9090\n        paths: [/admin]\n"
    )
    changed = text.replace("        paths: [/api]\n", "        paths: [/api]\n" + added, 1)
    assert changed != text
    repo.config.write_text(changed)
    _, md, data = repo.formats()
    [cause] = data["inputs"]
    assert cause["key"] == "tenants[a].routes[2]" and cause["change"] == "added"
    assert cause["new"] == {"name": "admin", "service": "api", "port": 9090, "paths": ["/admin"]}
    assert cause["line"] == _line_of(changed, "- name: admin")
    assert "| `tenants[a].routes[2]` | added: " in md
    # a second route to a backend already routed to: no grant or policy widens
    assert _flags(data) == set()


SEED_TREE = Path(
    os.environ.get("GITOPSGEN_SEED_TREE", REPO.parent / "shared" / "reference" / "seed-tree")
)


@pytest.mark.skipif(
    not SEED_TREE.is_dir(),
    reason=f"seed reference tree not found at {SEED_TREE} (it lives outside the repository)",
)
def test_the_reference_seed_migrates_with_no_change_to_the_cluster(tmp_path: Path) -> None:
    """The real seed repository, migrated the README's way: every one of its objects
    is the same after the migration."""
    root = tmp_path / "seed"
    shutil.copytree(SEED_TREE, root, ignore=shutil.ignore_patterns(".git"))
    repo = Repo(root).init()
    _migrate(repo)
    run = invoke("diff", "-c", str(repo.config), "--base-ref", "HEAD~1", "--exit-code", cwd=root)
    assert run.code == 0, run.out + run.err
    found = re.search(r"No change to the cluster: the (\d+) objects are the same", run.out)
    assert found is not None, run.out
    assert int(found.group(1)) > 60  # the tenants' objects and the platform's own


def test_version_1_to_2_is_the_same_cluster(tmp_path: Path) -> None:
    """After `gitopsgen migrate`, the version 1 host is the version 2 cluster
    host-cluster: the namespaces stay (no destroys for them, no moves), and the cause
    lists what the file says, not every default version 2 adds."""
    repo = Repo(tmp_path / "repo").init(SEED_TENANTS)
    assert invoke("migrate", "-c", str(repo.config), cwd=repo.root).code == 0
    _, _, data = repo.formats()
    namespaces = [
        o
        for t in data["tenants"]
        for o in t["objects"]
        if o["kind"] == "Namespace" and o["change"] != "changed"
    ]
    assert namespaces == []
    assert "moves" not in _flags(data)
    destroyed = {
        (r["object"]["kind"], r["object"]["namespace"])
        for r in data["risk"]
        if r["flag"] == "destroys"
    }
    # the HelmRelease moves to the Flux namespace: the old object is pruned
    assert destroyed == {("HelmRelease", f"vcluster-{n}") for n in "abc"}
    keys = [c["key"] for c in data["inputs"]]
    assert keys[0] == "version" and "tenants[a].vcluster.distro" in keys
    assert not any(k.startswith("defaults.") for k in keys)  # defaults filled in, not written
