"""Semantic diff of two generated trees: object by object, field by field.

Two *sides* (the base and the new tree) are sets of Kubernetes objects, each
known by its identity: the cluster it is applied to (``host`` or
``vcluster-<n>``), its kind and API group, its effective namespace and its name.
Files play no part: an object that moves to another file is unchanged, and an
apiVersion change of the same kind and name is a change, not a removal plus an
addition. Kustomize index files (``kustomization.yaml``) are build instructions,
not cluster objects; what they list shows up as objects added or removed.

Field changes are those deepdiff reports, after lists of named items (containers,
env, dependsOn, ports with names, ...) are turned into mappings keyed by name, so
reordering them is not a change and paths read ``containers[name=nginx].image``;
mappings are walked directly and only plain lists go through deepdiff.
Only objects whose data differ are diffed, so the cost stays linear.

Every object change belongs to its tenant (``RenderedFile.tenant``) or to the shared
section; tenants that appear or go away, and the tenant attributes that changed
in tenants.yaml (cluster, shard, distro, ip, hostname, authDelegator, values), are
summarised per tenant. On top of that a review gets:

* the cause (:func:`input_changes`): each key of tenants.yaml that differs, with
  its position (:class:`gitopsgen.reader.Document`) and what it touches;
* groups (:func:`group_changes`): changes equal once tenant names are placeholders;
* risks (:func:`assess`): destroys, moves, access, address, distro;
* migration diffs (:func:`diff_tree`): a hand-made tree's objects against the
  generated tree and the repository's other files.

No click here: :mod:`gitopsgen.diffreport` renders a :class:`DiffResult`.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

from gitopsgen.errors import ConfigError, GitopsgenError
from gitopsgen.identity import ObjectId, identify
from gitopsgen.layout import Layout, TenantNames
from gitopsgen.model import AnyConfig, ConfigV2
from gitopsgen.platform import Platform, Tenant, resolve
from gitopsgen.reader import Document
from gitopsgen.reader import Path as RawPath
from gitopsgen.render import (
    Context,
    RenderedFile,
    render_cluster_files,
    render_platform,
    render_tenant_files,
    workloads,
)

__all__ = [
    "RISKS",
    "ChangeGroup",
    "DiffResult",
    "FieldChange",
    "KeyChange",
    "ObjectChange",
    "ObjectId",
    "Risk",
    "Side",
    "SideError",
    "TenantDiff",
    "changed_tenants",
    "compare_configs",
    "compare_sides",
    "diff_against_disk",
    "diff_files",
    "diff_git",
    "empty_side",
    "field_changes",
    "side_from_config",
    "side_from_outputs",
]

Obj = dict[str, Any]
Op = Literal["added", "removed", "changed"]
Segment = str | int | dict[str, str]

# The tenant attributes of tenants.yaml a reviewer sees in the summary.
TENANT_ATTRIBUTES = (
    "cluster",
    "shard",
    "distro",
    "ip",
    "hostname",
    "authDelegator",
    "values",
    *workloads.ATTRIBUTES,
)

# The risk flags, in the order a reviewer reads them.
RISKS = ("destroys", "moves", "access", "address", "distro")


class SideError(GitopsgenError):
    """One side of the diff cannot be read or is invalid; says which side."""

    def __init__(self, side: str, error: GitopsgenError) -> None:
        self.side = side
        self.inner = error
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        return [f"{self.side}: {line}" for line in self.inner.lines()]


class Located(NamedTuple):
    """One object on one side."""

    id: ObjectId
    api_version: str
    doc: Obj
    tenant: str | None
    path: str


@dataclass
class Side:
    """The objects of one generated tree and the tenants it was compiled from.

    ``attributes`` is None when the tenants' attributes are unknown (the tree on
    disk); ``tenants`` then comes from the file layout.
    """

    label: str
    objects: dict[ObjectId, Located] = field(default_factory=dict)
    tenants: set[str] = field(default_factory=set)
    attributes: dict[str, dict[str, Any]] | None = None


@dataclass(frozen=True)
class FieldChange:
    path: str  # display path: spec.template.spec.containers[name=nginx].image
    segments: tuple[Segment, ...]
    op: Op
    old: Any = None
    new: Any = None


@dataclass
class ObjectChange:
    id: ObjectId
    op: Op
    tenant: str | None
    old: Located | None
    new: Located | None
    fields: list[FieldChange] = field(default_factory=list)
    risks: list[str] = field(default_factory=list)

    @property
    def api_version(self) -> str:
        side = self.new or self.old
        assert side is not None
        return side.api_version

    @property
    def path(self) -> str:
        side = self.new or self.old
        assert side is not None
        return side.path


@dataclass
class TenantDiff:
    """Everything that changes for one tenant (``name`` None: shared objects)."""

    name: str | None
    op: Op
    attributes: list[FieldChange] = field(default_factory=list)
    objects: list[ObjectChange] = field(default_factory=list)

    @property
    def title(self) -> str:
        return "shared" if self.name is None else f"tenant {self.name}"

    @property
    def field_count(self) -> int:
        return sum(len(o.fields) for o in self.objects if o.op == "changed")

    def count(self, op: Op) -> int:
        return sum(1 for o in self.objects if o.op == op)


@dataclass(frozen=True)
class Risk:
    """A change a reviewer must not wave through: ``flag`` is one of :data:`RISKS`."""

    flag: str
    tenant: str | None
    object: ObjectId | None
    reason: str


@dataclass
class KeyChange:
    """One key of tenants.yaml that differs: the cause of object changes.

    ``key`` reads ``defaults.workload.image``, ``tenants[b].ip`` or
    ``clusters[eu-1].shards``; ``line`` is where it stands in the new file, or in
    the base file (``side`` "base") when the new one no longer has it. ``tenants``
    and ``objects`` count the changed tenants and objects in the key's scope (the
    tenant, the cluster's tenants, or every tenant for a top-level key).
    """

    key: str
    op: Op
    old: Any = None
    new: Any = None
    line: int | None = None
    column: int | None = None
    side: str = "head"
    scope: tuple[str, str | None] = ("all", None)  # ("tenant"|"cluster"|"all", name)
    tenants: int = 0
    objects: int = 0
    added: tuple[Any, ...] = ()  # list items added / removed (lists of plain values)
    removed: tuple[Any, ...] = ()


@dataclass
class ChangeGroup:
    """Object changes that are the same for several tenants once each tenant's own
    names (:class:`~gitopsgen.layout.TenantNames`) are replaced by placeholders.

    ``title`` is the object as a template (``Deployment default/nginx (in
    vcluster-{name})``), ``fields`` the templated field changes of a changed
    object, ``doc`` the templated body of an added one.
    """

    op: Op
    kind: str
    api_version: str
    title: str
    fields: list[FieldChange]
    doc: Obj | None
    tenants: list[str | None] = field(default_factory=list)
    objects: list[ObjectChange] = field(default_factory=list)
    risks: list[str] = field(default_factory=list)


@dataclass
class DiffResult:
    base: str
    head: str
    tenants: list[TenantDiff] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    inputs: list[KeyChange] = field(default_factory=list)
    groups: list[ChangeGroup] = field(default_factory=list)
    risks: list[Risk] = field(default_factory=list)
    base_commit: str | None = None
    mode: str = "config"  # "config" | "migration" | "disk"
    compared: int = 0  # objects on the new side (what "no change" vouches for)
    config_file: str | None = None  # tenants.yaml relative to the git top level

    def risk_flags(self) -> list[str]:
        present = {r.flag for r in self.risks}
        return [flag for flag in RISKS if flag in present]

    @property
    def changed(self) -> bool:
        return any(t.objects for t in self.tenants)

    def objects(self, op: Op) -> int:
        return sum(t.count(op) for t in self.tenants)

    def tenant_count(self, op: Op) -> int:
        return sum(1 for t in self.tenants if t.name is not None and t.op == op)

    @property
    def field_count(self) -> int:
        return sum(t.field_count for t in self.tenants)


# --- sides ---------------------------------------------------------------


def side_from_outputs(
    label: str,
    outputs: Iterable[RenderedFile],
    tenants: Iterable[str] = (),
    attributes: dict[str, dict[str, Any]] | None = None,
) -> Side:
    side = Side(label, tenants=set(tenants), attributes=attributes)
    for out in outputs:
        for index, doc in enumerate(out.docs):
            if not isinstance(doc, dict):
                continue
            ident = identify(doc, out.namespace, out.target)
            if ident is None:
                continue
            key, api_version = ident
            owner = out.owner(index)
            side.objects.setdefault(key, Located(key, api_version, doc, owner, out.path))
            if out.tenant is not None:
                side.tenants.add(out.tenant)
    return side


def tenant_attributes(tenant: Tenant) -> dict[str, Any]:
    return {
        "cluster": tenant.cluster,
        "shard": tenant.shard,
        "distro": tenant.distro,
        "ip": tenant.ip,
        "hostname": tenant.hostname,
        "authDelegator": tenant.vcluster.auth_delegator,
        "values": tenant.vcluster.values,
        # Version 2: quota profile, sources, workloads, routes (render/workloads.py).
        **workloads.attributes(tenant),
    }


def flux_root_of(config: AnyConfig) -> str:
    """``./generated``: the output directory relative to the repository root, which
    depends only on the two relative paths in the file, not on where it lives."""
    root = posixpath.normpath(posixpath.join("/r/f", config.repository_root))
    out = posixpath.normpath(posixpath.join("/r/f", config.output))
    return "./" + posixpath.relpath(out, root)


def side_from_config(
    label: str,
    config: AnyConfig,
    flux_root: str | None = None,
    only: set[str] | None = None,
) -> Side:
    """The objects ``gitopsgen build`` would write for ``config``, compiled in memory.

    With ``only``, the per-tenant objects of the other tenants are left out (the
    shared objects, every tenant name and attribute stay): see :func:`compare_configs`.
    """
    platform = resolve(config, flux_root or flux_root_of(config))
    attributes = {t.name: tenant_attributes(t) for t in platform.tenants()}
    outputs = render_platform(Context(platform), only)
    return side_from_outputs(label, outputs, attributes, attributes)


def changed_tenants(
    old: AnyConfig, new: AnyConfig, old_root: str, new_root: str
) -> set[str] | None:
    """The tenants whose own objects may differ, or None when every tenant's may.

    A tenant's own objects are a function of the tenant, ``defaults`` and the
    output paths; when only ``tenants`` differ (the common pull request), tenants
    equal on both sides have equal objects and need not be compiled or compared.
    """
    if old_root != new_root:
        return None
    if old.model_copy(update={"tenants": []}) != new.model_copy(update={"tenants": []}):
        return None
    before = {t.name: t for t in old.tenants}
    after = {t.name: t for t in new.tenants}
    # ``is`` first: a base spliced from the head's text shares the head's tenants
    return {
        n
        for n in before.keys() | after.keys()
        if (a := before.get(n)) is not (b := after.get(n)) and a != b
    }


def compare_configs(
    old_label: str,
    old: AnyConfig,
    new_label: str,
    new: AnyConfig,
    new_root: str | None = None,
    old_doc: Document | None = None,
    new_doc: Document | None = None,
) -> DiffResult:
    """Compile both configs in memory and compare them; tenants that are equal on
    both sides (with equal defaults) are skipped, which keeps a one-tenant change
    cheap at thousands of tenants. The result starts with the keys of tenants.yaml
    that differ (:func:`input_changes`), located in ``old_doc`` / ``new_doc``."""
    old_root = flux_root_of(old)
    new_root = new_root or flux_root_of(new)
    only = changed_tenants(old, new, old_root, new_root)
    if only is None:
        old_side = side_from_config(old_label, old, old_root)
        new_side = side_from_config(new_label, new, new_root)
        clusters = {
            name: str(attrs.get("cluster"))
            for side in (old_side, new_side)
            for name, attrs in (side.attributes or {}).items()
        }
    else:
        old_side, new_side, clusters = _changed_sides(
            old_label, old, old_root, new_label, new, new_root, only
        )
    if old.version == 1 and new.version == 2:
        _as_named_cluster(old_side, new)
    result = compare_sides(old_side, new_side)
    result.inputs = input_changes(old, new, old_doc, new_doc, only)
    count_inputs(result, result.inputs, clusters)
    return result


def _changed_sides(
    old_label: str,
    old: AnyConfig,
    old_root: str,
    new_label: str,
    new: AnyConfig,
    new_root: str,
    only: set[str],
) -> tuple[Side, Side, dict[str, str]]:
    """Both sides when only the tenants ``only`` differ (:func:`changed_tenants`).

    Rendering is a pure function of the resolved tenant and its cluster (the
    renderers of :mod:`gitopsgen.render` see nothing else), so the files of a
    tenant equal on both sides are equal, and so are the cluster-wide files of a
    cluster whose tenants are all equal on both sides. Only the own files of the
    tenants in ``only`` and the cluster-wide files of the clusters they are in (on
    either side) are rendered; every tenant's name is kept, the attributes of the
    tenants in ``only`` only (the others' are equal). Also returns the cluster of
    each tenant of those clusters (for :func:`count_inputs`)."""
    homes = (_home_cluster(old), _home_cluster(new))
    affected = {
        home(t)
        for config, home in zip((old, new), homes, strict=True)
        for t in config.tenants
        if t.name in only
    }
    clusters: dict[str, str] = {}
    sides = []
    for label, config, home, root in zip(
        (old_label, new_label), (old, new), homes, (old_root, new_root), strict=True
    ):
        # The tenants of the other clusters are left out before resolving: a
        # tenant's resolution depends on it and its cluster only (platform.resolve).
        kept = [t for t in config.tenants if home(t) in affected]
        platform = resolve(config.model_copy(update={"tenants": kept}), root)
        ctx = Context(platform)
        attributes: dict[str, dict[str, Any]] = {}
        outputs: list[RenderedFile] = []
        for cluster in platform.clusters:
            if cluster.name not in affected:
                continue
            for t in cluster.tenants:
                clusters[t.name] = t.cluster
                if t.name in only:
                    attributes[t.name] = tenant_attributes(t)
                    outputs += render_tenant_files(ctx, cluster, t)
            outputs += render_cluster_files(ctx, cluster)
        names = {t.name for t in config.tenants}
        sides.append(side_from_outputs(label, outputs, names, attributes))
    return sides[0], sides[1], clusters


def _home_cluster(config: AnyConfig) -> Callable[[Any], str]:
    """The cluster a tenant of ``config`` is placed on, as :func:`platform.resolve`
    places it: version 1 has one cluster; version 2 the tenant's ``cluster``, which
    may be left out when there is one cluster only."""
    from gitopsgen.platform import V1_CLUSTER

    if not isinstance(config, ConfigV2):
        return lambda t: V1_CLUSTER
    single = config.clusters[0].name if len(config.clusters) == 1 else None
    return lambda t: str(t.cluster or single)


def _as_named_cluster(side: Side, new: AnyConfig) -> None:
    """A version 1 side against a version 2 file (``gitopsgen migrate``): its one
    unnamed host cluster is the version 2 cluster named like its directory
    (``host-cluster``), so an object that stays is the same object."""
    from gitopsgen.layout import HOST, target_of
    from gitopsgen.platform import V1_CLUSTER

    if not isinstance(new, ConfigV2) or V1_CLUSTER not in {c.name for c in new.clusters}:
        return
    moved: dict[ObjectId, Located] = {}
    for key, located in side.objects.items():
        target = target_of(V1_CLUSTER, None if key.cluster == HOST else key.cluster)
        ident = key._replace(cluster=target)
        moved[ident] = located._replace(id=ident)
    side.objects = moved


def empty_side(label: str) -> Side:
    """No tenants.yaml (yet): no objects, no tenants."""
    return Side(label, attributes={})


def parse_side(raw: bytes, source: str, side: str) -> tuple[AnyConfig, Document]:
    """Validate the text of one side's tenants.yaml; errors say which side."""
    from gitopsgen.config import parse

    try:
        return parse(raw, source)
    except ConfigError as exc:
        raise SideError(side, exc) from None


# --- comparing -------------------------------------------------------------


class _Named(dict[str, Any]):
    """A list of mappings with unique ``name`` keys, keyed by name."""


def _keyed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _keyed(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_keyed(v) for v in value]
        if value and all(isinstance(v, dict) and isinstance(v.get("name"), str) for v in value):
            names = [v["name"] for v in value]
            if len(set(names)) == len(names):
                return _Named(zip(names, items, strict=True))
        return items
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, _Named):
        return [_plain(v) for v in value.values()]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


_BARE_KEY = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*$")


def _step(node: Any, element: Any) -> Any:
    if isinstance(node, dict):
        return node.get(element)
    if isinstance(node, list) and isinstance(element, int) and 0 <= element < len(node):
        return node[element]
    return None


def _path(elements: list[Any], old: Any, new: Any) -> tuple[str, tuple[Segment, ...]]:
    text = ""
    segments: list[Segment] = []
    for element in elements:
        container = new if new is not None else old
        if isinstance(container, _Named):
            text += f"[name={element}]"
            segments.append({"name": str(element)})
        elif isinstance(element, int) and isinstance(container, list):
            text += f"[{element}]"
            segments.append(element)
        else:
            key = str(element)
            if _BARE_KEY.match(key):
                text += f".{key}" if text else key
            else:
                escaped = key.replace("\\", "\\\\").replace('"', '\\"')
                text += f'["{escaped}"]'
            segments.append(key)
        old, new = _step(old, element), _step(new, element)
    return text, tuple(segments)


_CATEGORIES: dict[str, Op] = {
    "values_changed": "changed",
    "type_changes": "changed",
    "dictionary_item_added": "added",
    "iterable_item_added": "added",
    "dictionary_item_removed": "removed",
    "iterable_item_removed": "removed",
}


def _deepdiff_changes(x: Any, y: Any, prefix: list[Any]) -> list[tuple[Op, list[Any], Any, Any]]:
    """deepdiff's view of ``x`` -> ``y`` (found at ``prefix``): lists, whose
    insertions and removals it matches up (difflib), are left to it."""
    from deepdiff import DeepDiff

    out: list[tuple[Op, list[Any], Any, Any]] = []
    for category, levels in DeepDiff(x, y, view="tree").items():
        op = _CATEGORIES.get(category)
        if op is None:  # pragma: no cover - plain data has no other categories
            continue
        for level in levels:
            out.append((op, prefix + level.path(output_format="list"), level.t1, level.t2))
    return out


# deepdiff 9 DeepDiff(threshold_to_diff_deeper=0.33), diff.py _diff_dict: two
# mappings sharing fewer than a third of their keys are one change, not many.
_DEEPER = 0.33


def _identical(x: Any, y: Any) -> bool:
    """Equal with equal types throughout (``0 == False`` is a change to deepdiff)."""
    if x is y:
        return True
    if type(x) is not type(y):
        return False
    if isinstance(x, dict):
        return x.keys() == y.keys() and all(_identical(v, y[k]) for k, v in x.items())
    if isinstance(x, list):
        return len(x) == len(y) and all(_identical(a, b) for a, b in zip(x, y, strict=True))
    return bool(x == y)


def _walk(x: Any, y: Any, prefix: list[Any], out: list[tuple[Op, list[Any], Any, Any]]) -> None:
    """The changes from ``x`` to ``y`` as deepdiff reports them, walked directly
    through mappings (the bulk of a manifest), which is many times faster."""
    if x is y:
        return
    if type(x) is not type(y):
        out.append(("changed", prefix, x, y))  # deepdiff: type_changes
    elif isinstance(x, dict):
        union = len(x.keys() | y.keys())
        if union > 1 and len(x.keys() & y.keys()) / union < _DEEPER:
            out.append(("changed", prefix, x, y))  # too little in common: one change
            return
        for key, value in x.items():
            if key not in y:
                out.append(("removed", [*prefix, key], value, None))
            else:
                _walk(value, y[key], [*prefix, key], out)
        for key, value in y.items():
            if key not in x:
                out.append(("added", [*prefix, key], None, value))
    elif isinstance(x, list):
        if not _identical(x, y):
            out += _deepdiff_changes(x, y, prefix)
    elif x != y:
        out.append(("changed", prefix, x, y))  # deepdiff: values_changed


def field_changes(old: Obj, new: Obj) -> list[FieldChange]:
    """The fields that differ between two versions of one object, in path order."""
    a, b = _keyed(old), _keyed(new)
    found: list[tuple[Op, list[Any], Any, Any]] = []
    _walk(a, b, [], found)
    return _as_field_changes(found, a, b)


def deepdiff_field_changes(old: Obj, new: Obj) -> list[FieldChange]:
    """:func:`field_changes` through deepdiff alone (the reference it is tested against)."""
    a, b = _keyed(old), _keyed(new)
    return _as_field_changes(_deepdiff_changes(a, b, []), a, b)


def _as_field_changes(
    found: Iterable[tuple[Op, list[Any], Any, Any]], a: Any, b: Any
) -> list[FieldChange]:
    """(op, path elements, old, new) of keyed objects ``a`` and ``b`` as field changes,
    in path order."""
    changes: list[FieldChange] = []
    for op, elements, before, after in found:
        text, segments = _path(elements, a, b)
        changes.append(
            FieldChange(
                path=text,
                segments=segments,
                op=op,
                old=None if op == "added" else _plain(before),
                new=None if op == "removed" else _plain(after),
            )
        )
    changes.sort(key=lambda c: c.path)
    return changes


def _attribute_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[FieldChange]:
    out: list[FieldChange] = []
    for name in TENANT_ATTRIBUTES:
        if old.get(name) != new.get(name):
            out.append(FieldChange(name, (name,), "changed", old.get(name), new.get(name)))
    return out


_OP_ORDER = {"removed": 0, "added": 1, "changed": 2}


def compare_sides(old: Side, new: Side) -> DiffResult:
    """Object by object: what is added, removed and changed from ``old`` to ``new``."""
    changes: list[ObjectChange] = []
    for key, before in old.objects.items():
        after = new.objects.get(key)
        if after is None:
            changes.append(ObjectChange(key, "removed", before.tenant, before, None))
        elif before.doc != after.doc:
            fields = field_changes(before.doc, after.doc)
            if fields:
                changes.append(ObjectChange(key, "changed", after.tenant, before, after, fields))
    for key, after in new.objects.items():
        if key not in old.objects:
            changes.append(ObjectChange(key, "added", after.tenant, None, after))

    by_tenant: dict[str | None, list[ObjectChange]] = {}
    for change in changes:
        by_tenant.setdefault(change.tenant, []).append(change)

    result = DiffResult(old.label, new.label)
    names = {n for n in by_tenant if n is not None} | (old.tenants ^ new.tenants)
    if old.attributes is not None and new.attributes is not None:
        # a tenant on both sides without objects or attributes to compare is no change
        names |= old.attributes.keys() | new.attributes.keys()
    else:
        names |= old.tenants | new.tenants
    for name in sorted(names):
        objects = by_tenant.get(name, [])
        attrs: list[FieldChange] = []
        op: Op
        if name not in new.tenants:
            op = "removed"
        elif name not in old.tenants:
            op = "added"
        else:
            op = "changed"
            if (
                old.attributes is not None
                and new.attributes is not None
                and (name in old.attributes or name in new.attributes)
            ):
                attrs = _attribute_changes(
                    old.attributes.get(name, {}), new.attributes.get(name, {})
                )
            if not objects and not attrs:
                continue
        objects.sort(key=lambda c: (_OP_ORDER[c.op], c.id))
        result.tenants.append(TenantDiff(name, op, attrs, objects))
    shared = by_tenant.get(None)
    if shared:
        shared.sort(key=lambda c: (_OP_ORDER[c.op], c.id))
        result.tenants.append(TenantDiff(None, "changed", [], shared))
    result.tenants.sort(key=lambda t: (t.name is None, _OP_ORDER[t.op], t.name or ""))
    result.compared = len(new.objects)
    result.risks = assess(result)
    result.groups = group_changes(result)
    return result


# --- risk ------------------------------------------------------------------------

# Kinds whose removal from a vcluster's namespace takes the vcluster and its data.
DESTROY_KINDS = frozenset({"Namespace", "PersistentVolumeClaim", "StatefulSet", "HelmRelease"})
RBAC_KINDS = frozenset({"ClusterRole", "ClusterRoleBinding"})
POLICY_KINDS = frozenset({"NetworkPolicy", "CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy"})
GRANT_KIND = "ReferenceGrant"
# Helm values of the vcluster chart that carry its address: the MetalLB annotation
# of the control-plane Service, the SANs of its serving certificate ("extra hostnames
# to sign the vCluster proxy certificate for"), the external address (loft-sh/vcluster
# v0.30.4 chart/values.schema.json: ControlPlaneProxy.extraSANs,
# controlPlane.service.annotations; external.platform.apiServerHost in the seed).
_ADDRESS_MARKERS = ("loadbalancerip", "extrasans", "apiserverhost", "tlssan", "tls-san")
_DISTRO_SEGMENT = "distro"
# Rule lists of network policies (Kubernetes and Cilium).
_RULES = ("ingress", "egress", "ingressDeny", "egressDeny")


def _vcluster_name(tenant: str) -> str:
    return TenantNames(tenant).vcluster


def _inside_vcluster(ident: ObjectId) -> bool:
    """Applied inside a vcluster (``vcluster-<n>`` or ``<cluster>/vcluster-<n>``)."""
    return "/" in ident.cluster or ident.cluster.startswith(TenantNames("").vcluster)


def _is_deny(doc: Obj) -> bool:
    """A policy that isolates (a policy type with no rule for it)."""
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return False
    types = spec.get("policyTypes")
    if isinstance(types, list):
        return any(isinstance(t, str) and not spec.get(t.lower()) for t in types)
    return "ingress" not in spec and "egress" not in spec and doc.get("kind") == "NetworkPolicy"


def _rules(doc: Obj) -> bool:
    """Whether a policy has any allow rule."""
    spec = doc.get("spec")
    return isinstance(spec, dict) and any(spec.get(k) for k in ("ingress", "egress"))


def _policy_widens(f: FieldChange) -> bool:
    """Whether a field change of a network policy can allow traffic it did not."""
    segments = [s for s in f.segments if isinstance(s, str)]
    if len(segments) < 2 or segments[0] != "spec":
        return False
    if segments[1] == "policyTypes":
        return f.op != "added"
    if segments[1].endswith("Deny"):
        return f.op != "added"  # fewer or different deny rules
    if segments[1] in _RULES:
        if f.op != "removed":
            return True  # a new or different rule, peer or port
        # a removed selector, label or port list inside a rule broadens it
        return len(segments) > 2
    if segments[1] in ("podSelector", "endpointSelector"):
        return f.op != "added"
    return False


def _grant_items(doc: Obj, key: str) -> list[dict[str, Any]]:
    spec = doc.get("spec")
    items = spec.get(key) if isinstance(spec, dict) else None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _covers(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether a ReferenceGrant item ``old`` already allows all that ``new`` does: the
    same group, kind (and namespace, for "from"), and a name only if ``old`` has none
    or the same (gateway-api apis/v1beta1 referencegrant_types.go: ReferenceGrantTo
    without name "refers to all resources of the specified Group and Kind")."""
    for field_name in ("group", "kind", "namespace"):
        if old.get(field_name) != new.get(field_name):
            return False
    return old.get("name") is None or old.get("name") == new.get("name")


def _grant_widens(old: Obj, new: Obj) -> list[str]:
    """The ``from`` / ``to`` items of ``new`` that ``old`` did not allow."""
    wider = []
    for key in ("from", "to"):
        before = _grant_items(old, key)
        for i, item in enumerate(_grant_items(new, key)):
            if not any(_covers(o, item) for o in before):
                wider.append(f"spec.{key}[{i}]")
    return wider


def _object_risks(
    o: ObjectChange, tenant_op: Op, namespaces: dict[tuple[str, str], Op]
) -> list[tuple[str, str]]:
    """``namespaces``: the Namespaces this diff adds or removes, by (target, name)."""
    kind = o.id.kind
    existing = tenant_op == "changed"  # a tenant that is there before and after
    # a policy or grant in a namespace that comes (or goes) with this change is part
    # of a new (or deleted) vcluster, not a change of what an existing one allows
    namespace = namespaces.get((o.id.cluster, o.id.namespace))
    out: list[tuple[str, str]] = []
    tenant = o.tenant
    if o.op == "removed" and tenant is not None and kind in DESTROY_KINDS:
        vcluster = _vcluster_name(tenant)
        if not _inside_vcluster(o.id) and vcluster in (o.id.name, o.id.namespace):
            out.append(("destroys", f"{o.id.display()} removed: the vcluster and its data go"))
    if kind in RBAC_KINDS and o.op != "removed":
        out.append(("access", f"cluster-scoped RBAC {o.op}: {o.id.display()}"))
    if kind in POLICY_KINDS:
        deny = o.new is not None and _is_deny(o.new.doc) and not _rules(o.new.doc)
        if o.op == "added" and namespace != "added" and not deny:
            out.append(("access", f"{o.id.display()} added: policies add allowed traffic"))
        elif o.op == "removed" and namespace != "removed" and o.old and _is_deny(o.old.doc):
            out.append(("access", f"{o.id.display()} removed: it isolated its pods"))
        elif o.op == "changed":
            wider = [f.path for f in o.fields if _policy_widens(f)]
            if wider:
                out.append(("access", f"{o.id.display()} allows more: {', '.join(wider[:3])}"))
    if kind == GRANT_KIND:
        if o.op == "added" and namespace != "added":
            out.append(("access", f"{o.id.display()} added"))
        elif o.op == "changed" and o.old is not None and o.new is not None:
            wider = _grant_widens(o.old.doc, o.new.doc)
            if wider:
                out.append(("access", f"{o.id.display()} widened: {', '.join(wider[:3])}"))
    release = tenant is not None and o.id.name == _vcluster_name(tenant)
    if o.op == "changed" and kind == "HelmRelease" and release and existing:
        moved = [f for f in o.fields if any(m in f.path.lower() for m in _ADDRESS_MARKERS)]
        if moved:
            f = moved[0]
            out.append(
                (
                    "address",
                    f"{o.id.display()}: {f.path} {_short(f.old)} -> {_short(f.new)}"
                    + (f" (+{len(moved) - 1} more)" if len(moved) > 1 else "")
                    + ": kubeconfigs and clients of the old address stop working",
                )
            )
        distro = [f for f in o.fields if _switches_distro(f)]
        if distro:
            out.append(
                (
                    "distro",
                    f"{o.id.display()}: {distro[0].path} changes on an existing vcluster "
                    "(not possible in place)",
                )
            )
    return out


def _switches_distro(f: FieldChange) -> bool:
    """``controlPlane.distro.<d>.enabled`` changes, or a distro's block comes or
    goes: "A distro cannot be changed after vCluster is deployed" (loft-sh/vcluster
    v0.30.4 chart/values.schema.json, controlPlane.distro)."""
    if _DISTRO_SEGMENT not in f.segments:
        return False
    rest = f.segments[f.segments.index(_DISTRO_SEGMENT) + 1 :]
    if len(rest) <= 1:
        return f.op != "changed" or len(rest) == 0
    return len(rest) == 2 and rest[1] == "enabled"


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."


def assess(result: DiffResult) -> list[Risk]:
    """The risk flags of every change, ordered by :data:`RISKS`; sets each object's
    ``risks`` too."""
    risks: list[Risk] = []
    namespaces: dict[tuple[str, str], Op] = {
        (o.id.cluster, o.id.name): o.op
        for t in result.tenants
        for o in t.objects
        if o.id.kind == "Namespace" and o.id.group == "" and o.op != "changed"
    }
    for t in result.tenants:
        attrs = {a.path: a for a in t.attributes}
        tenant_level: set[str] = set()
        for name in ("cluster", "shard"):
            a = attrs.get(name)
            if a is not None:
                risks.append(
                    Risk(
                        "moves",
                        t.name,
                        None,
                        f"tenant {t.name} moves to {name} {a.new} (from {a.old}): "
                        + (
                            "its vcluster is destroyed and created anew there"
                            if name == "cluster"
                            else "another Flux controller takes it over"
                        ),
                    )
                )
        a = attrs.get("distro")
        if a is not None:
            tenant_level.add("distro")
            risks.append(
                Risk(
                    "distro",
                    t.name,
                    None,
                    f"tenant {t.name}: distro {a.old} -> {a.new} on an existing vcluster "
                    "(not possible in place: the vcluster must be recreated)",
                )
            )
        for o in t.objects:
            found = _object_risks(o, t.op, namespaces)
            o.risks = sorted({flag for flag, _ in found}, key=RISKS.index)
            for flag, reason in found:
                if flag in tenant_level:
                    continue
                risks.append(Risk(flag, o.tenant, o.id, reason))
    risks.sort(key=lambda r: RISKS.index(r.flag))
    return risks


# --- grouping --------------------------------------------------------------------


class _Templater:
    """Replaces one tenant's derived names by placeholders (``vcluster-{name}``)."""

    PLACEHOLDER = TenantNames("{name}")

    def __init__(self, tenant: str | None) -> None:
        self.tenant = tenant
        self._pattern: re.Pattern[str] | None = None
        self.map: dict[str, str] = {}
        if tenant is not None:
            names = TenantNames(tenant)
            self.map = {
                names.vcluster: self.PLACEHOLDER.vcluster,
                names.tenant: self.PLACEHOLDER.tenant,
            }

    @property
    def pattern(self) -> re.Pattern[str]:
        if self._pattern is None:  # compiled only for values that hold a name
            alternatives = "|".join(re.escape(k) for k in sorted(self.map, key=len, reverse=True))
            self._pattern = re.compile(rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])")
        return self._pattern

    def text(self, value: str) -> str:
        if self.tenant is None:
            return value
        if value == self.tenant:
            return "{name}"
        exact = self.map.get(value)
        if exact is not None:
            return exact
        if not any(k in value for k in self.map):
            return value
        return self.pattern.sub(lambda m: self.map[m.group(0)], value)

    def value(self, value: Any) -> Any:
        if self.tenant is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(k): self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value

    def field(self, f: FieldChange) -> FieldChange:
        if self.tenant is None:
            return f
        segments = tuple(
            {"name": self.text(s["name"])}
            if isinstance(s, dict)
            else (self.text(s) if isinstance(s, str) else s)
            for s in f.segments
        )
        return FieldChange(self.text(f.path), segments, f.op, self.value(f.old), self.value(f.new))

    def ident(self, ident: ObjectId) -> ObjectId:
        if self.tenant is None:
            return ident
        return ObjectId(*(self.text(part) for part in ident))


def group_changes(result: DiffResult) -> list[ChangeGroup]:
    """Object changes grouped by what they are once tenant names are placeholders;
    fleet-wide groups first. Linear in the number of changes."""
    import json

    groups: dict[str, ChangeGroup] = {}
    for t in result.tenants:
        tpl = _Templater(t.name)
        for o in t.objects:
            ident = tpl.ident(o.id)
            fields: list[FieldChange] = []
            doc: Obj | None = None
            if o.op == "changed":
                fields = [tpl.field(f) for f in o.fields]
                body: Any = [(f.path, f.op, f.old, f.new) for f in fields]
            elif o.op == "added" and o.new is not None:
                doc = tpl.value(o.new.doc)
                body = doc
            else:
                body = None
            key = json.dumps([o.op, list(ident), body], sort_keys=True, default=str)
            group = groups.get(key)
            if group is None:
                group = groups[key] = ChangeGroup(
                    o.op, o.id.kind, o.api_version, ident.display(), fields, doc
                )
            group.tenants.append(t.name)
            group.objects.append(o)
            for flag in o.risks:
                if flag not in group.risks:
                    group.risks.append(flag)
    out = list(groups.values())
    out.sort(
        key=lambda g: (-len(g.tenants), [n or "" for n in g.tenants], _OP_ORDER[g.op], g.title)
    )
    return out


# --- the cause: what changed in tenants.yaml --------------------------------------


def _named(items: Any) -> dict[str, int] | None:
    """name -> index for a list of mappings with unique names, else None."""
    if not isinstance(items, list) or not items:
        return None
    names: dict[str, int] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            return None
        if item["name"] in names:
            return None
        names[item["name"]] = i
    return names


def _plain_items(items: Any) -> bool:
    return isinstance(items, list) and all(
        isinstance(v, (str, int, float, bool)) or v is None for v in items
    )


def _raw(doc: Document, path: RawPath, default: Any) -> Any:
    node = doc.data
    for part in path:
        found = isinstance(node, dict) and isinstance(part, str) and part in node
        found = found or (isinstance(node, list) and isinstance(part, int) and part < len(node))
        if not found:
            return default
        node = node[part]
    return node


def input_changes(
    old: AnyConfig,
    new: AnyConfig,
    old_doc: Document | None = None,
    new_doc: Document | None = None,
    only: set[str] | None = None,
) -> list[KeyChange]:
    """Key by key, what differs between two tenants.yaml files, with the effective
    values (defaults filled in), and where each key stands in the file.

    ``only`` (:func:`changed_tenants`) says that everything but the tenants of
    those names is equal: the same keys are found by walking just those tenants."""
    out: list[KeyChange] = []

    def where(change: KeyChange, opath: RawPath | None, npath: RawPath | None) -> None:
        for doc, path, side in ((new_doc, npath, "head"), (old_doc, opath, "base")):
            if doc is not None and path is not None and path in doc.keys:
                change.line, change.column = doc.keys[path]
                change.side = side
                return
        for doc, path, side in ((new_doc, npath, "head"), (old_doc, opath, "base")):
            if doc is not None and path is not None and doc.keys:
                change.line, change.column = doc.where(path, key=True)
                change.side = side
                return

    def emit(
        key: str,
        op: Op,
        old_value: Any,
        new_value: Any,
        opath: RawPath | None,
        npath: RawPath | None,
        scope: tuple[str, str | None],
    ) -> None:
        # a key that only one version of the format has, filled in with its default
        # and not written in the file (version 1 -> 2: every new default), is no change
        unwritten_new = new_doc is not None and npath is not None and npath not in new_doc.values
        unwritten_old = old_doc is not None and opath is not None and opath not in old_doc.values
        if (op == "added" and unwritten_new) or (op == "removed" and unwritten_old):
            return
        # an item added or removed reads as written in the file, not with its defaults
        if op == "added" and new_doc is not None and npath is not None:
            new_value = _raw(new_doc, npath, new_value)
        if op == "removed" and old_doc is not None and opath is not None:
            old_value = _raw(old_doc, opath, old_value)
        change = KeyChange(key, op, old_value, new_value, scope=scope)
        if op == "changed" and _plain_items(old_value) and _plain_items(new_value):
            change.added = tuple(v for v in new_value if v not in old_value)
            change.removed = tuple(v for v in old_value if v not in new_value)
        where(change, opath, npath)
        out.append(change)

    def walk(
        x: Any,
        y: Any,
        key: str,
        opath: RawPath,
        npath: RawPath,
        scope: tuple[str, str | None],
    ) -> None:
        if x == y:
            return
        if isinstance(x, dict) and isinstance(y, dict):
            for k in [*y, *(k for k in x if k not in y)]:
                sub = f"{key}.{k}" if key else k
                if k not in x:
                    emit(sub, "added", None, y[k], None, (*npath, k), scope)
                elif k not in y:
                    emit(sub, "removed", x[k], None, (*opath, k), None, scope)
                else:
                    walk(x[k], y[k], sub, (*opath, k), (*npath, k), scope)
            return
        nx, ny = _named(x), _named(y)
        if (nx is not None or ny is not None) and (nx is not None or x == []):
            nx = nx or {}
            ny = ny if ny is not None else ({} if y == [] else None)
        if nx is not None and ny is not None:
            assert isinstance(x, list) and isinstance(y, list)
            for name in [*ny, *(n for n in nx if n not in ny)]:
                sub = f"{key}[{name}]"
                inner = scope
                if key == "tenants":
                    inner = ("tenant", name)
                elif key == "clusters":
                    inner = ("cluster", name)
                if name not in nx:
                    emit(sub, "added", None, y[ny[name]], None, (*npath, ny[name]), inner)
                elif name not in ny:
                    emit(sub, "removed", x[nx[name]], None, (*opath, nx[name]), None, inner)
                else:
                    walk(
                        x[nx[name]],
                        y[ny[name]],
                        sub,
                        (*opath, nx[name]),
                        (*npath, ny[name]),
                        inner,
                    )
            return
        if (
            isinstance(x, list)
            and isinstance(y, list)
            and not (_plain_items(x) and _plain_items(y))
        ):
            # a list of mappings without names (routes, sources): item by item
            for i in range(max(len(x), len(y))):
                sub = f"{key}[{i}]"
                if i >= len(x):
                    emit(sub, "added", None, y[i], None, (*npath, i), scope)
                elif i >= len(y):
                    emit(sub, "removed", x[i], None, (*opath, i), None, scope)
                else:
                    walk(x[i], y[i], sub, (*opath, i), (*npath, i), scope)
            return
        emit(key, "changed", x, y, opath, npath, scope)

    if only is None:
        a = old.model_dump(by_alias=True, mode="json")
        b = new.model_dump(by_alias=True, mode="json")
        walk(a, b, "", (), (), ("all", None))
        return out
    # As the walk of the whole files would: the other keys and tenants are equal, and
    # the tenants list is matched by name (new order, then the removed ones).
    before = {t.name: i for i, t in enumerate(old.tenants)}
    after = {t.name: i for i, t in enumerate(new.tenants)}
    order = [*after, *(n for n in before if n not in after)]
    for name in order:
        if name not in only:
            continue
        sub, scope = f"tenants[{name}]", ("tenant", name)
        i, j = before.get(name), after.get(name)
        if i is None:
            assert j is not None
            item = new.tenants[j].model_dump(by_alias=True, mode="json")
            emit(sub, "added", None, item, None, ("tenants", j), scope)
        elif j is None:
            item = old.tenants[i].model_dump(by_alias=True, mode="json")
            emit(sub, "removed", item, None, ("tenants", i), None, scope)
        else:
            x = old.tenants[i].model_dump(by_alias=True, mode="json")
            y = new.tenants[j].model_dump(by_alias=True, mode="json")
            walk(x, y, sub, ("tenants", i), ("tenants", j), scope)
    return out


def count_inputs(result: DiffResult, inputs: list[KeyChange], clusters: dict[str, str]) -> None:
    """Fill in how many changed tenants and objects each key touches.

    A tenant's key touches that tenant's changes. A default or cluster setting
    whose value is plain touches the objects in its scope with a field that goes
    from exactly its old to its new value (``nginx:1.27-alpine -> nginx:1.28-alpine``);
    when no field does (the value is transformed on the way, e.g. a domain that
    becomes part of hostnames), every changed tenant and object in its scope.
    ``clusters`` maps a tenant to its cluster (either side)."""
    by_name = {t.name: t for t in result.tenants if t.name is not None}
    shared = [t for t in result.tenants if t.name is None]
    for change in inputs:
        kind, name = change.scope
        if kind == "tenant":
            t = by_name.get(name or "")
            change.tenants = 1 if t is not None else 0
            change.objects = len(t.objects) if t is not None else 0
            continue
        if kind == "cluster":
            scoped = [t for t in by_name.values() if clusters.get(t.name or "") == name]
        else:
            scoped = list(by_name.values())
        if change.key != "tenants":
            # a default or cluster setting: the tenants it changes, not those that
            # come or go (their own keys say so)
            scoped = [t for t in scoped if t.op == "changed"] or scoped
        scoped += shared
        if change.op == "changed" and _scalar(change.old) and _scalar(change.new):
            hits = [
                (t, o)
                for t in scoped
                for o in t.objects
                if o.op == "changed"
                and any(f.old == change.old and f.new == change.new for f in o.fields)
            ]
            if hits:
                change.tenants = len({id(t) for t, _ in hits if t.name is not None})
                change.objects = len(hits)
                continue
        change.tenants = sum(1 for t in scoped if t.name is not None)
        change.objects = sum(len(t.objects) for t in scoped)


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


# --- the three ways to get two sides -------------------------------------------


def diff_git(
    config_path: Path, base_ref: str | None = None, *, option: str = "--base"
) -> DiffResult:
    """tenants.yaml at a git revision (default: the merge base of HEAD with the
    main branch) against the working tree's file. Nothing is checked out.

    When tenants.yaml does not exist at the base but the tree there holds objects
    of the kinds gitopsgen generates (a hand-made repository being migrated), the
    base's objects are compared with what the working tree's file generates plus
    the repository's other files (:func:`diff_tree`)."""
    from gitopsgen import gitutil
    from gitopsgen.config import load
    from gitopsgen.diffbase import load_sides

    config_path = Path(config_path)
    where = config_path.resolve().parent if config_path.exists() else Path.cwd()
    top = gitutil.toplevel(where)
    base = gitutil.named_base(base_ref, top, option) if base_ref else gitutil.default_base(top)
    rel = Path(config_path.resolve()).relative_to(top.resolve()).as_posix()
    side_name = f"base ({base.ref}:{rel})"
    if not base_ref:
        side_name = f"base ({base.short}:{rel})"
    raw = gitutil.read_blob(base.commit, rel, top)
    label = f"{rel} at {base.label}"
    head_label = f"{rel} (working tree)"
    if raw is None:
        project = _head_project(config_path, load)
        root_rel = _top_relative(project.repository_root, top)
        files = gitutil.list_tree(base.commit, root_rel, top) or []
        result = _tree_diff(project, top, base.commit, base.label, root_rel, files)
        if result is None:
            result = compare_sides(
                empty_side(label),
                side_from_config(head_label, project.config, project.flux_root),
            )
            result.notes.append(f"{rel} does not exist at {base.label}: everything is added")
        result.base_commit = base.commit
        return result
    old_config, old_doc, project = load_sides(raw, rel, side_name, config_path)
    result = compare_configs(
        label,
        old_config,
        head_label,
        project.config,
        project.flux_root,
        old_doc,
        project.document,
    )
    result.base_commit = base.commit
    result.config_file = rel
    return result


def _top_relative(path: Path, top: Path) -> str:
    rel = Path(path).resolve().relative_to(top.resolve()).as_posix()
    return "" if rel == "." else rel


def diff_tree(config_path: Path, spec: str) -> DiffResult:
    """``--base-tree REF:PATH``: the objects of the (hand-made) tree at ``PATH`` in
    revision ``REF`` against what tenants.yaml generates plus the repository's
    other files, object by object."""
    from gitopsgen import gitutil
    from gitopsgen.config import load

    ref, sep, path = spec.partition(":")
    if not sep or not ref:
        raise GitopsgenError(f"--base-tree {spec}: expected REF:PATH, e.g. main:. or v1.2:platform")
    config_path = Path(config_path)
    where = config_path.resolve().parent if config_path.exists() else Path.cwd()
    top = gitutil.toplevel(where)
    base = gitutil.named_base(ref, top, "--base-tree")
    tree = posixpath.normpath(path.strip("/")) if path.strip("/") else ""
    tree = "" if tree == "." else tree
    files = gitutil.list_tree(base.commit, tree, top)
    if files is None:
        raise GitopsgenError(f"--base-tree {spec}: {tree or '.'} does not exist at {base.label}")
    project = _head_project(config_path, load)
    result = _tree_diff(project, top, base.commit, base.label, tree, files, forced=True)
    assert result is not None
    result.base_commit = base.commit
    return result


_YAML_SUFFIXES = (".yaml", ".yml")
_DOC_MARKER = re.compile(r"^(---|\.\.\.)(?=[ \t]|$)(.*)$")


def read_documents(raw: bytes, path: str) -> list[Document]:
    """Every document of a (multi-document) YAML file, each read by
    :func:`gitopsgen.reader.read_text` with its limits and located errors (with the
    file's line numbers). A marker line (``---`` or ``...`` at the start of a line)
    always ends a document in YAML 1.2, so the file is split there."""
    import dataclasses

    from gitopsgen.reader import MAX_BYTES, read_text

    if len(raw) > MAX_BYTES:
        read_text(raw, path)  # raises the located size error
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        read_text(raw, path)  # raises the located encoding error
        raise
    lines = text.split("\n")
    docs: list[Document] = []

    def read(start: int, end: int) -> None:
        body = lines[start:end]
        if not any(line.strip() and not line.lstrip().startswith("#") for line in body):
            return
        try:
            docs.append(read_text("\n".join(body), path))
        except ConfigError as exc:
            shifted = [dataclasses.replace(p, line=p.line + start) for p in exc.problems]
            raise ConfigError(shifted) from None

    start = 0
    for i, line in enumerate(lines):
        m = _DOC_MARKER.match(line)
        if m is None:
            continue
        read(start, i)
        lines[i] = m.group(2) if m.group(1) == "---" else ""
        start = i
    read(start, len(lines))
    return docs


def _flux_targets(
    files: dict[str, list[Obj]], tree: str, names: Iterable[str], layout: Layout
) -> dict[str, tuple[str | None, str | None]]:
    """Directory (tree relative) -> (target, targetNamespace) from the tree's Flux
    Kustomizations. With ``spec.kubeConfig`` Flux applies ``spec.path`` inside the
    cluster the kubeconfig Secret reaches: here the vcluster whose Secret it names
    (fluxcd/kustomize-controller api/v1/kustomization_types.go at 02e1e73: KubeConfig
    "for reconciling the Kustomization on a remote cluster", TargetNamespace "sets or
    overrides the namespace in the kustomization.yaml file", Path relative to the
    root of the SourceRef)."""
    secrets = {TenantNames(n).kubeconfig_secret: n for n in names}
    out: dict[str, tuple[str | None, str | None]] = {}
    for docs in files.values():
        for doc in docs:
            if doc.get("kind") != "Kustomization":
                continue
            if not str(doc.get("apiVersion", "")).startswith("kustomize.toolkit.fluxcd.io/"):
                continue
            spec = doc.get("spec")
            if not isinstance(spec, dict) or not isinstance(spec.get("path"), str):
                continue
            target = None
            ref = spec.get("kubeConfig")
            if isinstance(ref, dict):
                secret = ref.get("secretRef")
                name = secrets.get(str(secret.get("name"))) if isinstance(secret, dict) else None
                meta = doc.get("metadata")
                if name is None and isinstance(meta, dict):
                    name = layout.tenant_of_namespace(meta.get("namespace"))
                target = layout.vcluster(TenantNames(name)) if name else None
            ns = spec.get("targetNamespace")
            out[_tree_path(spec["path"], tree)] = (target, ns if isinstance(ns, str) else None)
    return out


def _tree_path(flux_path: str, tree: str) -> str:
    """A Flux ``spec.path`` (relative to the source root) as a path inside ``tree``."""
    rel = posixpath.normpath("/" + flux_path).lstrip("/")
    if tree and (rel == tree or rel.startswith(tree + "/")):
        rel = rel[len(tree) + 1 :]
    return rel


def side_from_tree(
    label: str,
    files: dict[str, bytes],
    tree: str,
    layout: Layout,
    names: Iterable[str],
    skipped: list[str],
) -> Side:
    """The objects of a hand-made tree: ``files`` maps top-level relative paths
    (below ``tree``) to their bytes. An object without a namespace of its own gets
    its Flux Kustomization's ``targetNamespace``, else the one its directory's
    kustomization gives, else the layout's; it is applied where its Flux
    Kustomization applies it (inside a vcluster with ``kubeConfig``), else where
    the layout says (the seed layout is version 1's). A file that cannot be read
    within the reader's limits is left out, its first located problem added to
    ``skipped``."""
    names = list(names)
    parsed: dict[str, list[Obj]] = {}
    for path, raw in sorted(files.items()):
        if not path.endswith(_YAML_SUFFIXES):
            continue
        rel = path[len(tree) + 1 :] if tree else path
        try:
            docs = [d.data for d in read_documents(raw, path)]
        except ConfigError as exc:
            skipped.append(exc.lines()[0])  # a chart template, a broken file: said, not fatal
            continue
        parsed[rel] = [d for d in docs if isinstance(d, dict)]
    namespaces: dict[str, str] = {}
    for rel, docs in parsed.items():
        if posixpath.basename(rel) not in ("kustomization.yaml", "kustomization.yml"):
            continue
        for doc in docs:
            ns = doc.get("namespace")
            api = str(doc.get("apiVersion", ""))
            if isinstance(ns, str) and api.startswith("kustomize.config.k8s.io/"):
                namespaces[posixpath.dirname(rel)] = ns
    flux = _flux_targets(parsed, tree, names, layout)
    outputs: list[RenderedFile] = []
    for rel, docs in parsed.items():
        placement = layout.locate(rel)
        directory = posixpath.dirname(rel)
        probe = directory
        found: tuple[str | None, str | None] = (None, None)
        while True:
            if probe in flux:
                found = flux[probe]
                break
            if not probe:
                break
            probe = posixpath.dirname(probe)
        target = found[0] or (placement.target if placement is not None else layout.host)
        namespace = found[1] or namespaces.get(directory)
        if namespace is None and placement is not None:
            namespace = placement.namespace
        tenant = placement.tenant if placement is not None else None
        owners = None
        if tenant is None:
            owners = tuple(layout.tenant_of_namespace(_namespace(d) or namespace) for d in docs)
        where = f"{tree}/{rel}" if tree else rel
        outputs.append(
            RenderedFile(where, tuple(docs), tenant, namespace, target, doc_tenants=owners)
        )
    return side_from_outputs(label, outputs, ())


def _under(path: str, directory: str) -> bool:
    return bool(directory) and (path + "/").startswith(directory + "/")


def _tree_diff(
    project: Any,
    top: Path,
    commit: str,
    base_label: str,
    tree: str,
    files: list[str],
    *,
    forced: bool = False,
) -> DiffResult | None:
    """The migration diff, or None when the base tree holds no object of a
    generated kind (and ``forced`` is not set)."""
    from gitopsgen import gitutil
    from gitopsgen.render import GENERATED_KINDS

    output_rel = _top_relative(project.output_dir, top)
    wanted = [f for f in files if f.endswith(_YAML_SUFFIXES) and not _under(f, output_rel)]
    blobs = gitutil.read_blobs(commit, wanted, top)
    platform = resolve(project.config, project.flux_root)
    layout = platform.clusters[0].layout
    names = [t.name for t in platform.tenants()]
    where = f"{tree or '.'} at {base_label}"
    skipped_old: list[str] = []
    old = side_from_tree(where, blobs, tree, layout, names, skipped_old)
    if not forced and not any(key.kind in GENERATED_KINDS for key in old.objects):
        return None
    # The head: what tenants.yaml generates, and every other tracked file of the tree.
    generated = side_from_config(
        f"{project.config_path} (working tree)", project.config, project.flux_root
    )
    head_tree = _top_relative(project.repository_root, top)
    config_file = project.config_path.resolve()
    disk: dict[str, bytes] = {}
    for f in gitutil.tracked_files(project.repository_root, top):
        if not f.endswith(_YAML_SUFFIXES) or _under(f, output_rel):
            continue
        if (top / f).resolve() == config_file:
            continue
        try:
            disk[f] = (top / f).read_bytes()
        except OSError:
            continue  # deleted in the work tree, not committed yet
    skipped_new: list[str] = []
    hand = side_from_tree("work tree", disk, head_tree, layout, names, skipped_new)
    twice: dict[str, list[ObjectId]] = {}
    new = Side(generated.label, dict(generated.objects), set(generated.tenants), None)
    for key, located in hand.objects.items():
        if key in new.objects:
            twice.setdefault(located.path, []).append(key)
            continue
        new.objects[key] = located
    notes = [
        f"{path}: {', '.join(k.display() for k in keys[:3])}"
        + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
        + " generated and also defined by hand here: remove the hand-made file"
        for path, keys in sorted(twice.items())
    ]
    # A Flux Kustomization whose path moved into the generated tree applies the
    # objects found there now; those are compared one by one, so the new path alone
    # is no change to the cluster.
    generated_dirs: set[str] = set()
    for located in generated.objects.values():
        d = posixpath.dirname(located.path)
        while d and d not in generated_dirs:
            generated_dirs.add(d)
            d = posixpath.dirname(d)
    relocated = 0
    prefix = project.flux_root.rstrip("/")
    for key, located in list(old.objects.items()):
        spec = located.doc.get("spec")
        after = new.objects.get(key)
        if key.group != "kustomize.toolkit.fluxcd.io" or not isinstance(spec, dict):
            continue
        path = spec.get("path")
        if not isinstance(path, str) or after is None:
            continue
        rel = _tree_path(path, tree)
        moved = f"{prefix}/{rel}"
        after_spec = after.doc.get("spec")
        if (
            rel in generated_dirs
            and isinstance(after_spec, dict)
            and after_spec.get("path") == moved
        ):
            relocated += 1
            fixed = {**located.doc, "spec": {**spec, "path": moved}}
            old.objects[key] = located._replace(doc=fixed)
    result = compare_sides(old, new)
    result.base = f"hand-made tree {where}"
    shown = _top_relative(project.config_path, top) or project.config_path.name
    result.head = f"{shown} (generated) and the work tree's other files"
    result.mode = "migration"
    result.notes.append(
        f"tenants.yaml does not exist at {base_label}: the {len(old.objects)} objects of the "
        f"tree {tree or '.'} there are compared by identity with the {len(new.objects)} "
        "objects tenants.yaml generates plus those of the repository's other files"
    )
    if relocated:
        result.notes.append(
            f"{relocated} Flux Kustomization(s) now take their path from {prefix}/ and apply "
            "the objects compared here; the new path alone changes nothing in the cluster"
        )
    # The generated objects count only if Flux reaches them: a missing wiring line
    # means the cluster would lose them instead (gitopsgen check says which line).
    from gitopsgen.wiring import check_wiring

    unwired = [f for f in check_wiring(project) if f.severity == "error"]
    if unwired:
        result.notes.insert(
            0,
            f"WARNING: {len(unwired)} wiring line(s) missing: Flux does not reach the "
            "generated tree, so until they are added the cluster loses its objects instead "
            f"(run `gitopsgen check`): "
            f"{os.path.relpath(unwired[0].file, project.repository_root)}: {unwired[0].message}",
        )
    if len(platform.clusters) > 1:
        result.notes.append(
            f"the hand-made tree is read as host cluster {platform.clusters[0].name}'s: "
            "with several clusters, name one tree per cluster with --base-tree"
        )
    for side_name, problems in (("base", skipped_old), ("work tree", skipped_new)):
        if problems:
            shown = "; ".join(problems[:5])
            more = f" and {len(problems) - 5} more" if len(problems) > 5 else ""
            result.notes.append(
                f"{side_name}: {_plural_files(len(problems))} not read (their objects are not "
                f"compared): {shown}{more}"
            )
    result.notes += notes
    return result


def _plural_files(n: int) -> str:
    return "1 YAML file" if n == 1 else f"{n} YAML files"


def _head_project(config_path: Path, load: Any) -> Any:
    try:
        return load(config_path, allow_outside=True)
    except ConfigError as exc:
        raise SideError(f"working tree ({config_path})", exc) from None


def diff_files(base_path: Path, config_path: Path, option: str = "--base") -> DiffResult:
    """Another tenants.yaml (``--base PATH`` / ``--base-file PATH``) against ``config_path``."""
    from gitopsgen.diffbase import load_sides
    from gitopsgen.fsio import read_limited
    from gitopsgen.reader import MAX_BYTES

    try:
        raw = read_limited(Path(base_path), MAX_BYTES)  # /dev/zero is refused unread
    except ValueError as exc:
        raise GitopsgenError(f"{option} {base_path}: {exc}") from None
    except OSError as exc:
        raise GitopsgenError(f"{option} {base_path}: cannot read: {exc.strerror}") from None
    old, old_doc, project = load_sides(
        raw, str(base_path), f"base ({base_path})", config_path, Path(base_path)
    )
    head_label = f"{config_path} (working tree)"
    return compare_configs(
        str(base_path),
        old,
        head_label,
        project.config,
        project.flux_root,
        old_doc,
        project.document,
    )


def _disk_output(
    rel: str, docs: tuple[Obj, ...], like: RenderedFile, layout: Layout
) -> RenderedFile:
    """A file of documents read from disk, laid out like ``like``. In a shared
    file (the ReferenceGrants) each document's tenant is the one whose namespace
    it lives in."""
    owners = None
    if like.tenant is None:
        owners = tuple(layout.tenant_of_namespace(_namespace(d)) for d in docs)
    return RenderedFile(rel, docs, like.tenant, like.namespace, like.target, doc_tenants=owners)


def _namespace(doc: Obj) -> str | None:
    meta = doc.get("metadata")
    namespace = meta.get("namespace") if isinstance(meta, dict) else None
    return namespace if isinstance(namespace, str) else None


def _stale_layout(rel: str, platform: Platform) -> tuple[RenderedFile, Layout]:
    """Where a file at ``rel`` that build no longer writes belongs, by its path."""
    for cluster in platform.clusters:
        found = cluster.layout.locate(rel)
        if found is not None:
            return RenderedFile.at(rel, found, ()), cluster.layout
    layout = platform.clusters[0].layout
    return RenderedFile(rel, (), target=layout.host), layout


def owner_of_path(rel: str, platform: Platform) -> str | None:
    return next((o for c in platform.clusters if (o := c.layout.owner(rel)) is not None), None)


def _load_docs(data: bytes, where: str) -> tuple[Obj, ...]:
    from gitopsgen.errors import ConfigError
    from gitopsgen.reader import load_all

    try:
        docs = load_all(data, where)  # the one reader, with its size/depth/alias limits
    except ConfigError as exc:
        problem = exc.problems[0]
        raise GitopsgenError(
            f"{where}:{problem.line}:{problem.column}: not valid YAML: {problem.message}"
        ) from None
    except (ValueError, TypeError, RecursionError, OverflowError) as exc:
        reason = " ".join(str(exc).split())[:120]
        raise GitopsgenError(f"{where}: not readable YAML: {reason}") from None
    return tuple(d for d in docs if isinstance(d, dict))


def diff_against_disk(config_path: Path) -> DiffResult:
    """The tree on disk against what ``build`` would write: a detailed ``check``.

    Only files whose bytes differ are read and compared.
    """
    from gitopsgen.config import load
    from gitopsgen.plan import MANIFEST, plan_platform
    from gitopsgen.tree import compare

    project = _head_project(Path(config_path), load)
    platform = resolve(project.config, project.flux_root)
    plan = plan_platform(platform, project.source_name)
    cmp = compare(plan, project.output_dir)
    root = project.output_dir
    old_outputs: list[RenderedFile] = []
    for rel in cmp.changed:
        if rel == MANIFEST:
            continue
        docs = _load_docs(cmp.old[rel], str(root / rel))
        like = plan[rel].output
        old_outputs.append(_disk_output(rel, docs, like, _stale_layout(rel, platform)[1]))
    for rel in cmp.stale:
        if rel == MANIFEST:
            continue
        path = root / rel
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise GitopsgenError(f"{path}: cannot read: {exc.strerror}") from None
        docs = _load_docs(data, str(path))
        like, layout = _stale_layout(rel, platform)
        old_outputs.append(_disk_output(rel, docs, like, layout))
    new_outputs = [plan[rel].output for rel in (*cmp.missing, *cmp.changed) if rel != MANIFEST]
    owned = set(cmp.changed) | set(cmp.unchanged) | set(cmp.stale)
    on_disk = {n for rel in owned if (n := owner_of_path(rel, platform)) is not None}
    old = side_from_outputs(f"disk: {root}", old_outputs, on_disk)
    new = side_from_outputs(
        f"build: {project.config_path}", new_outputs, (t.name for t in project.config.tenants)
    )
    result = compare_sides(old, new)
    result.mode = "disk"
    for rel in cmp.conflicts:
        result.notes.append(
            f"{rel}: a file gitopsgen did not write stands where build must write; "
            "build will refuse until it is moved away"
        )
    return result
