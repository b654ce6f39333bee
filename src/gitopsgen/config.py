"""Load and validate tenants.yaml like a compiler: every problem at once, located.

Schema errors come from the pydantic models; cross-field rules (names, derived
name lengths, the pool, reserved and tenant addresses, hostnames, the output
directory) are checked here on the raw data, so that they are reported together
with schema errors and each points at the line and column it concerns.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path as FsPath
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from gitopsgen import model
from gitopsgen.errors import ConfigError, Problem
from gitopsgen.fsio import read_limited
from gitopsgen.ipam import PoolRange, in_pool, parse_address, parse_range
from gitopsgen.layout import TenantNames, name_too_long
from gitopsgen.model import (
    NAME_PATTERN,
    SUBDOMAIN_PATTERN,
    AnyConfig,
    Config,
    ConfigV2,
    Ingress,
    deep_merge,
)
from gitopsgen.reader import MAX_BYTES, Document, Path, read_text

__all__ = ["Project", "load", "locate", "parse", "read_config"]

_NAME = re.compile(NAME_PATTERN)
_SUBDOMAIN = re.compile(SUBDOMAIN_PATTERN)


@dataclass(frozen=True)
class Project:
    """A validated tenants.yaml and where its tree goes."""

    config: AnyConfig
    document: Document
    config_path: FsPath
    output_dir: FsPath
    repository_root: FsPath

    @property
    def flux_root(self) -> str:
        """The output directory as Flux sees it: ``./generated``."""
        rel = os.path.relpath(self.output_dir, self.repository_root).replace(os.sep, "/")
        return "./" + rel

    @property
    def source_name(self) -> str:
        name = self.config_path.name
        if not name.isprintable():
            # It goes into every file header and the line-based manifest: a newline,
            # control character or undecodable byte (a surrogate) is written escaped.
            name = "".join(
                c if c.isprintable() else c.encode("unicode_escape").decode() for c in name
            )
        return name


def listener_matches(listener: str, hostname: str) -> bool:
    """Whether a Gateway listener with ``listener`` as its hostname accepts an HTTPRoute
    for ``hostname``: "Hostnames that are prefixed with a wildcard label (`*.`) are
    interpreted as a suffix match. That means that a match for `*.example.com` would
    match both `test.example.com`, and `foo.test.example.com`, but not `example.com`"
    (kubernetes-sigs/gateway-api v1.2 apis/v1/httproute_types.go, HTTPRouteSpec.Hostnames);
    otherwise the names must be equal."""
    if listener.startswith("*."):
        suffix = listener[1:]
        return len(hostname) > len(suffix) and hostname.endswith(suffix)
    return hostname == listener


def _listeners(
    doc: Document, defaults: Any, where: Path, domain: str | None
) -> tuple[list[Problem], list[str]]:
    """The listener hostnames tenant hostnames are checked against (default
    ``*.<domain>``; none to check against when the domain is invalid), and a problem
    for each entry that is not a hostname, optionally prefixed with ``*.``."""
    raw = _get(defaults, "ingress", "listenerHostnames")
    if raw is None:
        return [], [f"*.{domain}"] if domain is not None else []
    if not isinstance(raw, list):
        return [], []  # the schema reports it
    problems: list[Problem] = []
    names: list[str] = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, str):
            continue
        bare = entry[2:] if entry.startswith("*.") else entry
        labels_ok = all(0 < len(label) <= 63 for label in bare.split("."))
        if not _SUBDOMAIN.match(bare) or len(entry) > 253 or not labels_ok:
            problems.append(
                doc.problem(
                    (*where, "ingress", "listenerHostnames", index),
                    f"{entry!r} is not a listener hostname: a hostname, optionally starting "
                    "with the wildcard label '*.'",
                )
            )
        else:
            names.append(entry)
    return problems, names


def _all_keys(top: type[BaseModel]) -> dict[str, None]:
    keys: dict[str, None] = {}
    stack: list[type[BaseModel]] = [top]
    seen: set[type[BaseModel]] = set()
    while stack:
        cls = stack.pop()
        if cls in seen:
            continue
        seen.add(cls)
        for name, info in cls.model_fields.items():
            keys[info.alias or name] = None
            for candidate in vars(model).values():
                if (
                    isinstance(candidate, type)
                    and issubclass(candidate, BaseModel)
                    and candidate.__name__ in str(info.annotation)
                ):
                    stack.append(candidate)
    return keys


# Every key of each version, for "did you mean" (from that version only) and for
# telling keys from free-form values in error locations (either version).
_VERSION_KEYS = {1: _all_keys(Config), 2: _all_keys(ConfigV2)}
_KEYS = {**_VERSION_KEYS[1], **_VERSION_KEYS[2]}
_TYPE_WORDS = {
    "string_type": "expected a string",
    "bool_type": "expected true or false",
    "int_type": "expected an integer",
    "dict_type": "expected a mapping",
    "list_type": "expected a list",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
}

_PATTERN_WORDS = {
    model.DURATION_PATTERN: "is not a duration such as '90s', '2m' or '1h30m'",
    model.LABEL_PATTERN: "is not a valid namespace: use lowercase letters, digits and '-', "
    "starting and ending with a letter or digit (a DNS-1123 label)",
    model.SERVICE_PATTERN: "is not a valid Service name: use lowercase letters, digits and '-', "
    "starting with a letter and ending with a letter or digit (a DNS-1035 label)",
    model.SUBDOMAIN_PATTERN: "is not a valid Kubernetes name: use lowercase letters, digits, "
    "'-' and '.' (a DNS-1123 subdomain)",
}


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"


def _pydantic_problems(
    errors: Iterable[ErrorDetails], doc: Document, prefix: Path = ()
) -> Iterator[Problem]:
    for err in errors:
        loc: Path = (*prefix, *err["loc"])
        loc = tuple(p for p in loc if isinstance(p, int) or p in _KEYS or p in _walk_keys(doc, loc))
        kind = err["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1])
            message = f"unknown key {key!r}"
            moved = _MOVED_IN_V2.get(key) if len(loc) == 1 and _version(doc) == 2 else None
            known = _VERSION_KEYS.get(_version(doc), _VERSION_KEYS[1])
            close = [k for k in difflib.get_close_matches(key, list(known), n=2) if k != key]
            if moved is not None:
                message += f" in version 2: {moved}"
            elif close:
                message += f"; did you mean {close[0]!r}?"
            yield doc.problem(loc, message, key=True)
        elif kind == "missing":
            yield doc.problem(loc[:-1], f"missing required key {loc[-1]!r}")
        elif kind == "too_short" and loc[-1:] == ("pool",):
            yield doc.problem(loc, "the pool is empty; list at least one range 'A-B' or CIDR 'A/N'")
        elif kind == "list_type" and loc[-1:] == ("pool",):
            yield doc.problem(
                loc, f"expected a range, a CIDR or a list of them, got {_describe(err['input'])}"
            )
        elif kind == "string_pattern_mismatch":
            pattern = err.get("ctx", {}).get("pattern", "")
            words = _PATTERN_WORDS.get(pattern, f"does not match {pattern!r}")
            yield doc.problem(loc, f"{err['input']!r} {words}")
        elif kind == "string_too_long":
            limit = err.get("ctx", {}).get("max_length")
            size = len(str(err["input"]))
            yield doc.problem(loc, f"{err['input']!r} has {size} characters; the limit is {limit}")
        elif kind == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            if loc == ("version",):
                expected = "1 or 2"
            yield doc.problem(loc, f"expected {expected}, got {_describe(err['input'])}")
        elif kind in _TYPE_WORDS:
            yield doc.problem(loc, f"{_TYPE_WORDS[kind]}, got {_describe(err['input'])}")
        else:
            msg = err["msg"]
            yield doc.problem(loc, msg[:1].lower() + msg[1:])


# Top-level keys of version 1 that version 2 places elsewhere.
_MOVED_IN_V2 = {
    "pool": "each cluster has its own (clusters[].pool)",
    "reserved": "each cluster has its own (clusters[].reserved)",
    "wiring": "each cluster names the kustomization its root sync builds (clusters[].entryPoint)",
}


def _version(doc: Document) -> Any:
    return doc.data.get("version") if isinstance(doc.data, dict) else None


def _range_reason(text: str, exc: ValueError) -> str:
    """Why a pool entry does not parse, said of the whole range when a part is at fault."""
    reason = str(exc)
    if "/" in text or "-" not in text:
        return reason
    start, _, end = (part.strip() for part in text.partition("-"))
    if not start or not end:
        return f"range {text!r} needs a first and a last address: 'A-B'"
    return reason if reason.startswith("range ") else f"range {text!r}: {reason}"


def _walk_keys(doc: Document, loc: tuple[Any, ...]) -> set[str]:
    """Keys that really occur along ``loc`` in the document (free-form values)."""
    found: set[str] = set()
    node = doc.data
    for part in loc:
        if isinstance(node, dict) and part in node:
            found.add(str(part))
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            if isinstance(part, str) and isinstance(node, dict):
                found.add(part)
            break
    return found


def _get(data: Any, *keys: str, default: Any = None) -> Any:
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return default
        data = data[key]
    return data


@dataclass
class _Pool:
    """A pool's ranges and reserved addresses as far as they are valid."""

    ranges: list[PoolRange]
    complete: bool  # some entry parsed: addresses are checked against the valid ones
    reserved_for: dict[IPv4Address, str]
    of: str = ""  # " of cluster eu-1" in version 2

    @property
    def described(self) -> str:
        if not self.of:
            return "the pool"
        return f"the pool{self.of} ({', '.join(r.text for r in self.ranges)})"

    def outside(self, address: IPv4Address) -> bool:
        return self.complete and not in_pool(address, self.ranges)


def _pool_problems(
    doc: Document, where: Path, owner: Any, of: str = ""
) -> tuple[list[Problem], _Pool]:
    """The pool and reserved addresses of ``owner`` (the top level in version 1, a
    cluster in version 2) at ``where``: well-formed ranges that do not overlap, and
    reserved addresses inside the pool with one holder each."""
    problems: list[Problem] = []
    pool_raw = owner.get("pool")
    entries: list[tuple[Path, Any]] = []
    if isinstance(pool_raw, str):
        entries = [((*where, "pool"), pool_raw)]
    elif isinstance(pool_raw, list):
        entries = [((*where, "pool", i), v) for i, v in enumerate(pool_raw)]
    ranges: list[PoolRange] = []
    for loc, text in entries:
        if not isinstance(text, str):
            continue
        try:
            rng = parse_range(text)
        except ValueError as exc:
            problems.append(doc.problem(loc, _range_reason(text, exc)))
            continue
        for i, other in enumerate(ranges):
            if rng.overlaps(other):
                problems.append(
                    doc.problem(loc, f"range {text!r} overlaps {other.text!r} (pool[{i}])")
                )
                break
        ranges.append(rng)
    # The valid entries are checked against even when another entry is not: every
    # problem at once (an address outside them is reported with the bad entry).
    pool = _Pool(ranges, bool(ranges), {}, of)

    holders: dict[IPv4Address, tuple[str, Path]] = {}
    reserved = owner.get("reserved")
    if isinstance(reserved, dict):
        for service, text in reserved.items():
            loc = (*where, "reserved", service)
            if not isinstance(text, str):
                continue
            try:
                address = parse_address(text)
            except ValueError as exc:
                problems.append(doc.problem(loc, str(exc)))
                continue
            if pool.outside(address):
                problems.append(doc.problem(loc, f"{text} is outside the pool"))
            if address in holders:
                holder, first = holders[address]
                line, col = doc.where(first)
                problems.append(
                    doc.problem(
                        loc, f"{text} is already reserved for {holder} (line {line}, column {col})"
                    )
                )
                continue
            holders[address] = (service, loc)
    pool.reserved_for.update({a: h for a, (h, _) in holders.items()})
    return problems, pool


def _domain(doc: Document, defaults: Any, where: Path) -> tuple[list[Problem], str | None]:
    domain = _get(defaults, "ingress", "domain", default=Ingress().domain)
    if not isinstance(domain, str) or not _SUBDOMAIN.match(domain) or len(domain) > 253:
        if isinstance(domain, str):
            return [
                doc.problem(
                    (*where, "ingress", "domain"),
                    f"{domain!r} is not a valid DNS name (lowercase letters, digits, '-' and '.')",
                )
            ], None
        return [], None
    return [], domain


@dataclass
class _Seen:
    """What the tenants checked so far hold: names and hostnames across the file,
    addresses per pool."""

    names: dict[str, Path]
    hostnames: dict[str, tuple[str, Path]]
    addresses: dict[int, dict[IPv4Address, tuple[str, Path]]]


def _tenant_problems(
    doc: Document,
    index: int,
    tenant: Any,
    pool: _Pool | None,
    domain: str | None,
    seen: _Seen,
    listeners: list[str] | None = None,
) -> Iterator[Problem]:
    """One tenant's name, derived name lengths, address and hostname. ``pool`` is
    None when the tenant's pool is unknown (its cluster is)."""
    name = tenant.get("name")
    name_ok = False
    if isinstance(name, str):
        loc: Path = ("tenants", index, "name")
        if not _NAME.match(name):
            yield doc.problem(
                loc,
                f"{name!r} is not a valid name: use lowercase letters, digits and '-', "
                "starting and ending with a letter or digit (a DNS-1123 label)",
            )
        elif (too_long := name_too_long(name)) is not None:
            yield doc.problem(loc, too_long)
        elif name in seen.names:
            line, col = doc.where(seen.names[name])
            yield doc.problem(
                loc, f"duplicate tenant name {name!r} (first at line {line}, column {col})"
            )
        else:
            seen.names[name] = loc
            name_ok = True
    ip = tenant.get("ip")
    if isinstance(ip, str):
        loc = ("tenants", index, "ip")
        try:
            address = parse_address(ip)
        except ValueError as exc:
            yield doc.problem(loc, str(exc))
        else:
            if pool is not None:
                addresses = seen.addresses.setdefault(id(pool), {})
                if pool.outside(address):
                    yield doc.problem(loc, f"{ip} is outside {pool.described}")
                elif address in pool.reserved_for:
                    yield doc.problem(loc, f"{ip} is reserved for {pool.reserved_for[address]}")
                elif address in addresses:
                    holder, first = addresses[address]
                    line, col = doc.where(first)
                    yield doc.problem(
                        loc, f"{ip} is already used by tenant {holder} (line {line}, column {col})"
                    )
                else:
                    addresses[address] = (str(name), loc)
    hostname = tenant.get("hostname")
    hloc: Path = ("tenants", index, "hostname")
    what = "hostname"
    if hostname is None and name_ok and isinstance(name, str) and domain is not None:
        hostname = TenantNames(name).default_hostname(domain)
        hloc = ("tenants", index, "name")
        what = "default hostname"
    if isinstance(hostname, str):
        labels_ok = all(0 < len(label) <= 63 for label in hostname.split("."))
        if not _SUBDOMAIN.match(hostname) or len(hostname) > 253 or not labels_ok:
            yield doc.problem(
                hloc,
                f"{hostname!r} is not a valid hostname (lowercase letters, digits, '-' "
                "and '.'; labels of 1 to 63 characters)",
            )
        elif hostname in seen.hostnames:
            holder, first = seen.hostnames[hostname]
            line, col = doc.where(first)
            yield doc.problem(
                hloc,
                f"{what} {hostname!r} is already used by tenant {holder} "
                f"(line {line}, column {col})",
            )
        else:
            seen.hostnames[hostname] = (str(name), hloc)
            if listeners and not any(listener_matches(x, hostname) for x in listeners):
                yield doc.problem(
                    hloc,
                    f"{what} {hostname!r} matches no listener hostname of the Gateway "
                    f"({', '.join(listeners)}): its HTTPRoute would not be accepted "
                    "(NoMatchingListenerHostname); list the Gateway's listener hostnames "
                    "in defaults.ingress.listenerHostnames",
                )


# Bounds on what one tenants.yaml can make build write (issue: a 1 MiB string in
# defaults.vcluster.values copied into 6,000 HelmReleases needed 4 GB for check).
MAX_TENANTS = 10_000
MAX_VALUES_BYTES = 32 * 1024  # defaults.vcluster.values + a tenant's, as JSON
MAX_STRING = 4096  # any other string (each may be copied into every tenant's files)


def _values_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), default=str)) if value else 0


def _limit_problems(doc: Document) -> Iterator[Problem]:
    data = doc.data
    tenants = data.get("tenants")
    if isinstance(tenants, list) and len(tenants) > MAX_TENANTS:
        yield doc.problem(
            ("tenants",), f"{len(tenants)} tenants; the limit is {MAX_TENANTS} per tenants.yaml"
        )
    stack: list[tuple[Path, Any]] = [((), data)]
    while stack:
        loc, value = stack.pop()
        if isinstance(value, dict):
            stack.extend(((*loc, k), v) for k, v in value.items() if k != "values")
        elif isinstance(value, list):
            stack.extend(((*loc, i), v) for i, v in enumerate(value))
        elif isinstance(value, str) and len(value) > MAX_STRING:
            yield doc.problem(
                loc, f"a string of {len(value)} characters; the limit is {MAX_STRING}"
            )
    shared = _values_size(_get(data, "defaults", "vcluster", "values"))
    if shared > MAX_VALUES_BYTES:
        yield doc.problem(
            ("defaults", "vcluster", "values"),
            f"{shared} bytes of Helm values (as JSON), copied into every vcluster; "
            f"the limit is {MAX_VALUES_BYTES}",
        )
        return
    for index, tenant in enumerate(tenants if isinstance(tenants, list) else []):
        own = _values_size(_get(tenant, "vcluster", "values"))
        if own and shared + own > MAX_VALUES_BYTES:
            yield doc.problem(
                ("tenants", index, "vcluster", "values"),
                f"{own} bytes of Helm values (as JSON) plus {shared} of "
                f"defaults.vcluster.values; the limit is {MAX_VALUES_BYTES}",
            )


def _semantic_problems(doc: Document) -> Iterator[Problem]:
    data = doc.data
    problems, pool = _pool_problems(doc, (), data)
    yield from problems
    tenants = data.get("tenants")
    if not isinstance(tenants, list):
        return
    problems, domain = _domain(doc, data.get("defaults"), ("defaults",))
    yield from problems
    problems, listeners = _listeners(doc, data.get("defaults"), ("defaults",), domain)
    yield from problems
    seen = _Seen({}, {}, {})
    for index, tenant in enumerate(tenants):
        if isinstance(tenant, dict):
            yield from _tenant_problems(doc, index, tenant, pool, domain, seen, listeners)


def _cluster_defaults_problems(
    doc: Document, index: int, top: Any, own: Any
) -> tuple[list[Problem], Any]:
    """A cluster's ``defaults`` merged over the top-level ones must be valid
    defaults; a problem in a key the cluster sets is located there (one in the
    top-level defaults is reported there already). Returns the merged mapping."""
    if not isinstance(own, dict) or not own:
        return [], top
    merged = deep_merge(top if isinstance(top, dict) else {}, own)
    try:
        model.DefaultsV2.model_validate(merged)
    except ValidationError as exc:
        mine = [e for e in exc.errors(include_url=False) if _sets(own, e["loc"])]
        return list(_pydantic_problems(mine, doc, ("clusters", index, "defaults"))), merged
    return [], merged


def _sets(data: Any, loc: tuple[int | str, ...]) -> bool:
    """Whether the mapping ``data`` sets the key at ``loc`` (or its parent, for a key
    that must not be there)."""
    for part in loc[:-1]:
        if isinstance(data, dict) and part in data:
            data = data[part]
            continue
        if isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
            continue
        return False
    return isinstance(data, dict | list)


def _semantic_problems_v2(doc: Document) -> Iterator[Problem]:
    data = doc.data
    clusters = data.get("clusters")
    top_defaults = data.get("defaults")
    pools: dict[str, _Pool] = {}
    shards: dict[str, set[str]] = {}
    domains: dict[str, str | None] = {}
    listeners_of: dict[str, list[str]] = {}
    cluster_at: dict[str, Path] = {}
    if isinstance(clusters, list):
        for index, cluster in enumerate(clusters):
            if not isinstance(cluster, dict):
                continue
            where: Path = ("clusters", index)
            name = cluster.get("name")
            of = f" of cluster {name}" if isinstance(name, str) else ""
            problems, pool = _pool_problems(doc, where, cluster, of)
            yield from problems
            problems, merged = _cluster_defaults_problems(
                doc, index, top_defaults, cluster.get("defaults")
            )
            yield from problems
            own = cluster.get("defaults")
            at: Path = (*where, "defaults") if isinstance(own, dict) and own else ("defaults",)
            problems, domain = _domain(doc, merged, at)
            if at != ("defaults",):
                yield from problems
            problems, cluster_listeners = _listeners(doc, merged, at, domain)
            if at != ("defaults",):
                yield from problems
            if not isinstance(name, str):
                continue
            if name in cluster_at:
                line, col = doc.where(cluster_at[name])
                yield doc.problem(
                    (*where, "name"),
                    f"duplicate cluster name {name!r} (first at line {line}, column {col})",
                )
                continue
            cluster_at[name] = (*where, "name")
            pools[name] = pool
            domains[name] = domain
            listeners_of[name] = cluster_listeners
            declared: set[str] = set()
            raw_shards = cluster.get("shards")
            for i, shard in enumerate(raw_shards if isinstance(raw_shards, list) else ()):
                if isinstance(shard, str) and shard in declared:
                    yield doc.problem((*where, "shards", i), f"duplicate shard {shard!r}")
                elif isinstance(shard, str):
                    declared.add(shard)
            shards[name] = declared
    problems, top_domain = _domain(doc, top_defaults, ("defaults",))
    yield from problems
    problems, top_listeners = _listeners(doc, top_defaults, ("defaults",), top_domain)
    yield from problems
    tenants = data.get("tenants")
    if not isinstance(tenants, list):
        return
    only = next(iter(pools)) if len(pools) == 1 and len(cluster_at) == 1 else None
    seen = _Seen({}, {}, {})
    for index, tenant in enumerate(tenants):
        if not isinstance(tenant, dict):
            continue
        cluster = tenant.get("cluster")
        where = ("tenants", index)
        if cluster is None:
            if only is None and len(cluster_at) > 1:
                names = ", ".join(cluster_at)
                yield doc.problem(
                    where, f"missing required key 'cluster' (there are several: {names})"
                )
            cluster = only
        elif isinstance(cluster, str) and cluster_at and cluster not in cluster_at:
            close = difflib.get_close_matches(cluster, list(cluster_at), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            yield doc.problem(
                (*where, "cluster"),
                f"unknown cluster {cluster!r}; declared: {', '.join(cluster_at)}{hint}",
            )
            cluster = None
        tenant_pool = pools.get(cluster) if isinstance(cluster, str) else None
        domain = domains.get(cluster, top_domain) if isinstance(cluster, str) else top_domain
        listeners = (
            listeners_of.get(cluster, top_listeners) if isinstance(cluster, str) else top_listeners
        )
        yield from _tenant_problems(doc, index, tenant, tenant_pool, domain, seen, listeners)
        if not isinstance(cluster, str) or cluster not in shards:
            continue
        shard = tenant.get("shard")
        declared = shards[cluster]
        if shard is None and declared:
            yield doc.problem(
                where,
                f"missing required key 'shard': cluster {cluster!r} has shards "
                f"{', '.join(sorted(declared))}",
            )
        elif isinstance(shard, str) and not declared:
            yield doc.problem(
                (*where, "shard"), f"cluster {cluster!r} has no shards; remove 'shard'"
            )
        elif isinstance(shard, str) and shard not in declared:
            yield doc.problem(
                (*where, "shard"),
                f"unknown shard {shard!r} of cluster {cluster!r}; declared: "
                f"{', '.join(sorted(declared))}",
            )


def parse(raw: bytes | str, path: str = "tenants.yaml") -> tuple[AnyConfig, Document]:
    """Validate the text of a tenants.yaml; nothing touches the file system.

    Only a text that does not parse stops early; everything else is reported at once:
    the reader's own problems (duplicate keys, ...), the schema's, the cross-field
    rules on whatever parts are valid, and the consistency rules that need no tree."""
    from gitopsgen.consistency import depends_on_problems

    doc = read_text(raw, path, strict=False)
    if doc.data is None:
        raise ConfigError(
            [
                Problem(
                    1,
                    1,
                    "",
                    "file is empty; expected a mapping with version, pool and tenants",
                    path,
                )
            ]
        )
    if not isinstance(doc.data, dict):
        raise ConfigError(
            [
                *doc.problems,
                doc.problem((), f"the top level must be a mapping, got {_describe(doc.data)}"),
            ]
        )
    problems: list[Problem] = list(doc.problems)
    config: AnyConfig | None = None
    v2 = _version(doc) == 2
    try:
        config = (ConfigV2 if v2 else Config).model_validate(doc.data)
    except ValidationError as exc:
        # A value the reader refused (a huge integer, ...) is not reported twice.
        told = {(p.line, p.column) for p in doc.problems}
        problems.extend(
            p
            for p in _pydantic_problems(exc.errors(include_url=False), doc)
            if (p.line, p.column) not in told
        )
    problems.extend(_semantic_problems_v2(doc) if v2 else _semantic_problems(doc))
    problems.extend(_limit_problems(doc))
    problems.extend(depends_on_problems(doc))
    if problems or config is None:
        raise ConfigError(dict.fromkeys(problems))
    return config, doc


def _resolve_dirs(
    config: AnyConfig, doc: Document, config_path: FsPath, allow_outside: bool
) -> tuple[FsPath, FsPath]:
    base = config_path.parent
    problems: list[Problem] = []
    for key, value in (("output", config.output), ("repositoryRoot", config.repository_root)):
        if os.path.isabs(value) or "\\" in value:
            problems.append(
                doc.problem(
                    (key,), f"{value!r} must be a relative path, with '/' between directories"
                )
            )
        elif key == "output" and ".git" in FsPath(os.path.normpath(value)).parts:
            problems.append(
                doc.problem((key,), f"{value!r} is inside .git; the output may never be there")
            )
    if problems:
        raise ConfigError(problems)
    root = FsPath(os.path.normpath(base / config.repository_root))
    output = FsPath(os.path.normpath(base / config.output))
    rel = os.path.relpath(output, root)
    if output == root:
        problems.append(
            doc.problem(
                ("output",),
                "the output directory may not be the "
                "repository root; use a subdirectory such as 'generated'",
            )
        )
    elif not os.path.relpath(base, output).startswith(".."):
        problems.append(
            doc.problem(
                ("output",),
                f"the output directory {config.output!r} "
                "contains tenants.yaml; use a subdirectory such as "
                "'generated'",
            )
        )
    elif (rel == ".." or rel.startswith(".." + os.sep)) and not allow_outside:
        problems.append(
            doc.problem(
                ("output",),
                f"the output directory {config.output!r} is "
                "outside the repository root (pass --allow-outside to "
                "permit it)",
            )
        )
    if not problems:
        problems += _real_dir_problems(config, doc, base, root, output, allow_outside)
    if problems:
        raise ConfigError(problems)
    return output, root


def _inside(child: str, parent: str) -> bool:
    rel = os.path.relpath(child, parent)
    return rel != ".." and not rel.startswith(".." + os.sep)


def _real_dir_problems(
    config: AnyConfig,
    doc: Document,
    base: FsPath,
    root: FsPath,
    output: FsPath,
    allow_outside: bool,
) -> list[Problem]:
    """The same rules on the real paths (symbolic links followed), and the repository
    root no higher than the Git work tree of tenants.yaml: a tenants.yaml cannot
    point its output out of the repository through a link or a far-up root."""
    real_base = os.path.realpath(base)
    real_root = os.path.realpath(root)
    real_out = os.path.realpath(output)
    hint = " (pass --allow-outside to permit it)"
    where = f"the output directory {config.output!r} leads through a symbolic link to {real_out}"
    if real_out == real_root:
        return [doc.problem(("output",), f"{where}, the repository root")]
    if _inside(real_base, real_out):
        return [doc.problem(("output",), f"{where}, which contains tenants.yaml")]
    if ".git" in FsPath(os.path.relpath(real_out, real_root)).parts:
        return [doc.problem(("output",), f"{where}, inside .git; the output may never be there")]
    if allow_outside:
        return []
    if not _inside(real_base, real_root):
        message = f"the repository root {config.repository_root!r} does not contain this file"
        return [doc.problem(("repositoryRoot",), message + hint)]
    top = real_base
    while not os.path.exists(os.path.join(top, ".git")) and os.path.dirname(top) != top:
        top = os.path.dirname(top)
    if os.path.exists(os.path.join(top, ".git")) and not _inside(real_root, top):
        message = f"the repository root {config.repository_root!r} is above the Git work tree {top}"
        return [doc.problem(("repositoryRoot",), message + hint)]
    if not os.path.exists(os.path.join(top, ".git")) and not _inside(real_root, real_base):
        # No Git work tree: the directory holding tenants.yaml is the boundary.
        message = (
            f"the repository root {config.repository_root!r} is above the directory of "
            "this file, and no Git work tree marks the repository"
        )
        return [doc.problem(("repositoryRoot",), message + hint)]
    if not _inside(real_out, real_root):
        return [doc.problem(("output",), f"{where}, outside the repository root" + hint)]
    return []


def load(
    path: str | os.PathLike[str],
    *,
    allow_outside: bool = False,
    values_schema: str | None = None,
) -> Project:
    """Read, validate and locate a tenants.yaml. ``values_schema`` (the command line's
    ``--values-schema``) overrides ``defaults.vcluster.valuesSchema``."""
    config_path = FsPath(path)
    config, doc = parse(read_config(config_path), str(path))
    return locate(config, doc, config_path, allow_outside, values_schema)


def read_config(path: str | os.PathLike[str]) -> bytes:
    """The bytes of tenants.yaml, or a located ConfigError saying why not."""
    config_path = FsPath(path)
    label = str(path)
    try:
        # stat first, then at most the limit + 1 byte: a 1 GB file or /dev/zero is
        # refused without being read.
        return read_limited(config_path, MAX_BYTES)
    except ValueError as exc:
        raise ConfigError([Problem(1, 1, "", str(exc), label)]) from None
    except FileNotFoundError:
        raise ConfigError(
            [Problem(1, 1, "", "no such file (create one, or pass -c PATH)", label)]
        ) from None
    except IsADirectoryError:
        raise ConfigError([Problem(1, 1, "", "is a directory, not a file", label)]) from None
    except OSError as exc:
        raise ConfigError([Problem(1, 1, "", f"cannot read: {exc.strerror}", label)]) from None


def locate(
    config: AnyConfig,
    doc: Document,
    config_path: FsPath,
    allow_outside: bool = False,
    values_schema: str | None = None,
) -> Project:
    """The rest of :func:`load` for a file already parsed (:func:`parse`): the output
    directory rules and the chart values. add-tenant builds with what its edit
    validated instead of parsing the file again."""
    label = str(config_path)
    output, root = _resolve_dirs(config, doc, config_path, allow_outside)
    if _inside(os.path.realpath(config_path), os.path.realpath(output)):
        where = f"{label} is a symbolic link into the output directory {config.output!r}"
        raise ConfigError([Problem(1, 1, "", f"{where}; build would overwrite it", label)])
    _check_values(config, doc, config_path, values_schema)
    return Project(config, doc, config_path, output, root)


def _check_values(
    config: AnyConfig, doc: Document, config_path: FsPath, override: str | None
) -> None:
    """Every tenant's final values: one distro at most, always; against the chart's
    values schema when one is named."""
    from gitopsgen.values import load_schema, values_problems

    setting = config.defaults.vcluster.values_schema
    loc: Path
    schema: dict[str, Any] | None = None
    problems: list[Problem] = []
    if override is not None or setting is not None:
        if override is not None:
            schema_path, loc = FsPath(override), ()
        else:
            assert setting is not None
            schema_path = config_path.parent / setting
            loc = ("defaults", "vcluster", "valuesSchema")
        schema, problems = load_schema(schema_path, doc, loc)
        if override is not None:
            problems = [
                Problem(1, 1, "", f"--values-schema: {p.message}", str(override)) for p in problems
            ]
    problems += values_problems(config, doc, schema)
    if problems:
        raise ConfigError(dict.fromkeys(problems))
