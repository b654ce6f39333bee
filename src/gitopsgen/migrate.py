"""``gitopsgen migrate``: rewrite a version 1 tenants.yaml as version 2 (SPEC-v2
section 4), keeping its comments and layout.

The file is edited with ruamel.yaml's round-trip mode (as :mod:`gitopsgen.edit`
does for layouts it cannot edit line by line), so every comment, blank line, key
order and quote stays. What changes:

- ``version: 1`` becomes ``version: 2``.
- ``pool`` and ``reserved`` move, with their comments, under one cluster named
  after the old host-cluster directory (``host-cluster``: the one cluster of
  version 1, :data:`gitopsgen.platform.V1_CLUSTER`). ``wiring.hostCluster`` (the
  repository's kustomization that includes the tree) becomes the cluster's
  ``entryPoint``; the ``wiring`` block goes (version 2 has per-tenant
  ReferenceGrants, so ``wiring.traefikConfig`` has nothing left to check).
- Every tenant is pinned to what cannot change on a running tenant: its
  distro (``vcluster.distro: k3s``; a vcluster's distro never changes, and
  version 2 starts new tenants on k8s). Its name, address, hostname and Helm
  release name (``vcluster-<n>`` in ``vcluster-<n>``) are the same in both
  versions already.
- Optionally ``defaults.flux.repository.url`` (the workload's own GitRepository)
  and a new ``output`` directory.

The tree on disk is never touched here: the caller moves the old output only
when the user asks (``--move-output``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from gitopsgen.config import parse
from gitopsgen.edit import EditError, _detect_indent, _roundtrip
from gitopsgen.errors import ConfigError
from gitopsgen.model import Config, ConfigV2
from gitopsgen.platform import V1_CLUSTER
from gitopsgen.reader import CommentedMap, CommentedSeq

__all__ = ["Migration", "migrate_text"]

_V1_ONLY = ("pool", "reserved", "wiring")
_DEFAULT_ENTRY = "clusters/host-cluster/kustomization.yaml"


@dataclass(frozen=True)
class Migration:
    text: str
    pinned: tuple[str, ...]  # tenants pinned to k3s
    cluster: str
    notes: tuple[str, ...]


def _last_slot(node: Any) -> tuple[list[Any], int] | None:
    """Where ruamel keeps the comment lines that follow ``node``'s last line: on its
    deepest last item, or on its own last entry."""
    if hasattr(node, "keys"):
        if not node:
            return None
        key: Any = list(node.keys())[-1]
        index = 2
    elif isinstance(node, list):
        if not node:
            return None
        key, index = len(node) - 1, 0
    else:
        return None
    inner = _last_slot(node[key])
    entry = node.ca.items.get(key)
    if entry and entry[index] is not None:
        return entry, index
    return inner


def _take_heading(parent: Any, key: Any) -> list[str]:
    """Remove and return the comment lines right above the key that follows ``key``
    in ``parent`` (after the last blank line of the comment ending its value)."""
    slot = _last_slot(parent[key])
    entry = parent.ca.items.get(key)
    if slot is None and entry and entry[2] is not None:
        slot = entry, 2
    if slot is None:
        return []
    entry, index = slot
    token = entry[index]
    lines = token.value.removesuffix("\n").split("\n")
    last_blank = max((i for i, line in enumerate(lines) if not line.strip()), default=-1)
    heading = lines[last_blank + 1 :]
    if last_blank < 0 or not heading or not all(h.strip().startswith("#") for h in heading):
        return []  # no blank line: the lines belong to the value (an end-of-line comment)
    token.value = "\n".join(lines[: last_blank + 1]) + "\n"
    return [h.strip()[1:].removeprefix(" ") for h in heading]


def migrate_text(
    text: str,
    label: str = "tenants.yaml",
    *,
    repository: str | None = None,
    output: str | None = None,
) -> Migration:
    """The version 2 text of the version 1 file ``text``."""
    config, _ = parse(text, label)  # located errors for a bad file, as every command
    if not isinstance(config, Config):
        raise EditError(f"{label}: already version {config.version}; nothing to migrate")
    yaml = _roundtrip()
    data = yaml.load(text)
    keys = list(data.keys())

    # Comment lines heading `pool:` and `reserved:` move with them.
    headings: dict[str, list[str]] = {}
    for key in ("pool", "reserved"):
        if key in data and keys.index(key) > 0:
            headings[key] = _take_heading(data, keys[keys.index(key) - 1])

    cluster = CommentedMap()
    cluster["name"] = V1_CLUSTER
    cluster.yaml_add_eol_comment("the old host-cluster directory (version 1's one cluster)", "name")
    notes: list[str] = []
    wiring = data.get("wiring") or {}
    entry = wiring.get("hostCluster", _DEFAULT_ENTRY) if "wiring" in data else _DEFAULT_ENTRY
    if entry is not None:
        cluster["entryPoint"] = entry
    if wiring.get("traefikConfig") is not None:
        notes.append(
            "wiring.traefikConfig dropped: version 2 applies each tenant's ReferenceGrant "
            "with the tenant; remove the old include from that kustomization after the cutover"
        )
    mapping, offset = _detect_indent(text)
    for key in ("pool", "reserved"):
        if key in data:
            cluster[key] = data[key]
            if headings.get(key):
                cluster.yaml_set_comment_before_after_key(
                    key, before="\n".join(headings[key]), indent=offset + 2
                )

    # The clusters key goes where the first of pool/reserved/wiring was.
    position = next((i for i, k in enumerate(keys) if k in _V1_ONLY), len(keys))
    before = [k for k in keys[:position] if k not in _V1_ONLY]
    for key in _V1_ONLY:
        if key in data:
            del data[key]
    data.insert(len(before), "clusters", CommentedSeq([cluster]))
    data["version"] = 2

    if repository is not None or output is not None:
        if output is not None:
            data["output"] = output
        if repository is not None:
            if "defaults" not in data:
                data.insert(list(data.keys()).index("clusters"), "defaults", CommentedMap())
            defaults = data["defaults"]
            flux = defaults.setdefault("flux", CommentedMap())
            repo = flux.setdefault("repository", CommentedMap())
            repo["url"] = repository

    pinned: list[str] = []
    for tenant in data.get("tenants") or []:
        vc = tenant.get("vcluster")
        if vc is None:
            vc = tenant["vcluster"] = CommentedMap()
        if "distro" not in vc:
            vc.insert(0, "distro", "k3s")
            vc.yaml_add_eol_comment(
                "pinned by migrate: a running vcluster's distro never changes", "distro"
            )
        pinned.append(str(tenant["name"]))

    yaml.indent(mapping=mapping, sequence=mapping + offset, offset=offset)
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    new = buffer.getvalue()
    try:
        migrated, _ = parse(new, label)
    except ConfigError as exc:  # pragma: no cover - a bug here, not the user's input
        raise EditError(f"{label}: the migrated file does not validate:\n{exc}") from exc
    assert isinstance(migrated, ConfigV2)
    return Migration(new, tuple(pinned), V1_CLUSTER, tuple(notes))
