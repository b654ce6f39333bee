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

import bisect
import posixpath
import re
from collections.abc import Container, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gitopsgen.errors import GitopsgenError, Problem
from gitopsgen.identity import ObjectId, identify
from gitopsgen.layout import TenantNames
from gitopsgen.model import LABEL_PATTERN, SUBDOMAIN_PATTERN
from gitopsgen.model import Flux as FluxDefaults

if TYPE_CHECKING:
    from gitopsgen.config import Project
    from gitopsgen.plan import Plan
    from gitopsgen.reader import Document
    from gitopsgen.render import RenderedFile

__all__ = [
    "ConsistencyError",
    "Inconsistency",
    "Verifier",
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


def _directories(paths: Iterable[str]) -> set[str]:
    dirs: set[str] = set()
    for path in paths:
        cut = path.rfind("/")
        while cut > 0:
            parent = path[:cut]
            if parent in dirs:
                break
            dirs.add(parent)
            cut = parent.rfind("/")
    return dirs


class _Directories:
    """``rel in dirs``: whether a path of ``ordered`` (sorted) lies below ``rel``."""

    def __init__(self, ordered: Sequence[str]) -> None:
        self.ordered = ordered

    def __contains__(self, rel: object) -> bool:
        if not isinstance(rel, str):
            return False
        prefix = rel + "/"
        at = bisect.bisect_left(self.ordered, prefix)
        return at < len(self.ordered) and self.ordered[at].startswith(prefix)


def _relative_to_root(path: str, flux_root: str) -> str | None:
    """The plan-relative directory a Flux ``path`` names, or None when outside the tree."""
    norm = posixpath.normpath(path)
    root = posixpath.normpath(flux_root)
    if norm == root:
        return ""
    if norm.startswith(root + "/"):
        return norm[len(root) + 1 :]
    return None


class Verifier:
    """The rules of :func:`find_inconsistencies`, fed one file at a time.

    What it keeps between files is compact (no documents): a 64-bit hash and the
    path of every object identity seen (two equal identities always collide, so no
    duplicate is missed; two different ones collide with odds of about 1 in 10^8
    at a million objects, reported as a duplicate: a build refused, never a broken
    tree written), the Flux Kustomizations defined, and the dependsOn, path,
    grant and route facts the other rules compare at :meth:`finish`. So a plan can
    be verified while it is made, tenant by tenant, and its documents dropped.
    """

    def __init__(
        self, *, flux_root: str, external: Iterable[str] = (), flux_namespace: str = "flux-system"
    ) -> None:
        self.flux_root = flux_root
        self.flux_namespace = flux_namespace
        self.outside = {(flux_namespace, name) for name in external}
        self.problems: list[Inconsistency] = []
        self._seen: dict[int, str] = {}
        self._defined: set[tuple[str, str | None, str]] = set()
        # (path, display, cluster, namespace of the dependency, its name)
        self._depends: list[tuple[str, str, str, str, str]] = []
        self._paths: list[tuple[str, str, str]] = []  # (file, display, Flux path)
        self._grants: set[tuple[str, str | None, str, str, str, str]] = set()
        # (file, display, cluster, target namespace, route namespace, group, kind, name)
        self._routes: list[tuple[str, str, str, str, str | None, str, str, str]] = []
        self._settled_depends = 0  # facts before these indexes were settled
        self._settled_routes = 0

    def add(self, path: str, out: RenderedFile) -> None:
        for doc in out.docs:
            if not isinstance(doc, dict):
                continue
            found = identify(doc, out.namespace, out.target)
            if found is not None:
                self._add(path, doc, found[0])

    def _add(self, path: str, doc: dict[str, Any], oid: ObjectId) -> None:
        kind, group = oid.kind, oid.group
        key = hash(oid)
        first = self._seen.get(key)
        if first is None:
            self._seen[key] = path
        else:
            where = "earlier in the same file" if first == path else f"in {first}"
            self.problems.append(
                Inconsistency(
                    path,
                    "duplicate",
                    f"{oid.display()} ({doc.get('apiVersion')}) is defined twice: also {where}",
                )
            )
        spec = doc.get("spec")
        if kind == "Kustomization" and group == FLUX_GROUP:
            self._defined.add((oid.cluster, oid.namespace, oid.name))
            if not isinstance(spec, dict):
                return
            shown = oid.display()
            for dep in spec.get("dependsOn") or ():
                if isinstance(dep, dict):
                    ns = str(dep.get("namespace") or oid.namespace)
                    self._depends.append((path, shown, oid.cluster, ns, str(dep.get("name", ""))))
            flux_path = spec.get("path")
            source = spec.get("sourceRef")
            source_ns = (source.get("namespace") if isinstance(source, dict) else None) or (
                oid.namespace
            )
            # A tenant's own workload builds a path of the tenant's own source (in its
            # namespace), not of the generated tree.
            if isinstance(flux_path, str) and source_ns == self.flux_namespace:
                self._paths.append((path, shown, flux_path))
        elif group == GATEWAY_GROUP and kind == "ReferenceGrant":
            if isinstance(spec, dict):
                self._add_grant(oid, spec)
        elif group == GATEWAY_GROUP and kind == "HTTPRoute":
            rules = spec.get("rules") if isinstance(spec, dict) else None
            for rule in rules or ():
                refs = rule.get("backendRefs") if isinstance(rule, dict) else None
                for ref in refs or ():
                    if not isinstance(ref, dict):
                        continue
                    target_ns = ref.get("namespace")
                    if not target_ns or target_ns == oid.namespace:
                        continue
                    self._routes.append(
                        (
                            path,
                            oid.display(),
                            oid.cluster,
                            str(target_ns),
                            oid.namespace,
                            str(ref.get("group", "")),
                            str(ref.get("kind", "Service")),
                            str(ref.get("name", "")),
                        )
                    )

    def _add_grant(self, oid: ObjectId, spec: dict[str, Any]) -> None:
        for frm in spec.get("from") or ():
            if not isinstance(frm, dict) or frm.get("kind") != "HTTPRoute":
                continue
            if frm.get("group") != GATEWAY_GROUP:
                continue
            for to in spec.get("to") or ():
                if not isinstance(to, dict):
                    continue
                self._grants.add(
                    (
                        oid.cluster,
                        oid.namespace,
                        str(frm.get("namespace", "")),
                        str(to.get("group", "")),
                        str(to.get("kind", "")),
                        str(to.get("name") or ""),
                    )
                )

    def settle(self) -> None:
        """Forget the dependsOn and route facts added since the last call that are
        already satisfied (their Kustomization defined, their grant seen): what
        :meth:`finish` would find nothing wrong with. A streamed plan calls it after
        each tenant, so a fleet's facts do not pile up (each tenant's Kustomizations
        depend on each other); the older unsatisfied facts wait for :meth:`finish`,
        which sorts every problem, so the verdict is the same."""
        defined, outside, grants = self._defined, self.outside, self._grants
        start = self._settled_depends
        keep = [
            d
            for d in self._depends[start:]
            if (d[2], d[3], d[4]) not in defined and (d[3], d[4]) not in outside
        ]
        del self._depends[start:]
        self._depends.extend(keep)
        self._settled_depends = len(self._depends)
        start = self._settled_routes
        routes = [
            r
            for r in self._routes[start:]
            if (r[2], r[3], r[4], r[5], r[6], "") not in grants
            and (r[2], r[3], r[4], r[5], r[6], r[7]) not in grants
        ]
        del self._routes[start:]
        self._routes.extend(routes)
        self._settled_routes = len(self._routes)

    def finish(
        self, paths: Iterable[str], ordered: Sequence[str] | None = None
    ) -> list[Inconsistency]:
        """Every broken rule, given every path of the plan (for directories); with
        ``ordered``, the same paths sorted: a directory is then found by bisection,
        without a set of every directory of the tree (~13 MB at 20,000 tenants)."""
        problems = list(self.problems)
        flux_namespace = self.flux_namespace
        for path, shown, cluster, ns, name in self._depends:
            if (cluster, ns, name) in self._defined or (ns, name) in self.outside:
                continue
            hint = (
                f"add {name!r} to defaults.flux.external in tenants.yaml if it is a "
                "Flux Kustomization of the platform"
                if ns == flux_namespace
                else f"declared external names are in namespace {flux_namespace!r}"
            )
            problems.append(
                Inconsistency(
                    path,
                    "depends-on",
                    f"Flux {shown} depends on {ns}/{name}, which is neither "
                    f"generated nor declared external; {hint}",
                )
            )
        dirs: Container[str] = set()
        if self._paths:
            dirs = _Directories(ordered) if ordered is not None else _directories(paths)
        for path, shown, flux_path in self._paths:
            rel = _relative_to_root(flux_path, self.flux_root)
            if rel is None:
                problems.append(
                    Inconsistency(
                        path,
                        "path",
                        f"Flux {shown} has path {flux_path!r}, outside the generated tree "
                        f"{self.flux_root!r}",
                    )
                )
            elif rel and rel not in dirs:
                problems.append(
                    Inconsistency(
                        path,
                        "path",
                        f"Flux {shown} has path {flux_path!r}, which is not a directory of "
                        "the generated tree",
                    )
                )
        grants = self._grants
        for path, shown, cluster, target_ns, route_ns, group, kind, name in self._routes:
            base = (cluster, target_ns, route_ns, group, kind)
            if (*base, "") in grants or (*base, name) in grants:
                continue
            problems.append(
                Inconsistency(
                    path,
                    "reference-grant",
                    f"{shown} routes to {kind} {target_ns}/{name}, but no "
                    f"ReferenceGrant in namespace {target_ns} allows HTTPRoutes from namespace "
                    f"{route_ns} to reach it",
                )
            )
        return sorted(problems)


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
    verifier = Verifier(flux_root=flux_root, external=external, flux_namespace=flux_namespace)
    for path, planned in plan.files.items():
        verifier.add(path, planned.output)
    return verifier.finish(plan.files)


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
    """Raise :class:`ConsistencyError` when the plan of ``project`` breaks a rule
    (a lean plan was verified while it was made: its verdict is used)."""
    flux = project.config.defaults.flux
    if plan.verified is not None:
        problems = list(plan.verified)
    else:
        problems = find_inconsistencies(
            plan, flux_root=project.flux_root, external=flux.external, flux_namespace=flux.namespace
        )
    verify_problems(problems, project)


def verify_problems(problems: list[Inconsistency], project: Project) -> None:
    """Raise :class:`ConsistencyError` for ``problems`` of the plan of ``project``."""
    if problems:
        raise ConsistencyError(problems, str(project.output_dir))
