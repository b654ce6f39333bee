"""The generated tree holds together: each rule of gitopsgen.consistency, broken by
corrupting a plan in memory, and the CLI's answer when tenants.yaml breaks one."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from conftest import SEED_TENANTS, invoke
from gitopsgen.config import parse
from gitopsgen.consistency import (
    ConsistencyError,
    Inconsistency,
    Verifier,
    find_inconsistencies,
)
from gitopsgen.plan import Plan, PlannedFile, make_plan
from support.golden import CASES, valid_cases

EXTERNAL = ("cilium", "metallb", "metallb-config", "gateway-api", "traefik")


def _plan(text: str = SEED_TENANTS) -> Plan:
    config, _ = parse(text)
    return make_plan(config, "./generated")


def _check(plan: Plan, external: tuple[str, ...] = EXTERNAL) -> list[Inconsistency]:
    found = find_inconsistencies(plan, flux_root="./generated", external=external)
    # Settled after every file, as a streamed plan does after every tenant: the same
    # verdict (Verifier.settle forgets only facts already satisfied).
    settled = Verifier(flux_root="./generated", external=external)
    for path, planned in plan.files.items():
        settled.add(path, planned.output)
        settled.settle()
    assert settled.finish(plan.files) == found
    # Directories found by bisection in the sorted paths (as a streamed plan does).
    ordered = Verifier(flux_root="./generated", external=external)
    for path, planned in plan.files.items():
        ordered.add(path, planned.output)
    assert ordered.finish(plan.files, sorted(plan.files)) == found
    return found


def _edit(plan: Plan, path: str, change: Callable[[list[dict[str, Any]]], None]) -> Plan:
    """A copy of ``plan`` whose file ``path`` holds the documents ``change`` made."""
    planned = plan[path]
    docs = copy.deepcopy(list(planned.output.docs))
    change(docs)
    files = dict(plan.files)
    files[path] = PlannedFile(replace(planned.output, docs=tuple(docs)), planned.data)
    return Plan(files)


VCLUSTER_A = "clusters/host-cluster/vcluster-a_kustomization.yaml"
TENANT_A = "clusters/host-cluster/tenant-a_kustomization.yaml"
GRANTS = "infrastructure/traefik/config/referencegrant.yaml"
ROUTE_B = "tenant/tenant-b/routes/nginx_httproute.yaml"


@pytest.mark.parametrize("case", valid_cases())
def test_every_golden_case_is_consistent(case: str) -> None:
    config, _ = parse((CASES / case / "tenants.yaml").read_bytes())
    plan = make_plan(config, "./generated")
    flux = config.defaults.flux
    assert (
        find_inconsistencies(
            plan, flux_root="./generated", external=flux.external, flux_namespace=flux.namespace
        )
        == []
    )


def test_depends_on_a_kustomization_nobody_defines() -> None:
    def change(docs: list[dict[str, Any]]) -> None:
        docs[0]["spec"]["dependsOn"].append({"name": "cert-manager"})

    problems = _check(_edit(_plan(), VCLUSTER_A, change))
    assert problems == [
        Inconsistency(
            VCLUSTER_A,
            "depends-on",
            "Flux Kustomization flux-system/vcluster-a depends on flux-system/cert-manager, "
            "which is neither generated nor declared external; add 'cert-manager' to "
            "defaults.flux.external in tenants.yaml if it is a Flux Kustomization of the "
            "platform",
        )
    ]
    # Declared external, it is fine.
    assert _check(_edit(_plan(), VCLUSTER_A, change), (*EXTERNAL, "cert-manager")) == []


def test_depends_on_a_generated_kustomization_that_is_gone() -> None:
    plan = _plan()
    files = {k: v for k, v in plan.files.items() if k != VCLUSTER_A}
    problems = _check(Plan(files))
    # tenant-a and network-policies wait for vcluster-a.
    assert [(p.path, p.rule) for p in problems] == [
        ("clusters/host-cluster/network-policies_kustomization.yaml", "depends-on"),
        (TENANT_A, "depends-on"),
    ]
    assert "depends on flux-system/vcluster-a, which is neither generated" in problems[1].message


def test_depends_on_in_another_namespace() -> None:
    path = "tenant/tenant-a/routes_kustomization.yaml"

    def change(docs: list[dict[str, Any]]) -> None:
        docs[0]["spec"]["dependsOn"][0]["namespace"] = "vcluster-b"
        docs[0]["spec"]["dependsOn"][0]["name"] = "nope"

    problems = _check(_edit(_plan(), path, change))
    assert len(problems) == 1
    assert problems[0].message.startswith(
        "Flux Kustomization tenant-a/routes depends on vcluster-b/nope, which is neither "
        "generated nor declared external; declared external names are in namespace "
        "'flux-system'"
    )


def test_flux_path_not_in_the_tree() -> None:
    def missing(docs: list[dict[str, Any]]) -> None:
        docs[0]["spec"]["path"] = "./generated/tenant/tenant-x"

    def outside(docs: list[dict[str, Any]]) -> None:
        docs[0]["spec"]["path"] = "./platform/tenant-a"

    assert _check(_edit(_plan(), TENANT_A, missing)) == [
        Inconsistency(
            TENANT_A,
            "path",
            "Flux Kustomization flux-system/tenant-a has path './generated/tenant/tenant-x', "
            "which is not a directory of the generated tree",
        )
    ]
    assert _check(_edit(_plan(), TENANT_A, outside)) == [
        Inconsistency(
            TENANT_A,
            "path",
            "Flux Kustomization flux-system/tenant-a has path './platform/tenant-a', outside "
            "the generated tree './generated'",
        )
    ]


def test_flux_path_relative_to_another_root() -> None:
    config, _ = parse(SEED_TENANTS)
    plan = make_plan(config, "./deploy/generated")
    assert find_inconsistencies(plan, flux_root="./deploy/generated", external=EXTERNAL) == []
    # The same plan judged against the wrong root: every path is outside.
    wrong = find_inconsistencies(plan, flux_root="./generated", external=EXTERNAL)
    assert wrong
    assert {p.rule for p in wrong} == {"path"}


def test_cross_namespace_backend_without_reference_grant() -> None:
    def drop_b(docs: list[dict[str, Any]]) -> None:
        del docs[1]  # allow-tenant-b-to-vcluster-b

    expected = Inconsistency(
        ROUTE_B,
        "reference-grant",
        "HTTPRoute tenant-b/nginx routes to Service vcluster-b/nginx-x-default-x-vcluster-b, "
        "but no ReferenceGrant in namespace vcluster-b allows HTTPRoutes from namespace "
        "tenant-b to reach it",
    )
    assert _check(_edit(_plan(), GRANTS, drop_b)) == [expected]

    def wrong_from(docs: list[dict[str, Any]]) -> None:
        docs[1]["spec"]["from"][0]["namespace"] = "tenant-a"

    assert _check(_edit(_plan(), GRANTS, wrong_from)) == [expected]

    def other_name(docs: list[dict[str, Any]]) -> None:
        docs[1]["spec"]["to"][0]["name"] = "something-else"

    assert _check(_edit(_plan(), GRANTS, other_name)) == [expected]

    def exact_name(docs: list[dict[str, Any]]) -> None:
        docs[1]["spec"]["to"][0]["name"] = "nginx-x-default-x-vcluster-b"

    assert _check(_edit(_plan(), GRANTS, exact_name)) == []


def test_same_namespace_backend_needs_no_grant() -> None:
    def same_ns(docs: list[dict[str, Any]]) -> None:
        docs[0]["spec"]["rules"][0]["backendRefs"][0]["namespace"] = "tenant-b"

    def drop_b(docs: list[dict[str, Any]]) -> None:
        del docs[1]

    plan = _edit(_edit(_plan(), ROUTE_B, same_ns), GRANTS, drop_b)
    assert _check(plan) == []


def test_duplicate_objects() -> None:
    def twice(docs: list[dict[str, Any]]) -> None:
        docs.append(copy.deepcopy(docs[0]))

    problems = _check(_edit(_plan(), "tenant/tenant-a/tenant-a_namespace.yaml", twice))
    assert problems == [
        Inconsistency(
            "tenant/tenant-a/tenant-a_namespace.yaml",
            "duplicate",
            "Namespace tenant-a (v1) is defined twice: also earlier in the same file",
        )
    ]

    # The same Flux Kustomization in two files; a different apiVersion of the same
    # group is still the same object.
    def same_as_tenant_a(docs: list[dict[str, Any]]) -> None:
        docs[0]["metadata"]["name"] = "tenant-a"
        docs[0]["apiVersion"] = "kustomize.toolkit.fluxcd.io/v1beta2"

    problems = _check(_edit(_plan(), VCLUSTER_A, same_as_tenant_a))
    dupes = [p for p in problems if p.rule == "duplicate"]
    assert dupes == [
        Inconsistency(
            VCLUSTER_A,
            "duplicate",
            "Kustomization flux-system/tenant-a (kustomize.toolkit.fluxcd.io/v1beta2) is "
            f"defined twice: also in {TENANT_A}",
        )
    ]


def test_same_name_in_different_clusters_or_namespaces_is_not_a_duplicate() -> None:
    # Every vcluster has its own Deployment default/nginx; each tenant namespace its
    # own HTTPRoute nginx. The clean plan has no duplicates.
    plan = _plan()
    deployments = [
        p for p, f in plan.items() if f.output.docs and f.output.docs[0].get("kind") == "Deployment"
    ]
    assert len(deployments) == 3
    assert _check(plan) == []


def test_consistency_error_lines() -> None:
    problem = Inconsistency(TENANT_A, "path", "broken")
    exc = ConsistencyError([problem], "generated")
    assert exc.exit_code == 2
    assert exc.lines() == [
        "gitopsgen: the generated tree is inconsistent (1 problem(s)); nothing was written. "
        "This is a misconfiguration in tenants.yaml or a bug in gitopsgen:",
        f"  generated/{TENANT_A}: broken",
    ]


def test_build_refuses_an_undeclared_dependency(project: Callable[[str], Path]) -> None:
    """Issue 12 item 8: this passed `validate` and failed only `build`/`check`; the rule
    needs no tree, so tenants.yaml itself is refused, at the entry, by every command."""
    text = SEED_TENANTS + "defaults:\n  flux:\n    vclusterDependsOn: [metallb, cert-manager]\n"
    cfg = project(text)
    line = len(SEED_TENANTS.splitlines()) + 3
    expected = (
        f"tenants.yaml:{line}:34: defaults.flux.vclusterDependsOn[1]: 'cert-manager' is "
        "neither a Flux Kustomization the tree generates nor declared external: the "
        "generated Kustomizations would wait for flux-system/cert-manager forever; add "
        "'cert-manager' to defaults.flux.external if it is a Flux Kustomization of the "
        "platform\n"
    )
    res = invoke("build", "-c", "tenants.yaml", cwd=cfg.parent)
    assert res.code == 2
    assert res.out == ""
    assert res.err == expected
    assert not (cfg.parent / "generated").exists()
    for command in ("check", "validate"):
        checked = invoke(command, "-c", "tenants.yaml", cwd=cfg.parent)
        assert checked.code == 2
        assert checked.err == expected
    # Declaring it external fixes it.
    cfg.write_text(text + "    external: [cilium, metallb, gateway-api, cert-manager]\n")
    res = invoke("build", "-q", "-c", "tenants.yaml", cwd=cfg.parent)
    assert res.code == 0, res.err
