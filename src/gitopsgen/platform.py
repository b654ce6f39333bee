"""The resolved platform: a validated tenants.yaml, fully defaulted and typed.

:func:`resolve` turns a :class:`~gitopsgen.model.Config` into the clusters and
tenants that renderers, diff, consistency, wiring, the editor and the address
commands work from. Every tenant knows its cluster, its derived names
(:class:`~gitopsgen.layout.TenantNames`), its hostname, the effective defaults
it is rendered with, and its cluster's layout; every cluster its address pool,
reserved addresses and who holds each address. Nothing here reads files.

Version 1 is the one-cluster case: the cluster is named ``host-cluster`` (the
directory its Flux Kustomizations live in) and its objects' identities carry no
cluster name, exactly as before version 2.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from ipaddress import IPv4Address

from gitopsgen import model
from gitopsgen.ipam import PoolRange, parse_address, parse_range
from gitopsgen.layout import FleetLayout, Layout, SeedLayout, TenantNames, bucket_of

__all__ = ["V1_CLUSTER", "Cluster", "Holder", "Platform", "Tenant", "resolve"]

# The name of the one host cluster of a version 1 file: the seed's directory name.
V1_CLUSTER = "host-cluster"


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds an address of a cluster's pool."""

    kind: str  # "reserved" | "tenant"
    name: str  # the reserved service, or the tenant's name


@dataclass(frozen=True, eq=False)
class Tenant:
    """One tenant, as it is rendered."""

    spec: model.Tenant | model.TenantV2
    cluster: str
    names: TenantNames
    hostname: str
    defaults: model.Defaults  # the effective defaults (a cluster's merged over the file's)
    layout: Layout
    shard: str | None = None
    distro: str = "k3s"
    bucket: int = 0

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def ip(self) -> str:
        return self.spec.ip

    @property
    def vcluster(self) -> model.TenantVcluster:
        return self.spec.vcluster

    @property
    def backend_service(self) -> str:
        """The host Service vcluster syncs the sample workload's Service to."""
        workload = self.defaults.workload
        return self.names.synced_service(workload.name, workload.namespace)


@dataclass(frozen=True, eq=False)
class Cluster:
    """One host cluster and the tenants it runs, in name order."""

    name: str
    pool: tuple[PoolRange, ...]
    reserved: dict[str, IPv4Address]
    defaults: model.Defaults
    layout: Layout
    tenants: tuple[Tenant, ...] = field(default=())
    spec: model.ClusterSpec | None = None  # None for the one cluster of version 1

    @property
    def shards(self) -> tuple[str, ...]:
        return tuple(self.spec.shards) if self.spec is not None else ()

    @cached_property
    def holders(self) -> dict[IPv4Address, Holder]:
        """Every held address of the pool: reserved ones first, then tenants'."""
        held = {address: Holder("reserved", service) for service, address in self.reserved.items()}
        for tenant in self.tenants:
            held.setdefault(parse_address(tenant.ip), Holder("tenant", tenant.name))
        return held

    def pool_size(self) -> int:
        return sum(len(r) for r in self.pool)


@dataclass(frozen=True, eq=False)
class Platform:
    """Every cluster of a tenants.yaml, and where Flux finds the tree."""

    config: model.AnyConfig
    flux_root: str  # the output directory as Flux paths name it: "./generated"
    clusters: tuple[Cluster, ...]

    @property
    def version(self) -> int:
        return self.config.version

    def tenants(self) -> Iterator[Tenant]:
        for cluster in self.clusters:
            yield from cluster.tenants

    @cached_property
    def by_name(self) -> dict[str, Tenant]:
        return {t.name: t for t in self.tenants()}

    def cluster(self, name: str) -> Cluster:
        return next(c for c in self.clusters if c.name == name)

    def flux_path(self, *parts: str) -> str:
        return "/".join((self.flux_root, *parts))


def hostname(
    spec: model.Tenant | model.TenantV2, names: TenantNames, defaults: model.Defaults
) -> str:
    return spec.hostname or names.default_hostname(defaults.ingress.domain)


def v1_layout(defaults: model.Defaults) -> SeedLayout:
    return SeedLayout(
        cluster=None,
        flux_namespace=defaults.flux.namespace,
        workload_namespace=defaults.workload.namespace,
        flux_dir=f"clusters/{V1_CLUSTER}",
    )


def resolve(config: model.AnyConfig, flux_root: str) -> Platform:
    """The platform ``config`` describes. ``config`` is valid (see
    :func:`gitopsgen.config.parse`): addresses parse and names are unique."""
    if isinstance(config, model.ConfigV2):
        return _resolve_v2(config, flux_root)
    defaults = config.defaults
    layout = v1_layout(defaults)
    tenants = []
    for spec in sorted(config.tenants, key=lambda t: t.name):
        names = TenantNames(spec.name)
        tenants.append(
            Tenant(spec, V1_CLUSTER, names, hostname(spec, names, defaults), defaults, layout)
        )
    cluster = Cluster(
        name=V1_CLUSTER,
        pool=tuple(parse_range(text) for text in config.pool),
        reserved={service: parse_address(a) for service, a in config.reserved.items()},
        defaults=defaults,
        layout=layout,
        tenants=tuple(tenants),
    )
    return Platform(config, flux_root, (cluster,))


def cluster_defaults(config: model.ConfigV2, spec: model.ClusterSpec) -> model.DefaultsV2:
    """The top-level defaults with the cluster's deep-merged over them."""
    if not spec.defaults:
        return config.defaults
    merged = model.deep_merge(config.defaults.model_dump(by_alias=True), spec.defaults)
    return model.DefaultsV2.model_validate(merged)


def _resolve_v2(config: model.ConfigV2, flux_root: str) -> Platform:
    specs = {c.name: c for c in config.clusters}
    by_cluster: dict[str, list[model.TenantV2]] = {name: [] for name in specs}
    only = config.clusters[0].name if len(config.clusters) == 1 else None
    for spec in config.tenants:
        by_cluster[spec.cluster or str(only)].append(spec)
    clusters = []
    for cspec in config.clusters:
        defaults = cluster_defaults(config, cspec)
        layout = FleetLayout(
            cluster=cspec.name,
            flux_namespace=defaults.flux.namespace,
            workload_namespace=defaults.workload.namespace,
            buckets=defaults.flux.buckets,
        )
        tenants = []
        for t in sorted(by_cluster[cspec.name], key=lambda t: t.name):
            names = TenantNames(t.name)
            tenants.append(
                Tenant(
                    t,
                    cspec.name,
                    names,
                    hostname(t, names, defaults),
                    defaults,
                    layout,
                    shard=t.shard,
                    distro=t.vcluster.distro or defaults.vcluster.distro,
                    bucket=bucket_of(t.name, defaults.flux.buckets),
                )
            )
        clusters.append(
            Cluster(
                name=cspec.name,
                pool=tuple(parse_range(text) for text in cspec.pool),
                reserved={s: parse_address(a) for s, a in cspec.reserved.items()},
                defaults=defaults,
                layout=layout,
                tenants=tuple(tenants),
                spec=cspec,
            )
        )
    return Platform(config, flux_root, tuple(clusters))
