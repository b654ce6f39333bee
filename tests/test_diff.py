"""gitopsgen diff against real git repositories built in temporary directories.

Each test makes a repository with a ``main`` branch holding the seed tenants.yaml
and a ``feature`` branch, edits tenants.yaml and runs the command in-process.
No network, no global git configuration.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import GIT_ENV, REPO, SEED_TENANTS, invoke
from gitopsgen.diff import side_from_config


class Repo:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = root / "tenants.yaml"

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

    def write(self, text: str) -> None:
        self.config.write_text(text)

    def commit(self, message: str) -> None:
        self.git("add", "tenants.yaml")
        self.git("commit", "-q", "-m", message)

    def diff(self, *args: str):  # type: ignore[no-untyped-def]
        return invoke("diff", "-c", str(self.config), *args, cwd=self.root)

    def json(self, *args: str) -> dict:  # type: ignore[type-arg]
        run = self.diff("--format", "json", *args)
        assert run.code == 0, run.err
        return json.loads(run.out)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """main: the seed tenants.yaml, committed; checked out: branch feature."""
    r = Repo(tmp_path / "repo")
    r.root.mkdir()
    r.git("init", "-q", "-b", "main")
    r.write(SEED_TENANTS)
    r.commit("seed tenants")
    r.git("checkout", "-q", "-b", "feature")
    return r


def _tenant(data: dict, name: str | None) -> dict:  # type: ignore[type-arg]
    found = [t for t in data["tenants"] if t["name"] == name]
    assert len(found) == 1, [t["name"] for t in data["tenants"]]
    return found[0]


ADD_D = SEED_TENANTS + "  - name: d\n    ip: 172.18.0.215\n"


def _seed_objects(tenant: str) -> set[tuple[str, str, str, str]]:
    from gitopsgen.config import parse

    config, _ = parse(SEED_TENANTS)
    side = side_from_config("seed", config)
    return {
        (o.id.cluster, o.id.kind, o.id.namespace, o.id.name)
        for o in side.objects.values()
        if o.tenant == tenant
    }


def test_add_a_tenant(repo: Repo) -> None:
    repo.write(ADD_D)
    data = repo.json()
    assert data["changed"] is True
    sections = [(t["name"], t["change"]) for t in data["tenants"]]
    assert sections == [("d", "added"), (None, "changed")]
    d = _tenant(data, "d")
    kinds = {(o["kind"], o["namespace"], o["name"], o["cluster"]) for o in d["objects"]}
    assert ("Namespace", None, "vcluster-d", "host") in kinds
    assert ("HelmRelease", "vcluster-d", "vcluster-d", "host") in kinds
    assert ("Deployment", "default", "nginx", "vcluster-d") in kinds
    assert all(o["change"] == "added" and o["new"]["kind"] == o["kind"] for o in d["objects"])
    assert d["summary"] == f"+ tenant d ({len(d['objects'])} objects)"
    # The shared Flux Kustomization of the network policies now waits for vcluster-d.
    shared = _tenant(data, None)
    netpol = next(o for o in shared["objects"] if o["name"] == "network-policies")
    assert netpol["fields"] == [
        {
            "path": "spec.dependsOn[name=vcluster-d]",
            "segments": ["spec", "dependsOn", {"name": "vcluster-d"}],
            "change": "added",
            "new": {"name": "vcluster-d"},
        }
    ]
    text = repo.diff()
    assert text.code == 0
    assert f"+ tenant d ({len(d['objects'])} objects)" in text.out
    assert "\x1b[" not in text.out  # not a terminal: no colour


def test_remove_a_tenant_lists_everything_flux_prunes(repo: Repo) -> None:
    repo.write(SEED_TENANTS.split("  - name: c\n")[0])
    data = repo.json()
    c = _tenant(data, "c")
    assert c["change"] == "removed"
    removed = {(o["cluster"], o["kind"], o["namespace"] or "", o["name"]) for o in c["objects"]}
    assert removed == _seed_objects("c")
    assert len(removed) >= 15
    assert all(o["change"] == "removed" and "old" in o for o in c["objects"])
    text = repo.diff()
    assert f"- tenant c ({len(removed)} objects, pruned by Flux)" in text.out
    assert "- Deployment default/nginx (in vcluster-c)" in text.out
    # The tenant's grant lives in the shared referencegrant.yaml, yet is the tenant's.
    assert ("host", "ReferenceGrant", "vcluster-c", "allow-tenant-c-to-vcluster-c") in removed
    shared = [t for t in data["tenants"] if t["name"] is None]
    assert all(o["kind"] != "ReferenceGrant" for t in shared for o in t["objects"])
    # Deletions stay listed even in the smallest markdown.
    md = repo.diff("--format", "markdown")
    assert "pruned by Flux" in md.out
    assert "Deployment default/nginx (in vcluster-c)" in md.out


def test_change_an_ip(repo: Repo) -> None:
    repo.write(SEED_TENANTS.replace("172.18.0.211", "172.18.0.215"))
    data = repo.json()
    assert [t["name"] for t in data["tenants"]] == ["b"]
    b = data["tenants"][0]
    assert b["attributes"] == [{"name": "ip", "old": "172.18.0.211", "new": "172.18.0.215"}]
    assert [(o["kind"], o["change"]) for o in b["objects"]] == [("HelmRelease", "changed")]
    fields = {f["path"]: (f["old"], f["new"]) for f in b["objects"][0]["fields"]}
    assert fields["spec.values.external.platform.apiServerHost"] == (
        "172.18.0.211",
        "172.18.0.215",
    )
    annotation = (
        'spec.values.controlPlane.service.annotations["metallb.universe.tf/loadBalancerIPs"]'
    )
    assert fields[annotation] == ("172.18.0.211", "172.18.0.215")
    assert b["summary"].startswith("~ tenant b: ip 172.18.0.211 -> 172.18.0.215 (1 object, ")
    text = repo.diff()
    assert "spec.values.external.platform.apiServerHost: 172.18.0.211 -> 172.18.0.215" in text.out


def test_change_a_default_touches_every_tenant(repo: Repo) -> None:
    repo.write(SEED_TENANTS + "defaults:\n  workload:\n    image: nginx:1.28-alpine\n")
    data = repo.json()
    assert [t["name"] for t in data["tenants"]] == ["a", "b", "c"]
    path = "spec.template.spec.containers[name=nginx].image"
    for t in data["tenants"]:
        assert t["attributes"] == []
        [obj] = t["objects"]
        assert (obj["kind"], obj["cluster"]) == ("Deployment", f"vcluster-{t['name']}")
        assert obj["fields"] == [
            {
                "path": path,
                "segments": ["spec", "template", "spec", "containers", {"name": "nginx"}, "image"],
                "change": "changed",
                "old": "nginx:1.27-alpine",
                "new": "nginx:1.28-alpine",
            }
        ]
    assert data["summary"] == {
        "tenants": {"added": 0, "removed": 0, "changed": 3},
        "objects": {"added": 0, "removed": 0, "changed": 3},
        "fields": 3,
    }


def test_reordering_tenants_is_no_change(repo: Repo) -> None:
    head, _, rest = SEED_TENANTS.partition("  - name: a\n")
    a_block, _, others = ("  - name: a\n" + rest).partition("  - name: b\n")
    repo.write(head + "  - name: b\n" + others + a_block)
    assert repo.config.read_text() != SEED_TENANTS
    run = repo.diff("--exit-code")
    assert run.code == 0, run.out + run.err
    assert "No changes to the generated objects." in run.out
    assert repo.json()["tenants"] == []


def test_comment_only_change_is_no_change(repo: Repo) -> None:
    commented = SEED_TENANTS.replace("ip: 172.18.0.210", "ip: 172.18.0.210  # a's address")
    repo.write("# a new comment\n" + commented)
    assert repo.diff("--exit-code").code == 0
    data = repo.json()
    assert data["changed"] is False
    assert data["summary"]["objects"] == {"added": 0, "removed": 0, "changed": 0}


def test_invalid_base_says_which_side(repo: Repo) -> None:
    repo.git("checkout", "-q", "main")
    repo.write(SEED_TENANTS.replace("version: 1\n", "version: 1\ncolour: blue\n"))
    repo.commit("broken")
    repo.git("checkout", "-q", "feature")
    run = repo.diff("--base", "main")
    assert run.code == 2
    assert re.search(r"^base \(main:tenants\.yaml\): tenants\.yaml:2:1: .*'colour'", run.err, re.M)
    # the default base is the merge base, which is still valid
    assert repo.diff("--exit-code").code == 0


def test_invalid_working_tree_says_which_side(repo: Repo) -> None:
    repo.write(SEED_TENANTS.replace("172.18.0.211", "172.18.0.210"))
    run = repo.diff()
    assert run.code == 2
    assert "working tree (" in run.err
    assert "172.18.0.210 is already used by tenant a" in run.err


def test_exit_codes(repo: Repo) -> None:
    assert repo.diff("--exit-code").code == 0
    repo.write(ADD_D)
    assert repo.diff().code == 0
    assert repo.diff("--exit-code").code == 1
    assert repo.diff("--exit-code", "--format", "json").code == 1
    assert repo.diff("--base", "no-such-branch").code == 2


def test_default_base_is_the_merge_base(repo: Repo) -> None:
    # main moves on after feature branched: adds tenant e.
    repo.git("checkout", "-q", "main")
    repo.write(SEED_TENANTS + "  - name: e\n    ip: 172.18.0.216\n")
    repo.commit("add e on main")
    repo.git("checkout", "-q", "feature")
    repo.write(SEED_TENANTS.replace("172.18.0.214", "172.18.0.217"))
    data = repo.json()
    assert [t["name"] for t in data["tenants"]] == ["c"]  # e is not main's change to undo
    assert re.match(r"tenants\.yaml at [0-9a-f]{10} \(merge base of HEAD and main\)", data["base"])
    against_main = repo.json("--base", "main")
    assert {(t["name"], t["change"]) for t in against_main["tenants"]} >= {
        ("e", "removed"),
        ("c", "changed"),
    }


def test_no_default_branch_is_a_clear_error(tmp_path: Path) -> None:
    r = Repo(tmp_path / "trunk")
    r.root.mkdir()
    r.git("init", "-q", "-b", "trunk")
    r.write(SEED_TENANTS)
    r.commit("seed")
    run = r.diff()
    assert run.code == 2
    assert "no default branch" in run.err and "--base" in run.err
    outside = tmp_path / "plain"
    outside.mkdir()
    (outside / "tenants.yaml").write_text(SEED_TENANTS)
    run = invoke("diff", "-c", str(outside / "tenants.yaml"), cwd=outside)
    if subprocess.run(["git", "rev-parse"], cwd=outside, capture_output=True).returncode:
        assert run.code == 2
        assert "not inside a git work tree" in run.err


def test_file_missing_at_base_means_everything_added(repo: Repo) -> None:
    repo.git("rm", "-q", "tenants.yaml")
    repo.git("commit", "-q", "-m", "no tenants yet")
    repo.write(SEED_TENANTS)
    data = repo.json("--base", "HEAD")
    assert {t["change"] for t in data["tenants"]} == {"added", "changed"}
    assert data["summary"]["tenants"]["added"] == 3
    assert data["summary"]["objects"]["removed"] == 0
    assert any("does not exist at HEAD" in n for n in data["notes"])


def test_base_may_be_another_file(repo: Repo, tmp_path: Path) -> None:
    other = tmp_path / "old-tenants.yaml"
    other.write_text(SEED_TENANTS.replace("172.18.0.214", "172.18.0.216"))
    data = repo.json("--base", str(other))
    assert [t["name"] for t in data["tenants"]] == ["c"]
    assert data["tenants"][0]["attributes"][0]["old"] == "172.18.0.216"
    other.write_text("version: 1\npool: []\n")
    run = repo.diff("--base", str(other))
    assert run.code == 2
    assert run.err.startswith(f"base ({other}): {other}:")


def test_against_disk_details_check(repo: Repo) -> None:
    assert invoke("build", "-c", str(repo.config)).code == 0
    assert repo.diff("--against-disk", "--exit-code").code == 0
    route = repo.root / "generated/tenant/tenant-a/routes/nginx_httproute.yaml"
    route.write_text(route.read_text().replace("tenant-a.traefik.local", "evil.example"))
    repo.write(SEED_TENANTS.split("  - name: c\n")[0])  # c removed, not yet built
    data = repo.json("--against-disk")
    a = _tenant(data, "a")
    [obj] = a["objects"]
    assert obj["kind"] == "HTTPRoute"
    assert obj["fields"][0]["old"] == "evil.example"
    assert obj["fields"][0]["new"] == "tenant-a.traefik.local"
    c = _tenant(data, "c")
    assert c["change"] == "removed"
    removed = {(o["cluster"], o["kind"], o["namespace"] or "", o["name"]) for o in c["objects"]}
    assert removed == _seed_objects("c")
    assert repo.diff("--against-disk", "--exit-code").code == 1
    assert repo.diff("--against-disk", "--base", "main").code == 2


def test_json_validates_against_the_schema(repo: Repo) -> None:
    import jsonschema

    schema = json.loads((REPO / "schema/diff.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    assert not list(validator.iter_errors(repo.json()))  # no change
    text = ADD_D.split("  - name: c\n")[0].replace("172.18.0.211", "172.18.0.212")
    text = text.replace("grafana: 172.18.0.212", "grafana: 172.18.0.218")
    repo.write(text + "  - name: d\n    ip: 172.18.0.215\ndefaults:\n  flux:\n    interval: 5m\n")
    data = repo.json()
    assert {t["change"] for t in data["tenants"]} == {"added", "removed", "changed"}
    errors = [e.message for e in validator.iter_errors(data)]
    assert errors == []
    # the schema really constrains: a broken document fails
    data["tenants"][0]["objects"][0]["change"] = "moved"
    assert list(validator.iter_errors(data))
