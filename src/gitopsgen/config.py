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
from fractions import Fraction
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
from gitopsgen.quantity import QuantityError, format_quantity, parse_quantity
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
# The fleet the tool is built and benchmarked for is 20,000 tenants (issues 13, 17).
MAX_TENANTS = 25_000
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
    effective: dict[str, Any] = {}  # each cluster's defaults merged over the file's
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
            effective[name] = merged
            own_quotas = _get(own, "quotas")
            if own_quotas is not None:
                yield from _profile_problems(doc, (*where, "defaults", "quotas"), own_quotas)
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
    yield from _profile_problems(doc, ("defaults", "quotas"), _get(top_defaults, "quotas"))
    tenants = data.get("tenants")
    if not isinstance(tenants, list):
        return
    placed: dict[str, list[tuple[Any, Any]]] = {}
    listeners_by_tenant: dict[int, list[str]] = {}
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
        listeners_by_tenant[index] = listeners
        tenant_defaults = (
            effective.get(cluster, top_defaults) if isinstance(cluster, str) else (top_defaults)
        )
        yield from _workload_problems(doc, where, tenant, tenant_defaults)
        if isinstance(cluster, str):
            placed.setdefault(cluster, []).append((tenant, tenant_defaults))
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
    yield from _route_hostname_problems(doc, tenants, seen, listeners_by_tenant)
    for index, spec in enumerate(clusters if isinstance(clusters, list) else []):
        name = spec.get("name") if isinstance(spec, dict) else None
        if isinstance(name, str) and cluster_at.get(name) == ("clusters", index, "name"):
            yield from _capacity_problems(doc, index, spec, placed.get(name, []))


# --- version 2: a tenant's sources, workloads, routes and quota (issue 15) ------

# The Flux source kinds each workload form can build from: a Kustomization's
# sourceRef is a GitRepository or OCIRepository (kustomize-controller v1.7 api/v1
# kustomization_types.go CrossNamespaceSourceReference enum: OCIRepository,
# GitRepository, Bucket, ExternalArtifact); a HelmRelease's chart comes from a
# HelmRepository (spec.chart) or an OCIRepository (spec.chartRef).
_SOURCE_KEYS = ("git", "oci", "helm")
_URL_SCHEMES = {
    "git": ("http://", "https://", "ssh://"),  # GitRepository spec.url pattern
    "oci": ("oci://",),  # OCIRepository spec.url pattern
}
_REF_KEYS = {"git": ("branch", "tag", "semver", "commit"), "oci": ("tag", "semver", "digest")}
# The vcluster control plane's own requests when a profile sets none (vcluster
# v0.30.4 chart/values.yaml controlPlane.statefulSet.resources.requests).
CONTROL_PLANE_REQUESTS = {"cpu": "200m", "memory": "256Mi"}


def _hint(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _declared(names: Iterable[str]) -> str:
    listed = ", ".join(names)
    return listed or "none"


def _quantity_problems(doc: Document, loc: Path, mapping: Any) -> Iterator[Problem]:
    if not isinstance(mapping, dict):
        return
    for key, value in mapping.items():
        if isinstance(value, str):
            try:
                parse_quantity(value)
            except QuantityError as exc:
                yield doc.problem((*loc, key), str(exc))


def _profile_problems(doc: Document, where: Path, quotas: Any) -> Iterator[Problem]:
    """Every quantity of every quota profile at ``where`` (``defaults.quotas``)."""
    if not isinstance(quotas, dict):
        return
    for name, profile in quotas.items():
        if not isinstance(profile, dict):
            continue
        at: Path = (*where, name)
        yield from _quantity_problems(doc, (*at, "resourceQuota"), profile.get("resourceQuota"))
        yield from _below_control_plane(doc, at, profile)
        limit_range = profile.get("limitRange")
        if isinstance(limit_range, dict):
            for key in ("default", "defaultRequest"):
                yield from _quantity_problems(doc, (*at, "limitRange", key), limit_range.get(key))
        control_plane = profile.get("controlPlane")
        if isinstance(control_plane, dict):
            for key in ("requests", "limits"):
                yield from _quantity_problems(
                    doc, (*at, "controlPlane", key), control_plane.get(key)
                )


def _source_problems(
    doc: Document, where: Path, sources: list[Any], prefixes: Any
) -> tuple[list[Problem], dict[str, str]]:
    """The tenant's sources; returns the problems and each valid source's kind key."""
    problems: list[Problem] = []
    kinds: dict[str, str] = {}
    first: dict[str, Path] = {}
    for i, source in enumerate(sources):
        if not isinstance(source, dict):
            continue
        at: Path = (*where, "sources", i)
        name = source.get("name")
        present = [k for k in _SOURCE_KEYS if source.get(k) is not None]
        if len(present) != 1:
            problems.append(
                doc.problem(
                    at,
                    f"source {name!r} needs exactly one of git, oci, helm"
                    + (f" (has {', '.join(present)})" if present else ""),
                )
            )
        if isinstance(name, str):
            if name in first:
                line, col = doc.where(first[name])
                problems.append(
                    doc.problem(
                        (*at, "name"),
                        f"duplicate source name {name!r} (first at line {line}, column {col})",
                    )
                )
            else:
                first[name] = (*at, "name")
                if len(present) == 1:
                    kinds[name] = present[0]
        if len(present) != 1:
            continue
        key = present[0]
        body = source[key]
        if not isinstance(body, dict):
            continue
        url = body.get("url")
        ref = body.get("ref")
        if isinstance(ref, dict) and key in _REF_KEYS:
            set_keys = [k for k, v in ref.items() if v is not None]
            if len(set_keys) != 1:
                problems.append(
                    doc.problem(
                        (*at, key, "ref"),
                        f"set exactly one of {', '.join(_REF_KEYS[key])} "
                        "(a ref names one revision)",
                    )
                )
        if not isinstance(url, str):
            continue
        url_at: Path = (*at, key, "url")
        schemes = _URL_SCHEMES.get(key)
        if key == "helm":
            schemes = ("oci://",) if body.get("type") == "oci" else ("http://", "https://")
        if schemes is not None and not url.startswith(schemes):
            problems.append(doc.problem(url_at, f"{url!r} must start with {' or '.join(schemes)}"))
        elif isinstance(prefixes, list) and not any(
            isinstance(p, str) and url.startswith(p) for p in prefixes
        ):
            allowed = ", ".join(str(p) for p in prefixes)
            problems.append(
                doc.problem(
                    url_at,
                    f"source URL {url!r} is outside defaults.sources.allowedPrefixes ({allowed})",
                )
            )
    return problems, kinds


def _cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """One dependency cycle of ``graph`` (name -> dependencies), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in graph.get(node, ()):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep in graph and dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def _workload_problems(
    doc: Document,
    where: Path,
    tenant: Any,
    defaults: Any,
) -> Iterator[Problem]:
    """One version 2 tenant's sources, workloads, routes and quota name.
    ``defaults`` are its effective defaults (its cluster's merged over the file's)."""
    name = tenant.get("name")
    quota = tenant.get("quota")
    quotas = _get(defaults, "quotas", default={})
    if isinstance(quota, str) and isinstance(quotas, dict) and quota not in quotas:
        yield doc.problem(
            (*where, "quota"),
            f"unknown quota profile {quota!r}; defaults.quotas declares: "
            f"{_declared(quotas)}{_hint(quota, quotas)}",
        )
    sources = tenant.get("sources")
    sources = sources if isinstance(sources, list) else []
    prefixes = _get(defaults, "sources", "allowedPrefixes")
    problems, kinds = _source_problems(doc, where, sources, prefixes)
    yield from problems
    raw = tenant.get("workloads")
    workloads = [w for w in raw if isinstance(w, dict)] if isinstance(raw, list) else []
    at_of: dict[str, Path] = {}
    helm_of: dict[str, bool] = {}
    graph: dict[str, list[str]] = {}
    ports: set[int] = set()
    ports_known = bool(workloads)
    for i, wl in enumerate(raw if isinstance(raw, list) else []):
        if not isinstance(wl, dict):
            continue
        at: Path = (*where, "workloads", i)
        wname = wl.get("name")
        if isinstance(wname, str):
            if wname in at_of:
                line, col = doc.where(at_of[wname])
                yield doc.problem(
                    (*at, "name"),
                    f"duplicate workload name {wname!r} (first at line {line}, column {col})",
                )
            else:
                at_of[wname] = (*at, "name")
                helm_of[wname] = wl.get("helm") is not None
        declared = wl.get("ports")
        if isinstance(declared, list):
            ports.update(p for p in declared if isinstance(p, int))
        elif wl.get("target") != "host":
            # Routes reach Services inside the vcluster: host workloads serve none.
            ports_known = False
        helm = wl.get("helm")
        source = wl.get("source")
        if isinstance(source, str):
            kind = kinds.get(source)
            if kind is None and not any(
                isinstance(s, dict) and s.get("name") == source for s in sources
            ):
                yield doc.problem(
                    (*at, "source"),
                    f"unknown source {source!r}; tenant {name!r} declares: "
                    f"{_declared(kinds)}{_hint(source, kinds)}",
                )
            elif kind is not None and helm is None and kind == "helm":
                yield doc.problem(
                    (*at, "source"),
                    f"source {source!r} is a Helm repository: a workload from it needs "
                    "'helm' (with the chart's name)",
                )
            elif kind is not None and isinstance(helm, dict):
                if kind == "git":
                    yield doc.problem(
                        (*at, "helm"),
                        f"a helm workload installs a chart from a helm or oci source; "
                        f"{source!r} is a git source",
                    )
                elif kind == "helm" and not helm.get("chart"):
                    yield doc.problem(
                        (*at, "helm"),
                        f"name the chart of Helm repository {source!r}: helm.chart",
                    )
                elif kind == "oci" and helm.get("chart"):
                    yield doc.problem(
                        (*at, "helm", "chart"),
                        f"oci source {source!r} is the chart itself; remove helm.chart",
                    )
        if isinstance(helm, dict):
            if wl.get("target") == "host":
                yield doc.problem(
                    (*at, "target"), "a helm workload is installed into the vcluster only"
                )
            if wl.get("path") is not None:
                yield doc.problem((*at, "path"), "a helm workload has no path; remove it")
            if wl.get("postBuild") is not None:
                yield doc.problem(
                    (*at, "postBuild"), "postBuild applies to Kustomizations; remove it"
                )
        elif wl.get("target") == "host" and wl.get("namespace") is not None:
            yield doc.problem(
                (*at, "namespace"),
                f"a host workload is applied into tenant-{name} only; remove 'namespace'",
            )
        deps = wl.get("dependsOn")
        if isinstance(wname, str):
            graph.setdefault(wname, [])
        for j, dep in enumerate(deps if isinstance(deps, list) else []):
            if not isinstance(dep, str):
                continue
            names = list(
                dict.fromkeys(str(w["name"]) for w in workloads if isinstance(w.get("name"), str))
            )
            if dep not in names:
                yield doc.problem(
                    (*at, "dependsOn", j),
                    f"unknown workload {dep!r}; tenant {name!r} has: "
                    f"{_declared(names)}{_hint(dep, names)}",
                )
            elif dep == wname:
                yield doc.problem((*at, "dependsOn", j), f"workload {dep!r} depends on itself")
            elif isinstance(wname, str):
                if helm_of.get(wname, helm is not None) != any(
                    w.get("name") == dep and w.get("helm") is not None for w in workloads
                ):
                    yield doc.problem(
                        (*at, "dependsOn", j),
                        f"{wname!r} and {dep!r} are a HelmRelease and a Kustomization: Flux "
                        "orders only objects of the same kind",
                    )
                graph[wname].append(dep)
    used_as: dict[str, set[bool]] = {}
    for wl in workloads:
        if isinstance(wl.get("source"), str) and kinds.get(wl["source"]) == "oci":
            used_as.setdefault(wl["source"], set()).add(wl.get("helm") is not None)
    for i, wl in enumerate(raw if isinstance(raw, list) else []):
        source = wl.get("source") if isinstance(wl, dict) else None
        if isinstance(source, str) and len(used_as.get(source, ())) == 2 and wl.get("helm"):
            yield doc.problem(
                (*where, "workloads", i, "source"),
                f"oci source {source!r} is a Helm chart for this workload and a set of "
                "manifests for another; give each its own source",
            )
    cycle = _cycle({k: [d for d in v if d != k] for k, v in graph.items()})
    if cycle is not None:
        yield doc.problem(
            at_of.get(cycle[0], (*where, "workloads")),
            f"workloads depend on each other in a cycle: {' -> '.join(cycle)}",
        )
    yield from _route_problems(doc, where, tenant, defaults, ports if ports_known else None)


def _route_problems(
    doc: Document, where: Path, tenant: Any, defaults: Any, ports: set[int] | None
) -> Iterator[Problem]:
    """The tenant's routes: unique HTTPRoute names, and ports some workload exposes
    when that is known (every workload lists ``ports``, or the sample workload)."""
    routes = tenant.get("routes")
    if not isinstance(routes, list):
        return
    sample = model.Workload()
    raw_sample = _get(defaults, "workload", default={})
    sample_port = raw_sample.get("port", sample.port) if isinstance(raw_sample, dict) else None
    sample_name = raw_sample.get("name", sample.name) if isinstance(raw_sample, dict) else None
    has_workloads = bool(tenant.get("workloads"))
    first: dict[str, Path] = {}
    for i, route in enumerate(routes):
        if not isinstance(route, dict):
            continue
        at: Path = (*where, "routes", i)
        rname = route.get("name") or route.get("service")
        if isinstance(rname, str):
            if rname in first:
                line, col = doc.where(first[rname])
                yield doc.problem(
                    at,
                    f"duplicate route name {rname!r} (first at line {line}, column {col}); "
                    "give each route of one service its own 'name'",
                )
            else:
                first[rname] = at
        service = route.get("service")
        namespace = route.get("namespace", "default")
        sample_ns = (
            raw_sample.get("namespace", sample.namespace) if isinstance(raw_sample, dict) else None
        )
        if (
            not has_workloads
            and isinstance(service, str)
            and ((service, namespace) != (sample_name, sample_ns))
        ):
            yield doc.problem(
                (*at, "service"),
                f"route to service {namespace}/{service}: the tenant runs only the sample "
                f"workload {sample_ns}/{sample_name}; list the workload that serves it",
            )
            continue
        port = route.get("port")
        if not isinstance(port, int) or isinstance(port, bool):
            continue
        if not has_workloads and isinstance(sample_port, int) and port != sample_port:
            yield doc.problem(
                (*at, "port"),
                f"route to port {port}: no workload exposes it (the tenant runs the sample "
                f"workload {sample_name!r}, which serves port {sample_port})",
            )
        elif has_workloads and ports is not None and port not in ports:
            listed = ", ".join(str(p) for p in sorted(ports)) or "none"
            yield doc.problem(
                (*at, "port"),
                f"route to port {port}: no workload of tenant {tenant.get('name')!r} exposes "
                f"it (workloads' ports: {listed})",
            )


def _route_hostname_problems(
    doc: Document, tenants: list[Any], seen: _Seen, listeners: dict[int, list[str]]
) -> Iterator[Problem]:
    """A route's hostname is its tenant's own or one no other tenant uses, and one
    a listener of the Gateway accepts (``listeners``: by tenant index)."""
    claimed: dict[str, tuple[str, Path]] = dict(seen.hostnames)
    for index, tenant in enumerate(tenants):
        if not isinstance(tenant, dict) or not isinstance(tenant.get("routes"), list):
            continue
        owner = str(tenant.get("name"))
        for i, route in enumerate(tenant["routes"]):
            hostname = route.get("hostname") if isinstance(route, dict) else None
            if not isinstance(hostname, str):
                continue
            loc: Path = ("tenants", index, "routes", i, "hostname")
            if not _SUBDOMAIN.match(hostname) or len(hostname) > 253:
                yield doc.problem(loc, f"{hostname!r} is not a valid hostname")
                continue
            own = listeners.get(index)
            if own and not any(listener_matches(x, hostname) for x in own):
                yield doc.problem(
                    loc,
                    f"hostname {hostname!r} matches no listener hostname of the Gateway "
                    f"({', '.join(own)}): its HTTPRoute would not be accepted "
                    "(NoMatchingListenerHostname)",
                )
                continue
            holder = claimed.get(hostname)
            if holder is not None and holder[0] != owner:
                line, col = doc.where(holder[1])
                yield doc.problem(
                    loc,
                    f"hostname {hostname!r} is already used by tenant {holder[0]} "
                    f"(line {line}, column {col})",
                )
            elif holder is None:
                claimed[hostname] = (owner, loc)


@dataclass(frozen=True)
class _Demand:
    """What one tenant may request from its cluster, per resource: its quota's
    bound (None when its quota sets none) and its vcluster control plane's request."""

    quota: dict[str, Fraction | None]
    control: dict[str, Fraction]

    def of(self, resource: str) -> Fraction:
        bound = self.quota[resource]
        return bound if bound is not None else self.control[resource]


def _first_quantity(mapping: Any, *keys: str) -> Fraction | None:
    if isinstance(mapping, dict):
        for key in keys:
            value = mapping.get(key)
            if isinstance(value, str):
                try:
                    return parse_quantity(value)
                except QuantityError:
                    return None
    return None


_QUOTA_KEYS = {"cpu": ("requests.cpu", "cpu"), "memory": ("requests.memory", "memory")}


def _control_requests(profile: Any) -> dict[str, Fraction]:
    """The vcluster control plane's requests: the profile's, else the chart's."""
    own = _get(profile, "controlPlane", "requests") if isinstance(profile, dict) else None
    merged = {**CONTROL_PLANE_REQUESTS, **(own if isinstance(own, dict) else {})}
    out = {}
    for resource in _QUOTA_KEYS:
        value = _first_quantity(merged, resource)
        fallback = parse_quantity(CONTROL_PLANE_REQUESTS[resource])
        out[resource] = value if value is not None else fallback
    return out


def _demand(tenant: Any, defaults: Any) -> _Demand:
    """A tenant's demand on its cluster. The chart puts the ResourceQuota in the
    release namespace, where the control plane and every synced pod run (vcluster
    v0.30.4 chart/templates/resourcequota.yaml, ``namespace: .Release.Namespace``):
    a quota's ``requests.cpu`` bounds both. Without a bound only the control
    plane's request is known."""
    quota = tenant.get("quota")
    profile = _get(defaults, "quotas", quota) if isinstance(quota, str) else None
    hard = profile.get("resourceQuota") if isinstance(profile, dict) else None
    return _Demand(
        {r: _first_quantity(hard, *keys) for r, keys in _QUOTA_KEYS.items()},
        _control_requests(profile),
    )


def _below_control_plane(doc: Document, where: Path, profile: Any) -> Iterator[Problem]:
    """A quota smaller than the control plane's own request: the vcluster, which
    runs in the namespace the quota bounds, could not start."""
    hard = profile.get("resourceQuota")
    if not isinstance(hard, dict):
        return
    control = _control_requests(profile)
    for resource, keys in _QUOTA_KEYS.items():
        key = next((k for k in keys if isinstance(hard.get(k), str)), None)
        bound = _first_quantity(hard, *keys)
        if key is None or bound is None or bound >= control[resource]:
            continue
        binary = resource == "memory"
        yield doc.problem(
            (*where, "resourceQuota", key),
            f"{key} {hard[key]} is below the vcluster control plane's own request "
            f"{format_quantity(control[resource], binary)}, which the quota also bounds: "
            "the vcluster could not start",
        )


def _capacity_problems(
    doc: Document,
    index: int,
    cluster: Any,
    tenants: list[tuple[Any, Any]],
) -> Iterator[Problem]:
    """A cluster whose ``capacity`` its tenants' quotas and control planes exceed.
    ``tenants`` are its (tenant, effective defaults) pairs."""
    capacity = cluster.get("capacity")
    if not isinstance(capacity, dict):
        return
    where: Path = ("clusters", index, "capacity")
    yield from _quantity_problems(doc, where, capacity)
    demands = [_demand(t, d) for t, d in tenants]
    for resource, binary in (("cpu", False), ("memory", True)):
        text = capacity.get(resource)
        if not isinstance(text, str):
            continue
        try:
            limit = parse_quantity(text)
        except QuantityError:
            continue
        total = sum((d.of(resource) for d in demands), Fraction(0))
        if total <= limit:
            continue
        bounded = sum(
            (d.of(resource) for d in demands if d.quota[resource] is not None), Fraction(0)
        )
        yield doc.problem(
            (*where, resource),
            f"cluster {cluster.get('name')!r} is over capacity: its {len(demands)} "
            f"tenant(s) may request {resource} {format_quantity(total, binary)} (quotas "
            f"{format_quantity(bounded, binary)}, vcluster control planes without a quota "
            f"{format_quantity(total - bounded, binary)}), capacity {text}",
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


# --- one tenant added to or removed from a valid file (add-tenant, remove-tenant) --


def _effective_defaults(config: ConfigV2, spec: model.ClusterSpec) -> model.DefaultsV2:
    if not spec.defaults:
        return config.defaults
    merged = deep_merge(config.defaults.model_dump(by_alias=True), spec.defaults)
    return model.DefaultsV2.model_validate(merged)


def accepts_added_tenant(config: AnyConfig, doc: Document, item: dict[str, Any]) -> bool:
    """Whether :func:`parse` accepts the file of the valid ``config`` and ``doc`` with
    ``item`` (plain data of name, ip, cluster, shard, hostname, quota) appended to
    its tenants, without parsing that file: the rules of :func:`parse` that involve
    the new last tenant (the earlier tenants are checked before it, so only the
    route-hostname and capacity rules see it, and those are checked here too).
    Conservative: False means "not shown here; parse the new text", which also words
    the problems. tests/test_edit_incremental.py compares the verdict with a full
    parse over random edits, valid and invalid."""
    allowed = {"name", "ip", "cluster", "shard", "hostname", "quota"}
    if not set(item) <= allowed or not all(isinstance(v, str) for v in item.values()):
        return False
    if any(len(v) > MAX_STRING for v in item.values()) or len(config.tenants) >= MAX_TENANTS:
        return False
    name, ip = item.get("name"), item.get("ip")
    if name is None or ip is None or not _NAME.match(name) or name_too_long(name) is not None:
        return False
    try:
        address = parse_address(ip)
    except ValueError:
        return False
    specs: list[model.Tenant] = list(config.tenants)
    if any(t.name == name for t in specs):
        return False
    # The cluster: its pool, reserved addresses, defaults, shards and tenants.
    if isinstance(config, ConfigV2):
        cluster = item.get("cluster")
        by_name = {c.name: c for c in config.clusters}
        if cluster is None or cluster not in by_name:
            return False
        spec = by_name[cluster]
        defaults: model.Defaults = _effective_defaults(config, spec)
        pool_texts, reserved = spec.pool, spec.reserved
        shard = item.get("shard")
        if (shard is None) != (not spec.shards) or (shard is not None and shard not in spec.shards):
            return False
        quota = item.get("quota")
        quotas = defaults.quotas if isinstance(defaults, model.DefaultsV2) else {}
        if quota is not None and quota not in quotas:
            return False
        domains = {
            c.name: ((c is spec and defaults) or _effective_defaults(config, c)).ingress.domain
            for c in config.clusters
        }
        only = config.clusters[0].name if len(config.clusters) == 1 else None
        mates: list[model.Tenant] = [t for t in config.tenants if (t.cluster or only) == cluster]
        routes = {r.hostname for t in config.tenants for r in t.routes if r.hostname is not None}
        hostnames = {
            t.hostname or TenantNames(t.name).default_hostname(domains[str(t.cluster or only)])
            for t in config.tenants
        }
    else:
        if set(item) - {"name", "ip", "hostname"}:
            return False
        defaults = config.defaults
        pool_texts, reserved = config.pool, config.reserved
        mates = specs
        routes = set()
        hostnames = {
            t.hostname or TenantNames(t.name).default_hostname(defaults.ingress.domain)
            for t in specs
        }
    pool = [parse_range(text) for text in pool_texts]
    if not in_pool(address, pool) or any(parse_address(a) == address for a in reserved.values()):
        return False
    if any(t.ip == ip for t in mates) or str(address) != ip:
        return False  # a valid address is written in its one dotted-quad form
    ingress = defaults.ingress
    hostname = item.get("hostname") or TenantNames(name).default_hostname(ingress.domain)
    labels_ok = all(0 < len(label) <= 63 for label in hostname.split("."))
    if not _SUBDOMAIN.match(hostname) or len(hostname) > 253 or not labels_ok:
        return False
    if hostname in hostnames or hostname in routes:
        return False
    listeners = (
        ingress.listener_hostnames
        if ingress.listener_hostnames is not None
        else [f"*.{ingress.domain}"]
    )
    if listeners and not any(listener_matches(x, hostname) for x in listeners):
        return False
    if isinstance(config, ConfigV2) and spec.capacity is not None:
        return not _added_over_capacity(doc, item)
    return True


def _added_over_capacity(doc: Document, item: dict[str, Any]) -> bool:
    """The capacity rule of :func:`parse` for the cluster of the appended ``item``."""
    data = doc.data
    clusters = data.get("clusters")
    top = data.get("defaults")
    tenants = [*data.get("tenants", []), item]
    only = clusters[0].get("name") if len(clusters) == 1 else None
    for index, raw in enumerate(clusters):
        if raw.get("name") != item.get("cluster"):
            continue
        own = raw.get("defaults")
        merged = deep_merge(top if isinstance(top, dict) else {}, own) if own else top
        placed = [(t, merged) for t in tenants if (t.get("cluster") or only) == raw.get("name")]
        return any(True for _ in _capacity_problems(doc, index, raw, placed))
    return True


def accepts_removed_tenant(config: AnyConfig, index: int) -> bool:
    """Whether :func:`parse` accepts the valid file of ``config`` without its tenant
    ``index``: nothing in it may name the Flux Kustomizations of that tenant (version
    1's dependsOn lists; :func:`gitopsgen.consistency.depends_on_problems`), and the
    file keeps a tenant (the editor rewrites an emptied list). Conservative, like
    :func:`accepts_added_tenant`."""
    if len(config.tenants) < 2:
        return False
    names = TenantNames(config.tenants[index].name)
    flux = config.defaults.flux
    wanted = {*flux.vcluster_depends_on, *flux.routes_depends_on, *flux.network_policies_depends_on}
    return not wanted & {names.vcluster, names.tenant}
