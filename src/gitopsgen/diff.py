"""Semantic diff of two generated trees: object by object, field by field.

Two *sides* (the base and the new tree) are sets of Kubernetes objects, each
known by its identity: the cluster it is applied to (``host`` or
``vcluster-<n>``), its kind and API group, its effective namespace and its name.
Files play no part: an object that moves to another file is unchanged, and an
apiVersion change of the same kind and name is a change, not a removal plus an
addition. Kustomize index files (``kustomization.yaml``) are build instructions,
not cluster objects; what they list shows up as objects added or removed.

Field changes come from deepdiff after lists of named items (containers, env,
dependsOn, ports with names, ...) are turned into mappings keyed by name, so
reordering them is not a change and paths read ``containers[name=nginx].image``.
Only objects whose data differ are diffed, so the cost stays linear.

Every object change belongs to its tenant (``RenderedFile.tenant``) or to the shared
section; tenants that appear or go away, and the tenant attributes that changed
in tenants.yaml (ip, hostname, authDelegator, values), are summarised first.
No click here: :mod:`gitopsgen.diffreport` renders a :class:`DiffResult`.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

from gitopsgen.errors import ConfigError, GitopsgenError
from gitopsgen.identity import ObjectId, identify
from gitopsgen.layout import Layout
from gitopsgen.model import AnyConfig
from gitopsgen.platform import Platform, Tenant, resolve
from gitopsgen.render import Context, RenderedFile, render_platform, workloads

__all__ = [
    "DiffResult",
    "FieldChange",
    "ObjectChange",
    "ObjectId",
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
TENANT_ATTRIBUTES = ("ip", "hostname", "authDelegator", "values", *workloads.ATTRIBUTES)


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


@dataclass
class DiffResult:
    base: str
    head: str
    tenants: list[TenantDiff] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

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
    return {n for n in before.keys() | after.keys() if before.get(n) != after.get(n)}


def compare_configs(
    old_label: str,
    old: AnyConfig,
    new_label: str,
    new: AnyConfig,
    new_root: str | None = None,
) -> DiffResult:
    """Compile both configs in memory and compare them; tenants that are equal on
    both sides (with equal defaults) are skipped, which keeps a one-tenant change
    cheap at thousands of tenants."""
    old_root = flux_root_of(old)
    new_root = new_root or flux_root_of(new)
    only = changed_tenants(old, new, old_root, new_root)
    return compare_sides(
        side_from_config(old_label, old, old_root, only),
        side_from_config(new_label, new, new_root, only),
    )


def empty_side(label: str) -> Side:
    """No tenants.yaml (yet): no objects, no tenants."""
    return Side(label, attributes={})


def parse_side(raw: bytes, source: str, side: str) -> AnyConfig:
    """Validate the text of one side's tenants.yaml; errors say which side."""
    from gitopsgen.config import parse

    try:
        config, _ = parse(raw, source)
    except ConfigError as exc:
        raise SideError(side, exc) from None
    return config


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


def field_changes(old: Obj, new: Obj) -> list[FieldChange]:
    """The fields that differ between two versions of one object, in path order."""
    from deepdiff import DeepDiff

    a, b = _keyed(old), _keyed(new)
    tree = DeepDiff(a, b, view="tree")
    changes: list[tuple[tuple[str, ...], FieldChange]] = []
    for category, levels in tree.items():
        op = _CATEGORIES.get(category)
        if op is None:  # pragma: no cover - plain data has no other categories
            continue
        for level in levels:
            elements = level.path(output_format="list")
            text, segments = _path(elements, a, b)
            change = FieldChange(
                path=text,
                segments=segments,
                op=op,
                old=None if op == "added" else _plain(level.t1),
                new=None if op == "removed" else _plain(level.t2),
            )
            changes.append((tuple(str(e) for e in elements), change))
    changes.sort(key=lambda pair: pair[1].path)
    return [c for _, c in changes]


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
    for name in sorted(old.tenants | new.tenants | {n for n in by_tenant if n is not None}):
        objects = by_tenant.get(name, [])
        attrs: list[FieldChange] = []
        op: Op
        if name not in new.tenants:
            op = "removed"
        elif name not in old.tenants:
            op = "added"
        else:
            op = "changed"
            if old.attributes is not None and new.attributes is not None:
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
    return result


# --- the three ways to get two sides -------------------------------------------


def diff_git(config_path: Path, base_ref: str | None = None) -> DiffResult:
    """tenants.yaml at a git revision (default: the merge base of HEAD with the
    main branch) against the working tree's file. Nothing is checked out."""
    from gitopsgen import gitutil
    from gitopsgen.config import load

    config_path = Path(config_path)
    where = config_path.resolve().parent if config_path.exists() else Path.cwd()
    top = gitutil.toplevel(where)
    base = gitutil.named_base(base_ref, top) if base_ref else gitutil.default_base(top)
    rel = Path(config_path.resolve()).relative_to(top.resolve()).as_posix()
    side_name = f"base ({base.ref}:{rel})"
    if not base_ref:
        side_name = f"base ({base.short}:{rel})"
    raw = gitutil.read_blob(base.commit, rel, top)
    label = f"{rel} at {base.label}"
    old_config = None if raw is None else parse_side(raw, rel, side_name)
    project = _head_project(config_path, load)
    head_label = f"{config_path} (working tree)"
    if old_config is None:
        result = compare_sides(
            empty_side(label),
            side_from_config(head_label, project.config, project.flux_root),
        )
        result.notes.append(f"{rel} does not exist at {base.label}: everything is added")
        return result
    return compare_configs(label, old_config, head_label, project.config, project.flux_root)


def _head_project(config_path: Path, load: Any) -> Any:
    try:
        return load(config_path, allow_outside=True)
    except ConfigError as exc:
        raise SideError(f"working tree ({config_path})", exc) from None


def diff_files(base_path: Path, config_path: Path) -> DiffResult:
    """Another tenants.yaml (``--base PATH``) against ``config_path``."""
    from gitopsgen.config import load
    from gitopsgen.fsio import read_limited
    from gitopsgen.reader import MAX_BYTES

    try:
        raw = read_limited(Path(base_path), MAX_BYTES)  # /dev/zero is refused unread
    except ValueError as exc:
        raise GitopsgenError(f"--base {base_path}: {exc}") from None
    except OSError as exc:
        raise GitopsgenError(f"--base {base_path}: cannot read: {exc.strerror}") from None
    old = parse_side(raw, str(base_path), f"base ({base_path})")
    project = _head_project(Path(config_path), load)
    head_label = f"{config_path} (working tree)"
    return compare_configs(str(base_path), old, head_label, project.config, project.flux_root)


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
    for rel in cmp.conflicts:
        result.notes.append(
            f"{rel}: a file gitopsgen did not write stands where build must write; "
            "build will refuse until it is moved away"
        )
    return result
