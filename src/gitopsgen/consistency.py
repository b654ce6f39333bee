"""Internal consistency of a plan: the generated tree must hold together on its own.

Checked in memory on every build and check, before anything is written:

- every Flux Kustomization ``dependsOn`` names a Flux Kustomization of the tree, or
  one declared external (``defaults.flux.external``, in the Flux namespace);
- every Flux Kustomization ``path`` is a directory of the tree;
- every HTTPRoute backend in another namespace is allowed by a ReferenceGrant;
- no two objects are the same object (cluster, API group, kind, namespace, name).

Each rule is one pass over the objects with dictionaries keyed by name, so the cost
grows linearly with the number of tenants. A failure is a misconfiguration of
tenants.yaml or a bug of gitopsgen, never drift: the CLI exits 2 and writes nothing.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from gitopsgen.errors import GitopsgenError, Problem
from gitopsgen.identity import ObjectId, identify
from gitopsgen.layout import TenantNames
from gitopsgen.model import LABEL_PATTERN, SUBDOMAIN_PATTERN
from gitopsgen.model import Flux as FluxDefaults

if TYPE_CHECKING:
    from gitopsgen.config import Project
    from gitopsgen.plan import Plan
    from gitopsgen.reader import Document

__all__ = [
    "ConsistencyError",
    "Inconsistency",
    "depends_on_problems",
    "find_inconsistencies",
    "verify",
]

FLUX_GROUP = "kustomize.toolkit.fluxcd.io"
_NAME = re.compile(SUBDOMAIN_PATTERN)  # invalid names are the schema's to report
_LABEL = re.compile(LABEL_PATTERN)
GATEWAY_GROUP = "gateway.networking.k8s.io"


@dataclass(frozen=True, order=True)
class Inconsistency:
    """One broken rule; ``path`` is the plan-relative file that breaks it."""

    path: str
    rule: str  # depends-on | path | reference-grant | duplicate
    message: str

    def format(self, prefix: str = "") -> str:
        where = posixpath.join(prefix, self.path) if prefix else self.path
        return f"{where}: {self.message}"


class ConsistencyError(GitopsgenError):
    """The planned tree contradicts itself; nothing was written."""

    exit_code = 2

    def __init__(self, problems: Iterable[Inconsistency], prefix: str = "") -> None:
        self.problems = sorted(problems)
        self.prefix = prefix
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        head = (
            f"gitopsgen: the generated tree is inconsistent ({len(self.problems)} problem(s)); "
            "nothing was written. This is a misconfiguration in tenants.yaml or a bug in "
            "gitopsgen:"
        )
        return [head, *(f"  {p.format(self.prefix)}" for p in self.problems)]


class _Obj(NamedTuple):
    path: str
    doc: dict[str, Any]
    id: ObjectId


def _objects(plan: Plan) -> Iterator[_Obj]:
    for path, planned in plan.files.items():
        out = planned.output
        for doc in out.docs:
            if isinstance(doc, dict):
                found = identify(doc, out.namespace, out.target)
                if found is not None:
                    yield _Obj(path, doc, found[0])


def _directories(plan: Plan) -> set[str]:
    dirs: set[str] = set()
    for path in plan.files:
        cut = path.rfind("/")
        while cut > 0:
            parent = path[:cut]
            if parent in dirs:
                break
            dirs.add(parent)
            cut = parent.rfind("/")
    return dirs


def _relative_to_root(path: str, flux_root: str) -> str | None:
    """The plan-relative directory a Flux ``path`` names, or None when outside the tree."""
    norm = posixpath.normpath(path)
    root = posixpath.normpath(flux_root)
    if norm == root:
        return ""
    if norm.startswith(root + "/"):
        return norm[len(root) + 1 :]
    return None


def find_inconsistencies(
    plan: Plan,
    *,
    flux_root: str,
    external: Iterable[str] = (),
    flux_namespace: str = "flux-system",
) -> list[Inconsistency]:
    """Every broken rule of ``plan`` (empty when the tree holds together).

    ``flux_root`` is the tree as Flux paths name it (``./generated``); ``external``
    are the names of Flux Kustomizations in ``flux_namespace`` that live outside it.
    """
    problems: list[Inconsistency] = []
    flux_objs: list[_Obj] = []
    grant_objs: list[_Obj] = []
    route_objs: list[_Obj] = []

    # No object twice; on the way, pick out what the other rules look at.
    seen: dict[ObjectId, _Obj] = {}
    for obj in _objects(plan):
        kind, group = obj.id.kind, obj.id.group
        if kind == "Kustomization" and group == FLUX_GROUP:
            flux_objs.append(obj)
        elif group == GATEWAY_GROUP:
            if kind == "ReferenceGrant":
                grant_objs.append(obj)
            elif kind == "HTTPRoute":
                route_objs.append(obj)
        first = seen.get(obj.id)
        if first is None:
            seen[obj.id] = obj
        else:
            where = "earlier in the same file" if first.path == obj.path else f"in {first.path}"
            problems.append(
                Inconsistency(
                    obj.path,
                    "duplicate",
                    f"{obj.id.display()} ({obj.doc.get('apiVersion')}) is defined twice: "
                    f"also {where}",
                )
            )

    defined = {(o.id.cluster, o.id.namespace, o.id.name) for o in flux_objs}
    # External Kustomizations are the platform's own, in every host cluster.
    outside = {(flux_namespace, name) for name in external}
    dirs = _directories(plan)

    for obj in flux_objs:
        spec = obj.doc.get("spec")
        if not isinstance(spec, dict):
            continue
        for dep in spec.get("dependsOn") or ():
            if not isinstance(dep, dict):
                continue
            name = str(dep.get("name", ""))
            ns = str(dep.get("namespace") or obj.id.namespace)
            if (obj.id.cluster, ns, name) in defined or (ns, name) in outside:
                continue
            hint = (
                f"add {name!r} to defaults.flux.external in tenants.yaml if it is a "
                "Flux Kustomization of the platform"
                if ns == flux_namespace
                else f"declared external names are in namespace {flux_namespace!r}"
            )
            problems.append(
                Inconsistency(
                    obj.path,
                    "depends-on",
                    f"Flux {obj.id.display()} depends on {ns}/{name}, which is neither "
                    f"generated nor declared external; {hint}",
                )
            )
        path = spec.get("path")
        source = spec.get("sourceRef")
        source_ns = (source.get("namespace") if isinstance(source, dict) else None) or (
            obj.id.namespace
        )
        # A tenant's own workload builds a path of the tenant's own source (in its
        # namespace), not of the generated tree.
        if isinstance(path, str) and source_ns == flux_namespace:
            rel = _relative_to_root(path, flux_root)
            if rel is None:
                problems.append(
                    Inconsistency(
                        obj.path,
                        "path",
                        f"Flux {obj.id.display()} has path {path!r}, outside the generated tree "
                        f"{flux_root!r}",
                    )
                )
            elif rel and rel not in dirs:
                problems.append(
                    Inconsistency(
                        obj.path,
                        "path",
                        f"Flux {obj.id.display()} has path {path!r}, which is not a directory of "
                        "the generated tree",
                    )
                )

    # Cross-namespace HTTPRoute backends need a ReferenceGrant in the backend's namespace.
    grants: set[tuple[str, str, str, str, str, str]] = set()
    for obj in grant_objs:
        spec = obj.doc.get("spec")
        if not isinstance(spec, dict):
            continue
        for frm in spec.get("from") or ():
            if not isinstance(frm, dict) or frm.get("kind") != "HTTPRoute":
                continue
            if frm.get("group") != GATEWAY_GROUP:
                continue
            for to in spec.get("to") or ():
                if not isinstance(to, dict):
                    continue
                grants.add(
                    (
                        obj.id.cluster,
                        obj.id.namespace,
                        str(frm.get("namespace", "")),
                        str(to.get("group", "")),
                        str(to.get("kind", "")),
                        str(to.get("name") or ""),
                    )
                )
    for obj in route_objs:
        spec = obj.doc.get("spec")
        rules = spec.get("rules") if isinstance(spec, dict) else None
        for rule in rules or ():
            refs = rule.get("backendRefs") if isinstance(rule, dict) else None
            for ref in refs or ():
                if not isinstance(ref, dict):
                    continue
                target_ns = ref.get("namespace")
                if not target_ns or target_ns == obj.id.namespace:
                    continue
                group, kind = str(ref.get("group", "")), str(ref.get("kind", "Service"))
                name = str(ref.get("name", ""))
                base = (obj.id.cluster, str(target_ns), obj.id.namespace, group, kind)
                if (*base, "") in grants or (*base, name) in grants:
                    continue
                problems.append(
                    Inconsistency(
                        obj.path,
                        "reference-grant",
                        f"{obj.id.display()} routes to {kind} {target_ns}/{name}, but no "
                        f"ReferenceGrant in namespace {target_ns} allows HTTPRoutes from namespace "
                        f"{obj.id.namespace} to reach it",
                    )
                )
    return sorted(problems)


def depends_on_problems(doc: Document) -> Iterator[Problem]:
    """The dependsOn rule on tenants.yaml itself, before anything is rendered, so that
    ``validate`` reports it: every name in ``defaults.flux`` ``vclusterDependsOn``,
    ``routesDependsOn`` and ``networkPoliciesDependsOn`` must be declared in
    ``defaults.flux.external`` or be a Flux Kustomization the tree generates."""
    from gitopsgen.layout import SeedLayout

    data = doc.data if isinstance(doc.data, dict) else {}
    if data.get("version") != 1:
        return  # version 2: per-cluster defaults and buckets; the tree's check covers it
    flux = (
        data.get("defaults", {}).get("flux", {}) if isinstance(data.get("defaults"), dict) else {}
    )
    if not isinstance(flux, dict):
        return
    fields = FluxDefaults.model_fields
    external = flux.get("external", fields["external"].get_default(call_default_factory=True))
    if not isinstance(external, list):
        return
    namespace = flux.get("namespace", "flux-system")
    if not isinstance(namespace, str) or not _LABEL.match(namespace):
        namespace = "the Flux namespace"
    generated = {SeedLayout.network_policies}
    tenants = data.get("tenants")
    for tenant in tenants if isinstance(tenants, list) else ():
        if isinstance(tenant, dict) and isinstance(tenant.get("name"), str):
            derived = TenantNames(tenant["name"])
            generated |= {derived.vcluster, derived.tenant}
    known = {e for e in external if isinstance(e, str)} | generated
    for key in ("vclusterDependsOn", "routesDependsOn", "networkPoliciesDependsOn"):
        names = flux.get(key)
        for index, name in enumerate(names if isinstance(names, list) else ()):
            if isinstance(name, str) and _NAME.match(name) and name not in known:
                yield doc.problem(
                    ("defaults", "flux", key, index),
                    f"{name!r} is neither a Flux Kustomization the tree generates nor "
                    f"declared external: the generated Kustomizations would wait for "
                    f"{namespace}/{name} forever; add {name!r} to defaults.flux.external if "
                    "it is a Flux Kustomization of the platform",
                )


def verify(plan: Plan, project: Project) -> None:
    """Raise :class:`ConsistencyError` when the plan of ``project`` breaks a rule."""
    flux = project.config.defaults.flux
    problems = find_inconsistencies(
        plan, flux_root=project.flux_root, external=flux.external, flux_namespace=flux.namespace
    )
    if problems:
        raise ConsistencyError(problems, str(project.output_dir))
