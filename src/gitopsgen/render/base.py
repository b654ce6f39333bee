"""What every renderer shares: the context of one build, the rendered file and the
component a renderer is registered as."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from gitopsgen.identity import KUSTOMIZE_GROUP
from gitopsgen.layout import HOST, FleetLayout, Placement, SeedLayout
from gitopsgen.platform import Cluster, Platform, Tenant

Obj = dict[str, Any]
T = TypeVar("T")

KUSTOMIZE_API = f"{KUSTOMIZE_GROUP}/v1beta1"
FLUX_KUSTOMIZATION_API = "kustomize.toolkit.fluxcd.io/v1"


@dataclass(frozen=True, slots=True)
class RenderedFile:
    """One generated file: its path (relative to the output directory) and objects.

    ``namespace`` is where its namespaced objects land when they carry none
    themselves (from the kustomization's ``namespace`` or Flux's
    ``targetNamespace``); ``target`` is where they are applied (see
    :func:`gitopsgen.layout.target_of`); ``tenant`` is the owning tenant's name,
    or None when shared. ``doc_tenants``, for a shared file, names the tenant each
    document belongs to (a ReferenceGrant file holds one grant per tenant), so
    that a review attributes each object to its tenant.
    """

    path: str
    docs: tuple[Obj, ...]
    tenant: str | None = None
    namespace: str | None = None
    target: str = HOST
    comments: tuple[str | None, ...] | None = None
    doc_tenants: tuple[str | None, ...] | None = None

    @classmethod
    def at(
        cls,
        path: str,
        placement: Placement,
        docs: tuple[Obj, ...],
        comments: tuple[str | None, ...] | None = None,
    ) -> RenderedFile:
        """A file whose objects land as ``placement`` says (a tenant's file)."""
        return cls(path, docs, placement.tenant, placement.namespace, placement.target, comments)

    def owner(self, index: int) -> str | None:
        """The tenant the document at ``index`` belongs to, or None when shared."""
        if self.doc_tenants is not None:
            return self.doc_tenants[index]
        return self.tenant


@dataclass(frozen=True)
class Context:
    """One build: the resolved platform, and the document parts shared between
    tenants."""

    platform: Platform
    _parts: dict[tuple[Callable[..., Any], tuple[Hashable, ...]], Any] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def part(self, make: Callable[..., T], *args: Hashable) -> T:
        """``make(*args)``, made once per build for each distinct ``args``.

        For parts of documents made from values that many tenants have in common
        (a Deployment from the workload settings, NetworkPolicy specs): every
        tenant whose values are equal holds the same object, which keeps a large
        plan's memory in check. The part is keyed by the function and the values it
        is made from, so a part cannot be handed to a tenant whose values differ.
        Rendered documents are therefore read-only: nothing may modify them in place.
        """
        key = (make, args)
        try:
            return cast(T, self._parts[key])
        except KeyError:
            value = self._parts[key] = make(*args)
            return value

    def shared_objects(self) -> list[Any]:
        """Every part :meth:`part` made so far."""
        return list(self._parts.values())

    def flux_path(self, *parts: str) -> str:
        return self.platform.flux_path(*parts)


TenantRenderer = Callable[[Context, Cluster, Tenant], list[RenderedFile]]
ClusterRenderer = Callable[[Context, Cluster], list[RenderedFile]]


@dataclass(frozen=True)
class Component:
    """One renderer and what it produces.

    ``per_tenant`` renders one tenant's own files; ``per_cluster`` the files of a
    cluster that every tenant contributes to (indexes, shared grants). ``kinds``
    are the object kinds it can produce.
    """

    name: str
    kinds: tuple[str, ...]
    per_tenant: TenantRenderer | None = None
    per_cluster: ClusterRenderer | None = None


def kustomization(resources: list[str], namespace: str | None = None) -> Obj:
    """A kustomize index file listing ``resources``."""
    obj: Obj = {"apiVersion": KUSTOMIZE_API, "kind": "Kustomization"}
    if namespace is not None:
        obj["namespace"] = namespace
    obj["resources"] = resources
    return obj


def seed_layout(cluster: Cluster) -> SeedLayout:
    """The version 1 layout of ``cluster`` (the seed components render only that)."""
    layout = cluster.layout
    assert isinstance(layout, SeedLayout), "a version 1 component on a version 2 cluster"
    return layout


def fleet_layout(cluster: Cluster) -> FleetLayout:
    """The version 2 layout of ``cluster`` (the fleet components render only that)."""
    layout = cluster.layout
    assert isinstance(layout, FleetLayout), "a version 2 component on a version 1 cluster"
    return layout
