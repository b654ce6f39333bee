"""Names and paths: the one place that says what a tenant's objects are called and
where its files go.

Every derived name (namespaces, Helm release, kubeconfig Secret, the Service that
vcluster syncs to the host, the default hostname) and every path of the output
tree is made here; renderers, validation, diff attribution, the importer, wiring
and the editor ask this module instead of formatting names themselves. The
layout is also read backwards (:meth:`Layout.locate`): a file on disk that the
current tenants.yaml no longer produces is attributed to its tenant from its
path, with the namespace and target its objects land in.
"""

from __future__ import annotations

import hashlib
import os
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "DERIVED_LIMITS",
    "HOST",
    "NAME_MAX",
    "FleetLayout",
    "Layout",
    "Placement",
    "SeedLayout",
    "Spot",
    "TenantNames",
    "bucket_of",
    "name_too_long",
    "safe_concat_name",
    "target_of",
]

VCLUSTER = "vcluster-"
TENANT = "tenant-"
# The target of objects applied to the host cluster (as opposed to inside a vcluster).
HOST = "host"


def safe_concat_name(*parts: str) -> str:
    """vcluster's ``SafeConcatName``: join with ``-``; past 63 characters keep the
    first 52, then ``-`` and the first 10 hex digits of the SHA-256 of the whole
    (loft-sh/vcluster v0.30.4 pkg/util/translate/util.go)."""
    full = "-".join(parts)
    if len(full) <= 63:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:10]
    return (full[:52] + "-" + digest).replace(".-", "-")


@dataclass(frozen=True, slots=True)
class TenantNames:
    """Every name derived from a tenant's short name."""

    name: str

    @property
    def vcluster(self) -> str:
        """``vcluster-<n>``: the host namespace, Helm release, StatefulSet and the Flux
        Kustomization of the vcluster."""
        return VCLUSTER + self.name

    @property
    def tenant(self) -> str:
        """``tenant-<n>``: the host namespace of the routes, the workload's Flux
        Kustomization, and the default hostname's first label."""
        return TENANT + self.name

    @property
    def kubeconfig_secret(self) -> str:
        """The Secret the chart writes the kubeconfig to (``exportKubeConfig``),
        key ``config``: ``vc-<release>`` (chart templates/_helpers.tpl)."""
        return "vc-" + self.vcluster

    @property
    def service_account(self) -> str:
        """The control plane's ServiceAccount: ``vc-<release>`` (chart
        templates/serviceaccount.yaml, ``vc-{{ .Release.Name }}``)."""
        return "vc-" + self.vcluster

    @property
    def workload_service_account(self) -> str:
        """``tenant-<n>``: the ServiceAccount (in namespace ``vcluster-<n>``) that the
        tenant's own workloads run as: inside the vcluster for ``target: vcluster``,
        on the host for ``target: host``."""
        return self.tenant

    @property
    def auth_delegator(self) -> str:
        return f"{self.vcluster}:auth-delegator"

    @property
    def reference_grant(self) -> str:
        return f"allow-{self.tenant}-to-{self.vcluster}"

    def default_hostname(self, domain: str) -> str:
        return f"{self.tenant}.{domain}"

    def synced_service(self, service: str, namespace: str) -> str:
        """The name vcluster gives, on the host, to ``service`` in ``namespace``:
        ``<name>-x-<namespace>-x-<vcluster>`` shortened by :func:`safe_concat_name`."""
        return safe_concat_name(service, "x", namespace, "x", self.vcluster)


# (what, derived name, limit): every name built from a tenant name that Kubernetes
# or the chart limits, in the order users meet them; the strictest decides NAME_MAX.
# The vcluster chart names its StatefulSet after the Helm release "vcluster-<name>"
# (loft-sh/vcluster chart/templates/statefulset.yaml: `name: {{ .Release.Name }}`).
# The StatefulSet controller labels every pod controller-revision-hash=<name>-<hash>,
# a label value (63 characters at most) with a hash of up to 10 characters: past 52
# characters the pod is never created (kubernetes/kubernetes#64023). Helm's own limit
# on release names (53) is one more than that, so the StatefulSet's decides: 43.
STATEFULSET_MAX = 52
DERIVED_LIMITS: tuple[tuple[str, str, int], ...] = (
    ("StatefulSet (Helm release) name", "vcluster", STATEFULSET_MAX),
    ("namespace", "vcluster", 63),
    ("hostname label", "tenant", 63),
)


def _derived(name: str, attribute: str) -> str:
    return str(getattr(TenantNames(name), attribute))


NAME_MAX = min(limit - len(_derived("", attr)) for _, attr, limit in DERIVED_LIMITS)


def name_too_long(name: str) -> str | None:
    """Why ``name`` is too long for a derived name, or None."""
    for what, attribute, limit in DERIVED_LIMITS:
        derived = _derived(name, attribute)
        if len(derived) > limit:
            return (
                f"{name!r} is too long: {what} {derived!r} would be {len(derived)} "
                f"characters, the limit is {limit} (names may have at most {NAME_MAX})"
            )
    return None


def target_of(cluster: str | None, vcluster: str | None = None) -> str:
    """Where objects are applied, as object identities name it: ``host`` or
    ``vcluster-<n>`` in a version 1 tree (one host cluster, unnamed), and
    ``<cluster>`` or ``<cluster>/vcluster-<n>`` when the host cluster is named."""
    if cluster is None:
        return vcluster or HOST
    return f"{cluster}/{vcluster}" if vcluster else cluster


@dataclass(frozen=True, slots=True)
class Placement:
    """Where the objects of one file land, and whose they are."""

    tenant: str | None
    namespace: str | None  # when the objects carry none themselves
    target: str


@dataclass(frozen=True, slots=True)
class Spot:
    """A path of the tree (a file or a directory) and where its objects land."""

    path: str
    placement: Placement

    def join(self, name: str) -> str:
        return f"{self.path}/{name}"


@dataclass(frozen=True, slots=True)
class _Place:
    """One per-tenant location: ``prefix{name}suffix`` is a directory (``is_dir``:
    every file below it) or a file."""

    prefix: str
    suffix: str
    is_dir: bool
    namespace: str | None  # a template: "{vcluster}", "{tenant}", a literal, or None
    in_vcluster: bool = False

    def path(self, names: TenantNames) -> str:
        return f"{self.prefix}{names.name}{self.suffix}"

    def match(self, rel: str) -> str | None:
        """The tenant name if ``rel`` is (below) this location."""
        if not rel.startswith(self.prefix):
            return None
        rest = rel[len(self.prefix) :]
        if self.is_dir:
            name, sep, below = rest.partition(self.suffix)
            return name if sep and below and "/" not in name and name else None
        if rest.endswith(self.suffix):
            name = rest[: len(rest) - len(self.suffix)]
            return name if name and "/" not in name else None
        return None


@dataclass(frozen=True)
class Layout:
    """The paths of one host cluster's files, relative to the output directory:
    what every layout answers.

    ``cluster`` is the host cluster's name as identities carry it (None for the
    one unnamed host cluster of version 1).
    """

    cluster: str | None
    flux_namespace: str
    workload_namespace: str

    def _places(self) -> tuple[_Place, ...]:
        """The per-tenant locations, made once per layout (a fleet build asks for
        them for every tenant's every file)."""
        places: tuple[_Place, ...] | None = self.__dict__.get("_made_places")
        if places is None:
            places = self.__dict__["_made_places"] = self._make_places()
        return places

    def _make_places(self) -> tuple[_Place, ...]:
        raise NotImplementedError

    @property
    def entry_dir(self) -> str:
        """The directory of the kustomization that Flux's root sync builds first."""
        raise NotImplementedError

    def _spot(self, place: _Place, names: TenantNames) -> Spot:
        return Spot(place.path(names).rstrip("/"), self.placement(place, names))

    # --- targets ------------------------------------------------------------------

    @property
    def host(self) -> str:
        return target_of(self.cluster)

    def vcluster(self, names: TenantNames) -> str:
        return target_of(self.cluster, names.vcluster)

    def placement(self, place: _Place, names: TenantNames) -> Placement:
        namespace = place.namespace
        if namespace is not None:
            namespace = namespace.format(vcluster=names.vcluster, tenant=names.tenant)
        target = self.vcluster(names) if place.in_vcluster else self.host
        return Placement(names.name, namespace, target)

    # --- backwards ----------------------------------------------------------------

    def locate(self, rel: str) -> Placement | None:
        """The tenant a file at ``rel`` belongs to by its path, and where its objects
        land; None for a path that belongs to no tenant."""
        for place in self._places():
            name = place.match(rel)
            if name is not None:
                return self.placement(place, TenantNames(name))
        return None

    def tenant_of_namespace(self, namespace: str | None) -> str | None:
        """The tenant whose ``vcluster-<n>`` or ``tenant-<n>`` host namespace this is."""
        if namespace is not None:
            for prefix in (VCLUSTER, TENANT):
                if namespace.startswith(prefix) and len(namespace) > len(prefix):
                    return namespace[len(prefix) :]
        return None

    def owner(self, rel: str) -> str | None:
        found = self.locate(rel)
        return found.tenant if found is not None else None

    def owners(self, rels: Iterable[str], *, ordered: bool = False) -> dict[str, str]:
        """:meth:`owner` of many paths at once (the paths of no tenant left out): an
        incremental build reads a whole manifest back. ``ordered``: ``rels`` is a
        sorted list, and only the run of it below this layout's locations is read."""
        # A directory location's suffix ends with '/' and a file name has none, so
        # whether a file lies below one depends on its directory alone: each
        # directory is matched once (321,000 paths of 20,000 tenants lie in 80,000
        # directories). A file location is matched on the whole path; the first
        # location in order wins, as in :meth:`owner`.
        places = self._places()
        common = os.path.commonprefix([p.prefix for p in places])  # noqa: RUF071 (strings)
        files = [(i, p) for i, p in enumerate(places) if not p.is_dir]
        dirs = [(i, p) for i, p in enumerate(places) if p.is_dir]
        by_dir: dict[str, tuple[int, str] | None] = {}
        found: dict[str, str] = {}
        if not common:
            mine: Iterable[str] = rels
        elif ordered and isinstance(rels, list) and common[-1] != chr(0x10FFFF):
            # Every path starting with ``common`` sorts between it and ``common``
            # with its last character raised by one.
            above = common[:-1] + chr(ord(common[-1]) + 1)
            mine = rels[bisect_left(rels, common) : bisect_left(rels, above)]
        else:
            mine = [r for r in rels if r.startswith(common)]
        for rel in mine:
            directory, slash, base = rel.rpartition("/")
            hit: tuple[int, str] | None
            if not (slash and base):
                hit = next(((i, n) for i, p in dirs if (n := p.match(rel)) is not None), None)
            elif directory in by_dir:
                hit = by_dir[directory]
            else:
                probe = directory + "/x"
                hit = next(((i, n) for i, p in dirs if (n := p.match(probe)) is not None), None)
                by_dir[directory] = hit
            for i, place in files:
                if hit is not None and hit[0] < i:
                    break
                name = place.match(rel)
                if name is not None:
                    hit = (i, name)
                    break
            if hit is not None:
                found[rel] = hit[1]
        return found


@dataclass(frozen=True)
class SeedLayout(Layout):
    """Version 1: the seed repository's layout (SPEC.md). ``flux_dir`` is the
    directory of the Flux Kustomizations that Flux reaches first
    (``clusters/host-cluster``)."""

    flux_dir: str = "clusters/host-cluster"
    netpol_dir: str = "infrastructure/network-policies"
    grants_dir: str = "infrastructure/traefik/config"

    @property
    def entry_dir(self) -> str:
        return self.flux_dir

    # --- per tenant: each location is one _Place, read forwards and backwards ---

    @property
    def _vcluster_place(self) -> _Place:
        return _Place("clusters/" + VCLUSTER, "/", True, "{vcluster}")

    @property
    def _workload_place(self) -> _Place:
        return _Place("tenant/" + TENANT, "/workload/", True, self.workload_namespace, True)

    @property
    def _routes_place(self) -> _Place:
        return _Place("tenant/" + TENANT, "/routes/", True, "{tenant}")

    @property
    def _tenant_place(self) -> _Place:
        return _Place("tenant/" + TENANT, "/", True, None)

    @property
    def _vcluster_ks_place(self) -> _Place:
        return _Place(
            f"{self.flux_dir}/{VCLUSTER}", "_kustomization.yaml", False, self.flux_namespace
        )

    @property
    def _tenant_ks_place(self) -> _Place:
        return _Place(
            f"{self.flux_dir}/{TENANT}", "_kustomization.yaml", False, self.flux_namespace
        )

    @property
    def _netpol_place(self) -> _Place:
        return _Place(f"{self.netpol_dir}/{VCLUSTER}", "-netpol.yaml", False, "{vcluster}")

    def _make_places(self) -> tuple[_Place, ...]:
        # Most specific first: the workload and routes directories are inside the
        # tenant's directory.
        return (
            self._vcluster_place,
            self._workload_place,
            self._routes_place,
            self._tenant_place,
            self._vcluster_ks_place,
            self._tenant_ks_place,
            self._netpol_place,
        )

    def vcluster_dir(self, names: TenantNames) -> Spot:
        """The vcluster's namespace, chart source and HelmRelease."""
        return self._spot(self._vcluster_place, names)

    def tenant_dir(self, names: TenantNames) -> Spot:
        """The tenant's namespace and the Flux Kustomizations of its workload and routes."""
        return self._spot(self._tenant_place, names)

    def workload_dir(self, names: TenantNames) -> Spot:
        """What Flux applies inside the vcluster."""
        return self._spot(self._workload_place, names)

    def routes_dir(self, names: TenantNames) -> Spot:
        return self._spot(self._routes_place, names)

    def vcluster_ks(self, names: TenantNames) -> Spot:
        """The Flux Kustomization that applies :meth:`vcluster_dir`."""
        return self._spot(self._vcluster_ks_place, names)

    def tenant_ks(self, names: TenantNames) -> Spot:
        """The Flux Kustomization that applies :meth:`tenant_dir`."""
        return self._spot(self._tenant_ks_place, names)

    def netpol(self, names: TenantNames) -> Spot:
        return self._spot(self._netpol_place, names)

    # --- shared -----------------------------------------------------------------

    grants_file = "referencegrant.yaml"
    network_policies = "network-policies"

    @property
    def network_policies_path(self) -> str:
        return f"{self.flux_dir}/{self.network_policies}_kustomization.yaml"


def bucket_of(name: str, buckets: int) -> int:
    """The fan-out bucket of tenant ``name``: a hash of the name alone, so a tenant
    never changes bucket when others come and go."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % buckets


@dataclass(frozen=True)
class FleetLayout(Layout):
    """Version 2 (SPEC-v2 section 3): everything of host cluster ``C`` below
    ``clusters/C/``, reachable from its entry point ``clusters/C/kustomization.yaml``::

        clusters/C/kustomization.yaml          the entry point: the chart source(s) and
                                               one Flux Kustomization per shard (or, with
                                               no shards, per bucket)
        clusters/C/helmrepository.yaml         one HelmRepository (per shard when sharded)
        clusters/C/shards/S/                   a shard: one Flux Kustomization per bucket
        [clusters/C/shards/S/]buckets/KK/      a bucket: the tenants whose name hashes to KK
        clusters/C/tenants/N/flux/             tenant N's Flux Kustomizations
        clusters/C/tenants/N/vcluster/         its namespace, vcluster, isolation, grants
        clusters/C/tenants/N/tenant/           its route namespace, routes, workload Kustomization
        clusters/C/tenants/N/workload/         what Flux applies inside its vcluster

    No kustomization lists more than one bucket's tenants, so no build a Flux
    controller runs grows with the whole fleet.
    """

    cluster: str | None
    flux_namespace: str
    workload_namespace: str
    buckets: int = 16

    @property
    def entry_dir(self) -> str:
        return f"clusters/{self.cluster}"

    @property
    def sources_path(self) -> str:
        return f"{self.entry_dir}/helmrepository.yaml"

    def shard_dir(self, shard: str) -> str:
        return f"{self.entry_dir}/shards/{shard}"

    def bucket_dir(self, shard: str | None, bucket: int) -> str:
        base = self.entry_dir if shard is None else self.shard_dir(shard)
        return f"{base}/buckets/{bucket:02x}"

    def tenants_dir(self) -> str:
        return f"{self.entry_dir}/tenants"

    def _home(self, suffix: str, namespace: str | None, in_vcluster: bool = False) -> _Place:
        return _Place(f"{self.tenants_dir()}/", suffix, True, namespace, in_vcluster)

    def _make_places(self) -> tuple[_Place, ...]:
        return (
            self._home("/flux/", self.flux_namespace),
            self._home("/vcluster/", "{vcluster}"),
            self._home("/tenant/", "{tenant}"),
            self._home("/workload/", self.workload_namespace, True),
        )

    def flux_dir(self, names: TenantNames) -> Spot:
        """The tenant's Flux Kustomizations (in the Flux namespace), listed by its bucket."""
        return self._spot(self._places()[0], names)

    def vcluster_dir(self, names: TenantNames) -> Spot:
        """Its vcluster namespace: the namespace, HelmRelease, policies and grants."""
        return self._spot(self._places()[1], names)

    def tenant_dir(self, names: TenantNames) -> Spot:
        """Its route namespace, routes and the Kustomization of its workload."""
        return self._spot(self._places()[2], names)

    def workload_dir(self, names: TenantNames) -> Spot:
        """What Flux applies inside its vcluster."""
        return self._spot(self._places()[3], names)
