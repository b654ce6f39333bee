"""Import an existing repository laid out like the seed into a tenants.yaml.

What is read, and from where:

- the pool: ``spec.addresses`` of every MetalLB ``IPAddressPool``;
- reserved addresses: the ``metallb.universe.tf/loadBalancerIPs`` annotations of
  every HelmRelease (and LoadBalancer Service) that is not a tenant's vcluster,
  named after the release, or after the values key that holds the service
  (``grafana``, ``prometheus`` in kube-prometheus-stack);
- tenants: each ``clusters/vcluster-<name>/`` with a HelmRelease ``vcluster-<name>``;
  the address from its LoadBalancer annotation; ``authDelegator`` from its
  ``vcluster-<name>:auth-delegator`` ClusterRoleBinding; ``hostname`` from its
  HTTPRoute when it is not the default; and ``vcluster.values``: the difference
  between the release's values and the values gitopsgen renders for the tenant
  (``render.vcluster.helm_values``), so that merging gives them back exactly.

Then the tenants.yaml is rendered and every object it produces is compared with
the object of the same kind, name and namespace in the repository. Whatever does
not match, every file in a tenant's directories that nothing produces, and files
gitopsgen does not generate that name a tenant are listed, by file, as
``unmapped``: tenants.yaml cannot express them, and the caller shows them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitopsgen.config import parse
from gitopsgen.emit import dump
from gitopsgen.errors import ConfigError, GitopsgenError
from gitopsgen.identity import ObjectId, identify
from gitopsgen.layout import HOST, TenantNames
from gitopsgen.model import Config, Tenant
from gitopsgen.plan import render_outputs
from gitopsgen.platform import hostname, resolve, v1_layout
from gitopsgen.render.base import Context
from gitopsgen.render.vcluster import helm_values

# A seed-like repository has the version 1 layout.
_LAYOUT = v1_layout(Config.model_validate({"version": 1, "pool": ["0.0.0.0-0.0.0.0"]}).defaults)

__all__ = ["ImportResult", "import_tree", "values_override"]

LB_ANNOTATION = "metallb.universe.tf/loadBalancerIPs"
_SKIP_DIRS = {".git", "node_modules", ".venv"}
_KUSTOMIZE = "kustomize.config.k8s.io/"


@dataclass
class ImportResult:
    config: Config
    text: str
    unmapped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Obj:
    path: str  # relative POSIX path of the file
    index: int  # document index in the file
    data: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.data.get("kind", ""))

    @property
    def name(self) -> str:
        meta = self.data.get("metadata")
        return str(meta.get("name", "")) if isinstance(meta, dict) else ""

    @property
    def namespace(self) -> str | None:
        meta = self.data.get("metadata")
        ns = meta.get("namespace") if isinstance(meta, dict) else None
        return str(ns) if ns is not None else None


def _key(obj: dict[str, Any], path: str) -> ObjectId | None:
    """The object's identity; one without a namespace of its own is placed in its
    directory (the file's kustomization is not read), so the per-vcluster
    HelmRepositories ``loft`` stay apart."""
    found = identify(obj, "dir:" + os.path.dirname(path), HOST)
    return found[0] if found is not None else None


def _load_tree(root: Path, unmapped: list[str]) -> tuple[list[_Obj], dict[str, str]]:
    """Every object of every YAML file under root, and the text of every file."""
    from gitopsgen.errors import ConfigError
    from gitopsgen.fsio import read_limited
    from gitopsgen.reader import MAX_BYTES, load_all

    objects: list[_Obj] = []
    texts: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        for filename in sorted(filenames):
            full = Path(dirpath) / filename
            rel = full.relative_to(root).as_posix()
            try:
                # bounded: a huge file, a FIFO or a device is never read whole
                text = read_limited(full, MAX_BYTES).decode("utf-8")
            except (OSError, UnicodeDecodeError, ValueError):
                texts[rel] = ""
                continue
            texts[rel] = text
            if not filename.endswith((".yaml", ".yml")):
                continue
            try:
                docs = load_all(text, rel)  # the one reader, with its limits
            except ConfigError as exc:
                problem = exc.problems[0]
                reason = f"{problem.line}:{problem.column}: {problem.message}"
                unmapped.append(f"{rel}: not valid YAML, skipped ({reason})")
                continue
            for index, doc in enumerate(docs):
                if isinstance(doc, dict) and "kind" in doc:
                    objects.append(_Obj(rel, index, doc))
    return objects, texts


def _annotation_holders(values: Any, trail: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Key paths (within values) of mappings whose annotations carry an LB address."""
    if isinstance(values, dict):
        annotations = values.get("annotations")
        if isinstance(annotations, dict) and LB_ANNOTATION in annotations:
            yield trail
        for key, value in values.items():
            if key != "annotations":
                yield from _annotation_holders(value, (*trail, str(key)))
    elif isinstance(values, list):
        for item in values:
            yield from _annotation_holders(item, trail)


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def values_override(actual: Any, default: Any) -> dict[str, Any]:
    """The smallest override with ``deep_merge(default, override) == actual``:
    changed and new keys, and ``None`` for keys ``actual`` does not have."""
    out: dict[str, Any] = {}
    for key, value in actual.items():
        if key not in default:
            out[key] = value
        elif isinstance(value, dict) and isinstance(default[key], dict):
            sub = values_override(value, default[key])
            if sub:
                out[key] = sub
        elif value != default[key]:
            out[key] = value
    for key in default:
        if key not in actual:
            out[key] = None
    return out


def _differences(new: Any, old: Any, trail: str = "") -> Iterator[str]:
    if isinstance(new, dict) and isinstance(old, dict):
        for key in new:
            where = f"{trail}.{key}" if trail else str(key)
            if key not in old:
                yield f"{where} (gitopsgen adds it)"
            else:
                yield from _differences(new[key], old[key], where)
        for key in old:
            if key not in new:
                yield (f"{trail}.{key}" if trail else str(key)) + " (only in the repository)"
    elif new != old:
        yield trail or "(the whole object)"


def _describe(key: ObjectId) -> str:
    scope = key.namespace
    plain = not scope or scope.startswith("dir:")
    return f"{key.kind} {key.name}" + ("" if plain else f" (namespace {scope})")


def _tenant_names(objects: list[_Obj]) -> dict[str, _Obj]:
    """clusters/vcluster-<name>/ directories with a HelmRelease vcluster-<name>."""
    found: dict[str, _Obj] = {}
    for obj in objects:
        if obj.kind != "HelmRelease" or obj.path.count("/") != 2:
            continue
        name = _LAYOUT.owner(obj.path)
        if (
            name is not None
            and obj.path.startswith(_LAYOUT.vcluster_dir(TenantNames(name)).path + "/")
            and obj.name == TenantNames(name).vcluster
        ):
            found[name] = obj
    return dict(sorted(found.items()))


def _owned_by(path: str, name: str) -> bool:
    """Whether ``path`` is one of tenant ``name``'s own files in the seed layout."""
    return _LAYOUT.owner(path) == name


def import_tree(root: Path) -> ImportResult:
    """Read the repository at ``root`` and build the tenants.yaml that reproduces it."""
    unmapped: list[str] = []
    objects, texts = _load_tree(root, unmapped)

    pools = [o for o in objects if o.kind == "IPAddressPool"]
    pool: list[str] = []
    for obj in pools:
        addresses = _get(obj.data, "spec", "addresses")
        if isinstance(addresses, list):
            pool += [str(a) for a in addresses if str(a) not in pool]
    if not pool:
        raise GitopsgenError(
            f"{root}: no MetalLB IPAddressPool with spec.addresses found; cannot import"
        )

    releases = _tenant_names(objects)
    if not releases:
        raise GitopsgenError(
            f"{root}: no clusters/vcluster-<name>/ directory with a HelmRelease "
            "vcluster-<name> found; is this a seed-like repository?"
        )

    # Reserved: LoadBalancer addresses of everything that is not a tenant vcluster.
    reserved: dict[str, str] = {}
    tenant_releases = {id(o) for o in releases.values()}
    for obj in objects:
        if obj.kind == "HelmRelease" and id(obj) not in tenant_releases:
            values = _get(obj.data, "spec", "values")
            for trail in _annotation_holders(values):
                holder = _get(values, *trail) if trail else values
                annotation = holder["annotations"][LB_ANNOTATION]
                service = obj.name if len(trail) <= 1 else trail[0]
                _reserve(reserved, service, str(annotation), obj.path, unmapped)
        elif obj.kind == "Service" and _get(obj.data, "spec", "type") == "LoadBalancer":
            annotation = _get(obj.data, "metadata", "annotations", LB_ANNOTATION)
            if annotation is not None:
                _reserve(reserved, obj.name, str(annotation), obj.path, unmapped)

    base = Config.model_validate({"version": 1, "pool": pool, "reserved": reserved})
    defaults = _defaults(releases, objects, base)
    base = Config.model_validate(
        {"version": 1, "pool": pool, "reserved": reserved, "defaults": defaults}
    )
    by_key: dict[ObjectId, _Obj] = {}
    for obj in objects:
        key = _key(obj.data, obj.path)
        if key is not None:
            by_key.setdefault(key, obj)

    tenants: list[dict[str, Any]] = []
    for name, release in releases.items():
        values = _get(release.data, "spec", "values") or {}
        ip = _get(values, "controlPlane", "service", "annotations", LB_ANNOTATION)
        if ip is None:
            unmapped.append(
                f"{release.path}: HelmRelease {release.name} has no {LB_ANNOTATION} "
                "annotation; tenant skipped"
            )
            continue
        entry: dict[str, Any] = {"name": name, "ip": str(ip)}
        plain = Tenant(name=name, ip=str(ip))
        names = TenantNames(name)
        route_host = _route_hostname(objects, name)
        if route_host is not None and route_host != hostname(plain, names, base.defaults):
            entry["hostname"] = route_host
        vcluster: dict[str, Any] = {}
        rbac = "rbac.authorization.k8s.io"
        binding = ObjectId(HOST, rbac, "ClusterRoleBinding", "", names.auth_delegator)
        if binding in by_key:
            vcluster["authDelegator"] = True
        platform = resolve(base.model_copy(update={"tenants": [plain]}), ".")
        generated = helm_values(Context(platform), platform.by_name[name])
        override = values_override(values, generated)
        if override:
            vcluster["values"] = override
        if vcluster:
            entry["vcluster"] = vcluster
        tenants.append(entry)

    data: dict[str, Any] = {"version": 1, "output": "generated", "pool": pool}
    if reserved:
        data["reserved"] = dict(sorted(reserved.items(), key=lambda kv: _sort_ip(kv[1])))
    if defaults:
        data["defaults"] = defaults
    data["tenants"] = tenants
    body = dump(data)
    text = (
        _HEADER.format(source=root.name or str(root)) + body + ("" if body.endswith("\n") else "\n")
    )
    try:
        config, _ = parse(text, "tenants.yaml")
    except ConfigError as exc:
        raise GitopsgenError(
            f"{root}: the imported tenants.yaml would not be valid:\n"
            + "\n".join(f"  {p.format()}" for p in exc.problems)
        ) from None

    assert isinstance(config, Config), "import writes version 1 files"
    unmapped += _compare(config, objects, texts, by_key)
    return ImportResult(config, text, unmapped)


_HEADER = """\
# yaml-language-server: $schema=schema/tenants.schema.json
#
# Imported by `gitopsgen import` from {source}. The one source of truth for the
# platform's tenants: edit it (or use add-tenant / remove-tenant), then run
# `gitopsgen build`.
"""


def _sort_ip(text: str) -> tuple[int, str]:
    from gitopsgen.ipam import parse_address

    try:
        return (int(parse_address(text)), text)
    except ValueError:
        return (-1, text)


def _reserve(
    reserved: dict[str, str], service: str, annotation: str, path: str, unmapped: list[str]
) -> None:
    addresses = [a.strip() for a in annotation.split(",") if a.strip()]
    for i, address in enumerate(addresses):
        key = service if i == 0 else f"{service}-{i + 1}"
        if address in reserved.values():
            continue
        if key in reserved:
            unmapped.append(f"{path}: a second service named {key!r} ({address}); not reserved")
            continue
        reserved[key] = address


def _route_hostname(objects: list[_Obj], name: str) -> str | None:
    for obj in objects:
        if obj.kind == "HTTPRoute" and _owned_by(obj.path, name):
            hostnames = _get(obj.data, "spec", "hostnames")
            if isinstance(hostnames, list) and hostnames:
                return str(hostnames[0])
    return None


def _defaults(releases: dict[str, _Obj], objects: list[_Obj], base: Config) -> dict[str, Any]:
    """Defaults that every tenant shares and that differ from gitopsgen's: the chart,
    its repository, the release interval and the ingress domain."""
    chart = base.defaults.vcluster.chart
    found: dict[str, set[str]] = {k: set() for k in ("chart", "version", "repo", "interval")}
    urls: set[str] = set()
    for name, release in releases.items():
        spec = _get(release.data, "spec", "chart", "spec") or {}
        found["chart"].add(str(spec.get("chart", chart.name)))
        found["version"].add(str(spec.get("version", chart.version)))
        found["repo"].add(str(_get(spec, "sourceRef", "name") or chart.repository.name))
        found["interval"].add(str(_get(release.data, "spec", "interval") or "2m"))
        for obj in objects:
            if obj.kind == "HelmRepository" and _owned_by(obj.path, name):
                url = _get(obj.data, "spec", "url")
                if url:
                    urls.add(str(url))
    vcluster: dict[str, Any] = {}
    chart_out: dict[str, Any] = {}
    if len(found["chart"]) == 1 and (v := found["chart"].pop()) != chart.name:
        chart_out["name"] = v
    if len(found["version"]) == 1 and (v := found["version"].pop()) != chart.version:
        chart_out["version"] = v
    repo: dict[str, Any] = {}
    if len(found["repo"]) == 1 and (v := found["repo"].pop()) != chart.repository.name:
        repo["name"] = v
    if len(urls) == 1 and (v := urls.pop()) != chart.repository.url:
        repo["url"] = v
    if repo:
        chart_out["repository"] = repo
    if chart_out:
        vcluster["chart"] = chart_out
    interval = base.defaults.vcluster.interval
    if len(found["interval"]) == 1 and (v := found["interval"].pop()) != interval:
        vcluster["interval"] = v
    out: dict[str, Any] = {}
    if vcluster:
        out["vcluster"] = vcluster
    domains = set()
    for name in releases:
        host = _route_hostname(objects, name)
        prefix = TenantNames(name).tenant + "."
        if host is not None and host.startswith(prefix):
            domains.add(host[len(prefix) :])
    if len(domains) == 1 and (d := domains.pop()) != base.defaults.ingress.domain:
        out["ingress"] = {"domain": d}
    return out


def _compare(
    config: Config,
    objects: list[_Obj],
    texts: dict[str, str],
    by_key: dict[ObjectId, _Obj],
) -> list[str]:
    notes: list[str] = []
    outputs = render_outputs(config, ".")
    produced_paths = {out.path for out in outputs}
    matched: set[int] = set()
    for out in outputs:
        for doc in out.docs:
            if str(doc.get("apiVersion", "")).startswith(_KUSTOMIZE):
                continue  # index files: compared by the resources they list, below
            key = _key(doc, out.path)
            if key is None:
                continue
            seed = by_key.get(key)
            if seed is None:
                notes.append(f"{out.path}: gitopsgen adds {_describe(key)}, not in the repository")
                continue
            matched.add(id(seed))
            where = seed.path + (f" (document {seed.index + 1})" if seed.index else "")
            diffs = list(_differences(doc, seed.data))
            if diffs:
                shown = ", ".join(diffs[:5]) + (
                    f", ... ({len(diffs) - 5} more)" if len(diffs) > 5 else ""
                )
                notes.append(
                    f"{where}: {_describe(key)} differs from what gitopsgen renders: {shown}"
                )
    names = [t.name for t in config.tenants]
    for obj in objects:
        if id(obj) in matched or obj.data.get("apiVersion", "").startswith(_KUSTOMIZE):
            continue
        owner = next((n for n in names if _owned_by(obj.path, n)), None)
        key = _key(obj.data, obj.path)
        if owner is not None and key is not None:
            notes.append(
                f"{obj.path}: {_describe(key)} of tenant {owner} "
                "has no tenants.yaml option; not reproduced"
            )
    yaml_files = {o.path for o in objects}
    for path in sorted(texts):
        owner = next((n for n in names if _owned_by(path, n)), None)
        if owner is not None and path not in produced_paths and path not in yaml_files:
            notes.append(f"{path}: file of tenant {owner} that gitopsgen does not produce")
        elif owner is None and path not in produced_paths:
            mentioned = [n for n in names if TenantNames(n).tenant + "." in texts[path]]
            if mentioned:
                notes.append(
                    f"{path}: not generated by gitopsgen but names tenant hostname(s) of "
                    f"{', '.join(mentioned)}; keep it in step by hand"
                )
    # index files inside tenant directories that list something gitopsgen does not
    for obj in objects:
        if not obj.data.get("apiVersion", "").startswith(_KUSTOMIZE):
            continue
        if not any(_owned_by(obj.path, n) for n in names):
            continue
        listed = obj.data.get("resources") or []
        directory = os.path.dirname(obj.path)
        for entry in listed:
            target = f"{directory}/{entry}".strip("/")
            if (
                isinstance(entry, str)
                and target not in produced_paths
                and not any(p.startswith(target + "/") for p in produced_paths)
            ):
                notes.append(f"{obj.path}: lists {entry}, which gitopsgen does not produce")
    return notes
