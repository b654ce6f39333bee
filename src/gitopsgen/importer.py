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

__all__ = [
    "REPLACED_FILE",
    "ImportResult",
    "Replaced",
    "find_replaced",
    "import_tree",
    "prune",
    "replaced_text",
    "values_override",
]

LB_ANNOTATION = "metallb.universe.tf/loadBalancerIPs"
# Both spellings MetalLB reads (v0.14: metallb.io/ is the current prefix).
LB_ANNOTATIONS = (LB_ANNOTATION, "metallb.io/loadBalancerIPs")
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
            except (ValueError, TypeError, RecursionError, OverflowError) as exc:
                # ruamel's constructors raise these on YAML that parses: an integer of
                # more than 4300 digits, an unhashable key, nesting past the C stack.
                reason = " ".join(str(exc).split())[:120]
                if "int_max_str_digits" in str(exc):
                    reason = "an integer of more than 4300 digits"
                unmapped.append(f"{rel}: not readable YAML, skipped ({reason})")
                continue
            for index, doc in enumerate(docs):
                if isinstance(doc, dict) and "kind" in doc:
                    objects.append(_Obj(rel, index, doc))
    return objects, texts


def _lb_ip_holders(
    values: Any, trail: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], str]]:
    """(key path, address) of every ``loadBalancerIP`` in Helm values."""
    if isinstance(values, dict):
        for key, value in values.items():
            if key == "loadBalancerIP" and isinstance(value, str) and value:
                yield trail, value
            else:
                yield from _lb_ip_holders(value, (*trail, str(key)))
    elif isinstance(values, list):
        for item in values:
            yield from _lb_ip_holders(item, trail)


def _annotation_holders(values: Any, trail: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Key paths (within values) of mappings whose annotations carry an LB address."""
    if isinstance(values, dict):
        annotations = values.get("annotations")
        if isinstance(annotations, dict) and any(k in annotations for k in LB_ANNOTATIONS):
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


def import_tree(root: Path, *, schema: str | None = None) -> ImportResult:
    """Read the repository at ``root`` and build the tenants.yaml that reproduces it.

    ``schema`` is the path (relative to where the tenants.yaml goes) of a JSON Schema
    that exists there: the yaml-language-server modeline points at it; without one
    the file has no modeline (an editor would report a schema it cannot load)."""
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
                service = obj.name if len(trail) <= 1 else trail[0]
                for lb_key in LB_ANNOTATIONS:
                    annotation = holder["annotations"].get(lb_key)
                    if annotation is not None:
                        _reserve(reserved, service, str(annotation), obj.path, unmapped)
            for trail, address in _lb_ip_holders(values):
                service = obj.name if len(trail) <= 1 else trail[0]
                _reserve(reserved, service, address, obj.path, unmapped)
        elif obj.kind == "Service" and _get(obj.data, "spec", "type") == "LoadBalancer":
            annotations = _get(obj.data, "metadata", "annotations")
            for lb_key in LB_ANNOTATIONS:
                annotation = _get(annotations, lb_key)
                if annotation is not None:
                    _reserve(reserved, obj.name, str(annotation), obj.path, unmapped)
            address = _get(obj.data, "spec", "loadBalancerIP")
            if address is not None:
                _reserve(reserved, obj.name, str(address), obj.path, unmapped)
        elif obj.kind == "IPAddressPool" and _get(obj.data, "spec", "autoAssign") is False:
            # A pool MetalLB never hands out by itself: its addresses are taken by the
            # services that ask for them (metallb v0.14 IPAddressPoolSpec.AutoAssign).
            # Each address of it is reserved (a /32 or A-A entry; a wider range is a
            # pool of its own, left to the pool).
            from gitopsgen.ipam import parse_range

            for i, address in enumerate(_get(obj.data, "spec", "addresses") or []):
                try:
                    rng = parse_range(str(address))
                except ValueError:
                    continue
                if len(rng) == 1:
                    holder = f"{obj.name}-{i + 1}" if i else obj.name
                    _reserve(reserved, holder, str(rng.first), obj.path, unmapped)

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

    _listeners(objects, defaults, tenants, unmapped)
    data: dict[str, Any] = {"version": 1, "output": "generated", "pool": pool}
    if reserved:
        data["reserved"] = dict(sorted(reserved.items(), key=lambda kv: _sort_ip(kv[1])))
    if defaults:
        data["defaults"] = defaults
    data["tenants"] = tenants
    body = dump(data)
    source = root.name or root.resolve().name or str(root)
    modeline = f"# yaml-language-server: $schema={schema}\n#\n" if schema else ""
    text = modeline + _HEADER.format(source=source) + body + ("" if body.endswith("\n") else "\n")
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
# Imported by `gitopsgen import` from {source}. The one source of truth for the
# platform's tenants: edit it (or use add-tenant / remove-tenant), then run
# `gitopsgen build`.
"""


def _listeners(
    objects: list[_Obj],
    defaults: dict[str, Any],
    tenants: list[dict[str, Any]],
    unmapped: list[str],
) -> None:
    """defaults.ingress.listenerHostnames from the Gateway's listeners, when they are not
    the default ``*.<domain>``; tenant hostnames no listener serves are kept (listed, so
    that the file is valid) and named in ``unmapped``."""
    from gitopsgen.config import listener_matches

    ingress = defaults.get("ingress", {})
    domain = ingress.get("domain", "traefik.local")
    name = _get(ingress, "gateway", "name") or "traefik"
    namespace = _get(ingress, "gateway", "namespace") or "traefik"
    gateway = next(
        (
            o
            for o in objects
            if o.kind == "Gateway" and o.name == name and (o.namespace or namespace) == namespace
        ),
        None,
    )
    listeners: list[str] = [f"*.{domain}"]
    where = ""
    if gateway is not None:
        where = f"{gateway.path}: Gateway {namespace}/{name}"
        found: list[str] = []
        for listener in _get(gateway.data, "spec", "listeners") or []:
            host = _get(listener, "hostname")
            if host is None:
                found = []  # a listener without hostname accepts every route
                break
            if str(host) not in found:
                found.append(str(host))
        else:
            listeners = found
        if not found:
            listeners = []
    hosts = [str(t["hostname"]) for t in tenants if "hostname" in t]
    outside = [h for h in hosts if listeners and not any(listener_matches(x, h) for x in listeners)]
    if outside and gateway is None:
        unmapped.append(
            f"tenant hostname(s) {', '.join(outside)} match no listener hostname "
            f"{', '.join(listeners)}, and no Gateway {namespace}/{name} is in the repository "
            "to tell: defaults.ingress.listenerHostnames lists them as served; check that "
            "the Gateway's listeners serve them"
        )
        listeners = listeners + outside
    elif outside:
        unmapped.append(
            f"{where}: no listener serves tenant hostname(s) {', '.join(outside)}, so their "
            "HTTPRoutes are not accepted (NoMatchingListenerHostname); "
            "defaults.ingress.listenerHostnames lists them so that the import is valid: add "
            "listeners to the Gateway, or change the hostnames"
        )
        listeners = listeners + outside
    if listeners != [f"*.{domain}"]:
        defaults.setdefault("ingress", {})["listenerHostnames"] = listeners


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


# --- what the generated tree replaces -----------------------------------------------

REPLACED_FILE = "tenants.replaced.txt"


@dataclass(frozen=True, order=True)
class Replaced:
    """One hand-kept thing the generated tree replaces: a whole file (``doc`` None),
    one document of a file (1-based ``doc``), or an entry of a kustomization's
    ``resources`` that names a removed file (``entry``)."""

    path: str  # relative to the repository root, POSIX
    doc: int | None = None
    entry: str | None = None
    what: str = ""

    def line(self) -> str:
        if self.entry is not None:
            return f"unlist {self.path} {self.entry}"
        if self.doc is not None:
            return f"delete {self.path} document {self.doc}  # {self.what}"
        return f"delete {self.path}" + (f"  # {self.what}" if self.what else "")


def _split_docs(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the documents of ``text``, split at ``---`` lines."""
    import re

    marks = list(re.finditer(r"^---(?:[ \t].*)?$\n?", text, re.MULTILINE))
    starts = [0] + [m.end() for m in marks]
    ends = [m.start() for m in marks] + [len(text)]
    return list(zip(starts, ends, strict=True))


def _docs_of(text: str, path: str) -> list[Any] | None:
    from gitopsgen.repocheck import read_documents

    try:
        return [d for d, _ in read_documents(text, path)]
    except ConfigError:
        return None


def _ident(doc: Any) -> tuple[str, str, str, str] | None:
    if not isinstance(doc, dict) or "kind" not in doc:
        return None
    meta = doc.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    group = str(doc.get("apiVersion", "")).rpartition("/")[0]
    return (
        group,
        str(doc.get("kind")),
        str(meta.get("namespace") or ""),
        str(meta.get("name", "")),
    )


def find_replaced(
    root: Path, config: Config, output: str = "generated", keep: tuple[str, ...] = ()
) -> list[Replaced]:
    """The hand-kept files and documents of the repository at ``root`` that the tree
    of ``config`` (written to ``root/output``) replaces, and the ``resources`` entries
    that name them. ``keep`` (the wiring files) are edited, never deleted.

    A hand-kept file at the path a generated file has (``clusters/vcluster-a/...``
    mirrors ``generated/clusters/vcluster-a/...``) is replaced document by document
    when the generated file defines the same kind and name; any document that names
    its namespace and equals a generated object's identity (API group, kind,
    namespace, name: the seed's ``network-policies`` Kustomization) is replaced
    wherever it is; a kustomization index is replaced when everything it lists is.
    """
    from gitopsgen.identity import CLUSTER_SCOPED

    outputs = render_outputs(config, "./" + output)
    by_path: dict[str, set[tuple[str, str]]] = {}
    explicit: set[tuple[str, str, str, str]] = set()
    for out in outputs:
        for doc in out.docs:
            if str(doc.get("apiVersion", "")).startswith(_KUSTOMIZE):
                continue
            by_path.setdefault(out.path, set()).add(
                (str(doc.get("kind")), _get(doc, "metadata", "name") or "")
            )
            ident = _ident(doc)
            if (
                ident is not None
                and out.target == "host"
                and (ident[2] or ident[1] in CLUSTER_SCOPED)
            ):
                explicit.add(ident)
    out_prefix = output.rstrip("/") + "/"
    files: dict[str, list[Any]] = {}
    texts: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in _SKIP_DIRS and not (rel_dir + d + "/").startswith(out_prefix)
        )
        for name in sorted(filenames):
            if not name.endswith((".yaml", ".yml")) and name != "Kustomization":
                continue
            rel = rel_dir + name
            try:
                text = (root / rel).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            docs = _docs_of(text, rel)
            if docs is not None:
                files[rel] = docs
                texts[rel] = text
    found: list[Replaced] = []
    gone: set[str] = set()  # whole files removed
    for rel, docs in files.items():
        if rel in keep:
            continue
        if _is_index(docs[0]):
            continue  # index files: below
        objects = [(i, d) for i, d in enumerate(docs) if _ident(d) is not None]
        if not objects:
            continue
        mirrored = by_path.get(rel, set())
        hits: list[tuple[int, Any]] = []
        for i, d in objects:
            ident = _ident(d)
            assert ident is not None
            if (ident[1], ident[3]) in mirrored or ident in explicit:
                hits.append((i, d))
        if not hits:
            continue
        if len(hits) == len(objects):
            shown = [_what(d) for _, d in hits[:3]]
            more = f" and {len(hits) - 3} more" if len(hits) > 3 else ""
            found.append(Replaced(rel, what=", ".join(shown) + more))
            gone.add(rel)
        else:
            found += [Replaced(rel, doc=i + 1, what=_what(d)) for i, d in hits]
    # Kustomization index files: replaced when everything they list is gone.
    changed = True
    while changed:
        changed = False
        for rel, docs in files.items():
            if rel in gone or rel in keep or not docs:
                continue
            data = docs[0]
            if not _is_index(data):
                continue
            entries = [e for e in data.get("resources") or [] if isinstance(e, str)]
            directory = os.path.dirname(rel)
            targets = [
                os.path.normpath(os.path.join(directory, e)).replace(os.sep, "/") for e in entries
            ]
            if entries and all(_is_gone(t, gone, files) for t in targets):
                found.append(Replaced(rel, what="kustomization listing only replaced files"))
                gone.add(rel)
                changed = True
    # Entries of the remaining kustomizations that name removed files or directories.
    for rel, docs in files.items():
        if rel in gone or not docs or not isinstance(docs[0], dict):
            continue
        data = docs[0]
        if not _is_index(data):
            continue
        directory = os.path.dirname(rel)
        for entry in data.get("resources") or []:
            if not isinstance(entry, str):
                continue
            target = os.path.normpath(os.path.join(directory, entry)).replace(os.sep, "/")
            if _is_gone(target, gone, files):
                found.append(Replaced(rel, entry=entry))
    return sorted(found)


def _is_index(data: Any) -> bool:
    """A kustomize index file (``apiVersion`` may be left out), not a Flux object."""
    if not isinstance(data, dict) or "spec" in data:
        return False
    api = str(data.get("apiVersion", ""))
    return api.startswith(_KUSTOMIZE) or (
        not api and data.get("kind", "Kustomization") == "Kustomization" and "resources" in data
    )


def _what(doc: Any) -> str:
    ident = _ident(doc)
    if ident is None:
        return ""
    _, kind, ns, name = ident
    return f"{kind} {ns + '/' if ns else ''}{name}"


def _is_gone(target: str, gone: set[str], files: dict[str, list[Any]]) -> bool:
    return target in gone or _dir_gone(target, gone, files)


def _dir_gone(target: str, gone: set[str], files: dict[str, list[Any]]) -> bool:
    """A directory whose kustomization file is removed."""
    return any(
        f"{target}/{name}" in gone
        for name in ("kustomization.yaml", "kustomization.yml", "Kustomization")
    )


def replaced_text(items: list[Replaced], source: str) -> str:
    lines = [
        f"# Hand-kept files and documents that the tree generated from {source} replaces,",
        "# written by `gitopsgen import`. Flux would apply both copies (or fail to build the",
        "# kustomization that lists both): `gitopsgen import --prune-replaced DIR` shows what",
        "# it removes, `--prune-replaced --apply` removes it. `unlist` lines are resources",
        "# entries naming a removed file.",
        *(item.line() for item in items),
    ]
    return "\n".join(lines) + "\n"


def prune(root: Path, items: list[Replaced]) -> list[str]:
    """Remove ``items`` from the repository at ``root``; what was done, one line each."""
    import re

    done: list[str] = []
    by_file: dict[str, list[Replaced]] = {}
    for item in items:
        by_file.setdefault(item.path, []).append(item)
    for rel, group in sorted(by_file.items()):
        path = root / rel
        if any(i.doc is None and i.entry is None for i in group):
            path.unlink()
            done.append(f"deleted {rel}")
            parent = path.parent
            while parent != root and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
                done.append(f"removed empty directory {parent.relative_to(root).as_posix()}")
                parent = parent.parent
            continue
        text = path.read_text(encoding="utf-8")
        docs = {i.doc for i in group if i.doc is not None}
        if docs:
            spans = _split_docs(text)
            # documents counted as read_documents counts them: non-empty ones
            kept: list[str] = []
            n = 0
            for start, end in spans:
                chunk = text[start:end]
                if chunk.strip() and not all(
                    line.strip().startswith("#") or not line.strip() for line in chunk.splitlines()
                ):
                    n += 1
                    if n in docs:
                        continue
                kept.append(chunk)
            text = "---\n".join(c if c.endswith("\n") or not c else c + "\n" for c in kept)
            done += [f"removed document {d} of {rel}" for d in sorted(docs)]
        for item in group:
            if item.entry is None:
                continue
            pattern = re.compile(
                rf"^[ \t]*-[ \t]+['\"]?{re.escape(item.entry)}['\"]?[ \t]*(#.*)?\n?", re.MULTILINE
            )
            text, count = pattern.subn("", text, count=1)
            if count:
                done.append(f"removed `- {item.entry}` from {rel}")
        from gitopsgen.edit import write_atomic

        write_atomic(path, text)
    return done
