"""RepoFacts: the repository check from facts collected file by file (the documents
dropped after each tenant, as a streaming check does) finds exactly what it finds from
the whole plan, on repositories with hand-kept files that break every rule: objects
defined twice, hand-kept documents the generated tree replaces (met before and after
the generated copy), missing paths and resources, dangling dependsOn, Flux
Kustomizations of hand-kept files building generated directories in other namespaces
and clusters. The messages themselves are pinned by tests/test_repocheck.py."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from conftest import invoke
from gitopsgen.config import Project, load
from gitopsgen.plan import plan_project
from gitopsgen.render import RenderedFile
from gitopsgen.repocheck import RepoFacts, RepoFinding, check_repository

ROOT = Path(__file__).parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "seedrepo"
FLEET = ROOT / "examples" / "fleet"
HOST = "clusters/host-cluster/kustomization.yaml"
TRAEFIK = "infrastructure/traefik/config/kustomization.yaml"
INFRA = "clusters/host-cluster/infrastructure_kustomization.yaml"


def stream_facts(project: Project) -> RepoFacts:
    """Facts as a streaming check collects them: each tenant's files rendered, added,
    and let go."""
    from gitopsgen.platform import resolve
    from gitopsgen.render import Context, render_cluster_files, render_tenant_files

    platform = resolve(project.config, project.flux_root)
    ctx = Context(platform)
    facts = RepoFacts()
    for cluster in platform.clusters:
        for tenant in cluster.tenants:
            for out in render_tenant_files(ctx, cluster, tenant):
                facts.add(out.path, out)
        for out in render_cluster_files(ctx, cluster):
            facts.add(out.path, out)
    return facts


def both(repo: Path, kustomize: bool | None = True) -> list[RepoFinding]:
    """The findings from streamed facts, asserted equal to those from the plan."""
    project = load(repo / "tenants.yaml")
    from_plan = check_repository(project, plan_project(project), kustomize=kustomize)
    from_facts = check_repository(project, stream_facts(project), kustomize=kustomize)
    assert from_facts == from_plan
    return from_facts


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text().rstrip("\n") + f"\n{text}\n")


def _flux_ks(name: str, path: str, deps: tuple[str, ...] = (), extra: str = "") -> str:
    dep = "".join(f"    - name: {d}\n" for d in deps)
    return (
        "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n"
        f"  name: {name}\n  namespace: flux-system\nspec:\n"
        + (f"  dependsOn:\n{dep}" if deps else "")
        + "  interval: 2m\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n"
        f"  path: {path}\n  prune: true\n" + extra
    )


def _rules(findings: list[RepoFinding]) -> set[str]:
    return {f.rule for f in findings}


def test_facts_find_what_the_plan_finds_in_a_seed_like_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURE, repo)
    assert invoke("import", ".", cwd=repo).code == 0
    assert invoke("build", "-q", cwd=repo).code == 0
    _append(repo / HOST, "  - ../../generated/clusters/host-cluster")
    _append(repo / TRAEFIK, "  - ../../../generated/infrastructure/traefik/config")
    # The migration's replaced documents (met before and after the generated copy).
    found = both(repo)
    assert len(found) == 7 and _rules(found) == {"replaced"}
    assert _rules(both(repo, kustomize=None)) == {"replaced", "unverified"}

    assert invoke("import", "--prune-replaced", "--apply", ".", cwd=repo).code == 0
    assert both(repo) == []
    generated = sorted(
        p for p in (repo / "generated").rglob("*.yaml") if p.name != "kustomization.yaml"
    )
    (repo / "apps").mkdir()
    for i, path in enumerate(generated[:6]):  # copies, applied after the generated ones
        shutil.copy(path, repo / "apps" / f"copy{i}.yaml")
    shutil.copy(
        repo / "infrastructure/cilium/cilium_helmrelease.yaml",
        repo / "infrastructure/monitoring/cilium_helmrelease.yaml",
    )
    (repo / "infrastructure/metallb/kustomization.yaml").unlink()  # metallb-config twice
    with (repo / INFRA).open("a") as f:
        f.write(_flux_ks("apps", "./apps", ("cert-manager",)))
        f.write(_flux_ks("gone", "./not-there"))
        f.write(
            _flux_ks(
                "again",
                "./generated/tenant/tenant-beta/workload",
                extra="  targetNamespace: elsewhere\n",
            )
        )
        f.write(
            _flux_ks(
                "remote",
                "./generated/tenant/tenant-alpha",
                extra="  kubeConfig:\n    secretRef:\n      name: vc\n",
            )
        )
        f.write(_flux_ks("whole", "./generated", extra="  targetNamespace: all\n"))
    # A hand-kept kustomization nesting copies and a generated directory.
    inner = repo / "nest/inner"
    inner.mkdir(parents=True)
    beta = sorted((repo / "generated/tenant/tenant-beta").rglob("*.yaml"))
    copies = [p for p in beta if p.name != "kustomization.yaml"]
    for i, path in enumerate(copies):
        shutil.copy(path, inner / f"c{i}.yaml")
    listed = "".join(f"  - c{i}.yaml\n" for i in range(len(copies)))
    (inner / "kustomization.yaml").write_text(
        f"resources:\n{listed}  - ../../generated/tenant/tenant-beta\n"
    )
    (repo / "nest/kustomization.yaml").write_text(
        "namespace: nested\nresources:\n  - inner\n  - ../generated/tenant/tenant-beta\n"
    )
    with (repo / INFRA).open("a") as f:
        f.write(_flux_ks("nest", "./nest"))
    found = both(repo)
    assert _rules(found) == {"duplicate", "replaced", "path", "depends-on"}
    assert len(found) > 20
    saved = (repo / HOST).read_text()
    _append(repo / HOST, "  - flux-instance.yaml")  # a resource that does not exist
    assert _rules(both(repo)) == {"build"}
    (repo / HOST).write_text(saved)


def test_facts_find_what_the_plan_finds_at_a_version_2_hand_kept_entry_point(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "fleet"
    shutil.copytree(FLEET, repo)
    assert both(repo) == []
    config = (repo / "tenants.yaml").read_text()
    config = config.replace(
        "    weight: 2 ", "    entryPoint: clusters/eu-1/kustomization.yaml\n    weight: 2 ", 1
    )
    assert "entryPoint" in config
    (repo / "tenants.yaml").write_text(config)
    entry, generated = repo / "clusters/eu-1", repo / "generated/clusters/eu-1"
    (entry / "late").mkdir(parents=True)
    # A hand-kept copy of a shard's Flux Kustomization listed before the generated one
    # (so the generated one is the duplicate), pointing elsewhere.
    shard = (generated / "shard-s1_kustomization.yaml").read_text()
    (entry / "first-shard.yaml").write_text(shard.replace("shards/s1", "shards/s2"))
    shutil.copy(generated / "tenants/shop/tenant/namespace.yaml", entry / "early-ns.yaml")
    shutil.copy(generated / "helmrepository.yaml", entry / "after-helmrepo.yaml")
    shutil.copy(generated / "tenants/shop/workload/nginx_service.yaml", entry / "late/svc.yaml")
    shutil.copy(generated / "helmrepository.yaml", entry / "late/helmrepo.yaml")
    (entry / "late.yaml").write_text(
        _flux_ks("late", "./clusters/eu-1/late", ("nowhere",))
        + _flux_ks(
            "again",
            "./generated/clusters/eu-1/tenants/shop/tenant",
            extra="  targetNamespace: other\n",
        )
    )
    (entry / "kustomization.yaml").write_text(
        textwrap.dedent(
            """\
            apiVersion: kustomize.config.k8s.io/v1beta1
            kind: Kustomization
            resources:
              - first-shard.yaml
              - early-ns.yaml
              - ../../generated/clusters/eu-1
              - after-helmrepo.yaml
              - late.yaml
            """
        )
    )
    found = both(repo)
    assert _rules(found) == {"replaced", "depends-on"}
    assert {f.file.name for f in found if f.rule == "replaced"} == {
        "first-shard.yaml",
        "early-ns.yaml",
        "after-helmrepo.yaml",
        "helmrepo.yaml",
    }


def test_facts_hold_no_documents(tmp_path: Path) -> None:
    project = load(FLEET / "tenants.yaml")
    facts = stream_facts(project)
    assert len(facts) == len(plan_project(project))  # every path, and the manifest
    with pytest.raises(ValueError, match="hold no documents"):
        check_repository(project, facts, trace={})
    with pytest.raises(ValueError, match="lean plan"):
        RepoFacts.from_plan(plan_project(project, lean=True))
    with pytest.raises(ValueError, match="added twice"):
        facts.add("clusters/eu-1/kustomization.yaml", RenderedFile("x", ()))


def test_facts_as_a_plan_stream_sink(tmp_path: Path) -> None:
    """How a streaming check collects them: ``PlanStream(..., sinks=[facts.add])``."""
    from gitopsgen.plan import PlanStream
    from gitopsgen.platform import resolve

    project = load(FLEET / "tenants.yaml")
    facts = RepoFacts()
    stream = PlanStream(resolve(project.config, project.flux_root), sinks=[facts.add])
    for _ in stream:
        pass
    stream.finish()
    plan = plan_project(project)
    assert len(facts) == len(plan)
    assert check_repository(project, facts) == check_repository(project, plan) == []
