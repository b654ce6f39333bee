"""Is the generated tree reachable from the repository's Flux entry point?

A generated directory that no kustomization includes is never applied, and nothing
says so: Flux reconciles the rest of the repository happily. ``gitopsgen check``
therefore also reads the repository's own kustomizations named in ``wiring:``
(paths relative to the repository root):

- ``hostCluster`` (default ``clusters/host-cluster/kustomization.yaml``, the
  directory the Flux instance syncs) must include ``<output>/clusters/host-cluster``,
  the Flux Kustomizations of every tenant;
- ``traefikConfig`` (default ``infrastructure/traefik/config/kustomization.yaml``)
  must include ``<output>/infrastructure/traefik/config``, the ReferenceGrants.

"Include" means listed in ``resources`` (or the older ``bases``), directly or
through local directories it lists in turn. A link that is absent from an existing
file is drift (exit 1), reported with the exact line to add. A file that does not
exist is only a note: the repository may not be laid out like the seed; set the
entry to null to silence it.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitopsgen.errors import ConfigError

if TYPE_CHECKING:
    from gitopsgen.config import Project

__all__ = [
    "KUSTOMIZATION_FILES",
    "Link",
    "WiringFinding",
    "check_links",
    "check_wiring",
    "links",
]

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_MAX_FILES = 200  # kustomization files followed per link: plenty, and bounded


@dataclass(frozen=True)
class Link:
    """One generated directory that a repository kustomization must include."""

    key: str  # wiring.hostCluster
    root_file: Path  # the repository's kustomization (may not exist)
    target: Path  # the generated directory
    line: str  # the resources entry to add, e.g. "../../generated/clusters/host-cluster"


@dataclass(frozen=True)
class WiringFinding:
    """A missing link (``severity`` error) or a note (``warning``)."""

    severity: str  # "error" | "warning"
    file: Path
    message: str
    line: int | None = None  # where the entry belongs (the resources key), when known
    add: str | None = None  # the exact line to add


def _norm(path: Path | str) -> Path:
    return Path(os.path.normpath(path))


def links(project: Project) -> list[Link]:
    """The links ``project`` asks for (none for an entry set to null)."""
    from gitopsgen.layout import FleetLayout
    from gitopsgen.model import ConfigV2
    from gitopsgen.platform import v1_layout

    config = project.config
    root = project.repository_root
    found: list[Link] = []
    wanted: list[tuple[str, str | None, str]] = []
    if isinstance(config, ConfigV2):
        # Version 2: each cluster's root sync builds its entry point, directly (no
        # entryPoint) or through a kustomization of the repository.
        for index, spec in enumerate(config.clusters):
            entry = FleetLayout(spec.name, "", "").entry_dir
            wanted.append((f"clusters[{index}].entryPoint", spec.entry_point, entry))
    else:
        seed = v1_layout(config.defaults)
        wanted += [
            ("wiring.hostCluster", config.wiring.host_cluster, seed.flux_dir),
            ("wiring.traefikConfig", config.wiring.traefik_config, seed.grants_dir),
        ]
    for key, setting, generated in wanted:
        if setting is None:
            continue
        root_file = _norm(root / setting)
        target = _norm(project.output_dir / generated)
        rel = os.path.relpath(target, root_file.parent).replace(os.sep, "/")
        found.append(Link(key, root_file, target, rel))
    return found


def _entries(path: Path) -> tuple[list[str], int | None, str | None]:
    """The resources (and bases) entries of a kustomization file, the line of its
    ``resources`` key, and why it could not be read."""
    from gitopsgen.reader import read_text

    try:
        raw = path.read_bytes()
    except OSError as exc:
        return [], None, f"cannot read: {exc.strerror}"
    try:
        doc = read_text(raw, str(path))
    except ConfigError as exc:
        return [], None, exc.problems[0].format() if exc.problems else "not valid YAML"
    data = doc.data
    if not isinstance(data, dict):
        return [], None, "is not a kustomization (not a mapping)"
    entries: list[str] = []
    for key in ("resources", "bases"):
        value = data.get(key)
        if isinstance(value, list):
            entries.extend(v for v in value if isinstance(v, str))
    line = doc.keys.get(("resources",), (None, None))[0] if "resources" in data else None
    return entries, line, None


def _kustomization_in(directory: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def _reaches(root_file: Path, target: Path) -> tuple[bool, int | None, str | None]:
    """Whether ``root_file`` includes ``target``, directly or through local directories
    it lists; also the line of its ``resources`` key and why it could not be read."""
    entries, line, error = _entries(root_file)
    if error is not None:
        return False, None, error
    queue = deque([(root_file.parent, entries)])
    seen = {root_file.parent}
    while queue:
        directory, listed = queue.popleft()
        for entry in listed:
            if "://" in entry or entry.startswith(("git@", "github.com/")):
                continue  # remote resource
            resolved = _norm(directory / entry)
            if resolved == target:
                return True, line, None
            if resolved in seen or len(seen) >= _MAX_FILES or not resolved.is_dir():
                continue
            seen.add(resolved)
            nested = _kustomization_in(resolved)
            if nested is not None:
                more, _, _ = _entries(nested)
                queue.append((resolved, more))
    return False, line, None


def _shown(path: Path) -> str:
    """``path`` as the user sees it: relative to the working directory when inside it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


def check_wiring(project: Project) -> list[WiringFinding]:
    """Missing links (errors) and wiring files that do not exist (warnings), and the
    shards of each cluster's FluxInstance (:func:`check_shards`)."""
    return check_shards(project) + check_links(links(project), project.source_name)


def check_links(wanted: Iterable[Link], source_name: str) -> list[WiringFinding]:
    """The links part of :func:`check_wiring`, for links already derived (the cache of
    ``check`` keeps them: deriving them needs the validated model; checking them
    reads the files)."""
    findings: list[WiringFinding] = []
    for link in wanted:
        shown_target = _shown(link.target)
        if not link.root_file.is_file():
            findings.append(
                WiringFinding(
                    "warning",
                    link.root_file,
                    f"{link.key}: {_shown(link.root_file)} does not exist, so nothing "
                    f"shows that Flux applies {shown_target}; the kustomization Flux syncs "
                    f"should list it under resources: `- {link.line}` (set {link.key}: null "
                    f"in {source_name} to skip this check)",
                    add=f"- {link.line}",
                )
            )
            continue
        reached, line, error = _reaches(link.root_file, link.target)
        if reached:
            continue
        if error is not None:
            message = f"cannot check that it includes {shown_target}: {error}"
        else:
            where = "under resources:" if line is not None else "in a new 'resources:' list:"
            message = (
                f"does not include the generated directory {shown_target}, so Flux never "
                f"applies it; add this line {where} `- {link.line}`"
            )
        findings.append(
            WiringFinding("error", link.root_file, message, line=line, add=f"- {link.line}")
        )
    return findings


SHARD_KEY = "sharding.fluxcd.io/key"


def _flux_instance(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The FluxInstance object of the manifest at ``path``, or why there is none."""
    from gitopsgen.reader import read_text

    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, f"cannot read: {exc.strerror}"
    try:
        doc = read_text(raw, str(path))
    except ConfigError as exc:
        return None, exc.problems[0].format() if exc.problems else "not valid YAML"
    data = doc.data
    if isinstance(data, dict) and data.get("kind") == "FluxInstance":
        return data, None
    return None, "holds no FluxInstance"


def check_shards(project: Project) -> list[WiringFinding]:
    """Version 2: each cluster's FluxInstance (``clusters[].fluxInstance``) must run
    a controller shard for every shard its tenants use; a listed shard that no
    tenant uses is a note. Flux Operator's ``spec.sharding.shards`` starts one set
    of shard controllers per name, each watching ``sharding.fluxcd.io/key=<name>``
    (the FluxInstance CRD in reference/crds; controlplaneio-fluxcd/flux-operator
    docs "Flux sharding")."""
    from gitopsgen.model import ConfigV2

    config = project.config
    if not isinstance(config, ConfigV2):
        return []
    findings: list[WiringFinding] = []
    for spec in config.clusters:
        if spec.flux_instance is None:
            continue
        path = _norm(project.repository_root / spec.flux_instance)
        used = sorted(
            {t.shard for t in config.tenants if t.shard and t.cluster in (spec.name, None)}
        )
        instance, error = _flux_instance(path)
        if instance is None:
            findings.append(
                WiringFinding(
                    "error",
                    path,
                    f"clusters[{spec.name}].fluxInstance: {error}; cannot check that shards "
                    f"{', '.join(used) or '(none)'} have controllers",
                )
            )
            continue
        sharding = (instance.get("spec") or {}).get("sharding") or {}
        key = sharding.get("key", SHARD_KEY) if isinstance(sharding, dict) else SHARD_KEY
        raw = sharding.get("shards") if isinstance(sharding, dict) else None
        listed = [str(s) for s in raw] if isinstance(raw, list) else []
        if used and key != SHARD_KEY:
            findings.append(
                WiringFinding(
                    "error",
                    path,
                    f"cluster {spec.name}: the FluxInstance shards by label {key!r}, the "
                    f"generated tree by {SHARD_KEY!r}; set spec.sharding.key: {SHARD_KEY}",
                )
            )
        missing = [s for s in used if s not in listed]
        if missing:
            findings.append(
                WiringFinding(
                    "error",
                    path,
                    f"cluster {spec.name}: tenants use shard(s) {', '.join(missing)} that the "
                    f"FluxInstance does not run, so nothing reconciles them; list them under "
                    f"spec.sharding.shards",
                    add="shards: [" + ", ".join(dict.fromkeys([*listed, *missing])) + "]",
                )
            )
        idle = [s for s in listed if s not in used]
        if idle:
            findings.append(
                WiringFinding(
                    "warning",
                    path,
                    f"cluster {spec.name}: the FluxInstance runs shard(s) {', '.join(idle)} "
                    "that no tenant uses",
                )
            )
    return findings
