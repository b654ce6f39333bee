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
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path as FsPath
from typing import Any

from pydantic import BaseModel, ValidationError

from gitopsgen import model
from gitopsgen.errors import ConfigError, Problem
from gitopsgen.fsio import read_limited
from gitopsgen.ipam import PoolRange, parse_address, parse_range
from gitopsgen.model import NAME_MAX, NAME_PATTERN, Config
from gitopsgen.reader import MAX_BYTES, Document, Path, read_text

__all__ = ["Project", "hostname_of", "load", "parse"]

_NAME = re.compile(NAME_PATTERN)
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

# (derived name, template, limit) in the order users meet them; the strictest wins.
_DERIVED = (
    ("Helm release name", "vcluster-{}", 53),
    ("namespace", "vcluster-{}", 63),
    ("hostname label", "tenant-{}", 63),
)


@dataclass(frozen=True)
class Project:
    """A validated tenants.yaml and where its tree goes."""

    config: Config
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


def hostname_of(tenant: model.Tenant, config: Config) -> str:
    return tenant.hostname or f"tenant-{tenant.name}.{config.defaults.ingress.domain}"


def _all_keys() -> dict[str, None]:
    keys: dict[str, None] = {}
    stack: list[type[BaseModel]] = [Config]
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


_KEYS = _all_keys()
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


def _pydantic_problems(exc: ValidationError, doc: Document) -> Iterator[Problem]:
    for err in exc.errors(include_url=False):
        loc: Path = tuple(
            p
            for p in err["loc"]
            if isinstance(p, int) or p in _KEYS or p in _walk_keys(doc, err["loc"])
        )
        kind = err["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1])
            message = f"unknown key {key!r}"
            close = difflib.get_close_matches(key, list(_KEYS), n=1)
            if close:
                message += f"; did you mean {close[0]!r}?"
            yield doc.problem(loc, message, key=True)
        elif kind == "missing":
            yield doc.problem(loc[:-1], f"missing required key {loc[-1]!r}")
        elif kind == "too_short" and loc == ("pool",):
            yield doc.problem(loc, "the pool is empty; list at least one range 'A-B' or CIDR 'A/N'")
        elif kind == "list_type" and loc == ("pool",):
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
            yield doc.problem(loc, f"expected {expected}, got {_describe(err['input'])}")
        elif kind in _TYPE_WORDS:
            yield doc.problem(loc, f"{_TYPE_WORDS[kind]}, got {_describe(err['input'])}")
        else:
            msg = err["msg"]
            yield doc.problem(loc, msg[:1].lower() + msg[1:])


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


def _semantic_problems(doc: Document) -> Iterator[Problem]:
    data = doc.data
    # The pool: well-formed ranges that do not overlap.
    pool_raw = data.get("pool")
    entries: list[tuple[Path, Any]] = []
    if isinstance(pool_raw, str):
        entries = [(("pool",), pool_raw)]
    elif isinstance(pool_raw, list):
        entries = [(("pool", i), v) for i, v in enumerate(pool_raw)]
    pool: list[PoolRange] = []
    for loc, text in entries:
        if not isinstance(text, str):
            continue
        try:
            rng = parse_range(text)
        except ValueError as exc:
            yield doc.problem(loc, _range_reason(text, exc))
            continue
        for i, other in enumerate(pool):
            if rng.overlaps(other):
                yield doc.problem(loc, f"range {text!r} overlaps {other.text!r} (pool[{i}])")
                break
        pool.append(rng)

    def in_pool(address: IPv4Address) -> bool:
        return any(address in r for r in pool)

    pool_ok = bool(pool) and len(pool) == len(entries)

    # Reserved addresses: valid, inside the pool, one holder each.
    holders: dict[IPv4Address, tuple[str, Path]] = {}
    reserved = data.get("reserved")
    if isinstance(reserved, dict):
        for service, text in reserved.items():
            loc = ("reserved", service)
            if not isinstance(text, str):
                continue
            try:
                address = parse_address(text)
            except ValueError as exc:
                yield doc.problem(loc, str(exc))
                continue
            if pool_ok and not in_pool(address):
                yield doc.problem(loc, f"{text} is outside the pool")
            if address in holders:
                holder, first = holders[address]
                line, col = doc.where(first)
                yield doc.problem(
                    loc, f"{text} is already reserved for {holder} (line {line}, column {col})"
                )
                continue
            holders[address] = (service, loc)
    reserved_for = {a: h for a, (h, _) in holders.items()}

    # Tenants: names, derived name lengths, addresses and hostnames.
    tenants = data.get("tenants")
    if not isinstance(tenants, list):
        return
    domain = _get(data, "defaults", "ingress", "domain", default="traefik.local")
    if not isinstance(domain, str) or not _SUBDOMAIN.match(domain) or len(domain) > 253:
        if isinstance(domain, str):
            yield doc.problem(
                ("defaults", "ingress", "domain"),
                f"{domain!r} is not a valid DNS name (lowercase letters, digits, '-' and '.')",
            )
        domain = None
    names: dict[str, Path] = {}
    addresses: dict[IPv4Address, tuple[str, Path]] = {}
    hostnames: dict[str, tuple[str, Path]] = {}
    for index, tenant in enumerate(tenants):
        if not isinstance(tenant, dict):
            continue
        name = tenant.get("name")
        name_ok = False
        if isinstance(name, str):
            loc = ("tenants", index, "name")
            if not _NAME.match(name):
                yield doc.problem(
                    loc,
                    f"{name!r} is not a valid name: use lowercase letters, digits and '-', "
                    "starting and ending with a letter or digit (a DNS-1123 label)",
                )
            elif len(name) > NAME_MAX:
                what, template, limit = next(d for d in _DERIVED if len(d[1].format(name)) > d[2])
                derived = template.format(name)
                yield doc.problem(
                    loc,
                    f"{name!r} is too long: {what} {derived!r} would be {len(derived)} "
                    f"characters, the limit is {limit} (names may have at most {NAME_MAX})",
                )
            elif name in names:
                line, col = doc.where(names[name])
                yield doc.problem(
                    loc, f"duplicate tenant name {name!r} (first at line {line}, column {col})"
                )
            else:
                names[name] = loc
                name_ok = True
        ip = tenant.get("ip")
        if isinstance(ip, str):
            loc = ("tenants", index, "ip")
            try:
                address = parse_address(ip)
            except ValueError as exc:
                yield doc.problem(loc, str(exc))
            else:
                if pool_ok and not in_pool(address):
                    yield doc.problem(loc, f"{ip} is outside the pool")
                elif address in reserved_for:
                    yield doc.problem(loc, f"{ip} is reserved for {reserved_for[address]}")
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
        if hostname is None and name_ok and domain is not None:
            hostname = f"tenant-{name}.{domain}"
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
            elif hostname in hostnames:
                holder, first = hostnames[hostname]
                line, col = doc.where(first)
                yield doc.problem(
                    hloc,
                    f"{what} {hostname!r} is already used by tenant {holder} "
                    f"(line {line}, column {col})",
                )
            else:
                hostnames[hostname] = (str(name), hloc)


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


def parse(raw: bytes | str, path: str = "tenants.yaml") -> tuple[Config, Document]:
    """Validate the text of a tenants.yaml; nothing touches the file system."""
    doc = read_text(raw, path)
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
            [doc.problem((), f"the top level must be a mapping, got {_describe(doc.data)}")]
        )
    problems: list[Problem] = []
    config: Config | None = None
    try:
        config = Config.model_validate(doc.data)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc, doc))
    problems.extend(_semantic_problems(doc))
    problems.extend(_limit_problems(doc))
    if problems or config is None:
        raise ConfigError(dict.fromkeys(problems))
    return config, doc


def _resolve_dirs(
    config: Config, doc: Document, config_path: FsPath, allow_outside: bool
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
    config: Config,
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


def load(path: str | os.PathLike[str], *, allow_outside: bool = False) -> Project:
    """Read, validate and locate a tenants.yaml."""
    config_path = FsPath(path)
    label = str(path)
    try:
        # stat first, then at most the limit + 1 byte: a 1 GB file or /dev/zero is
        # refused without being read.
        raw = read_limited(config_path, MAX_BYTES)
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
    config, doc = parse(raw, label)
    output, root = _resolve_dirs(config, doc, config_path, allow_outside)
    if _inside(os.path.realpath(config_path), os.path.realpath(output)):
        where = f"{label} is a symbolic link into the output directory {config.output!r}"
        raise ConfigError([Problem(1, 1, "", f"{where}; build would overwrite it", label)])
    return Project(config, doc, config_path, output, root)
