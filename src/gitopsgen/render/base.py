"""What every renderer shares: the context of one build and the output unit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from gitopsgen.config import hostname_of
from gitopsgen.model import Config, Tenant
from gitopsgen.names import synced_service_name

Obj = dict[str, Any]
T = TypeVar("T")

# Kinds that have no namespace: a kustomization's namespace does not apply to them,
# and an object of these kinds is identified without one.
CLUSTER_SCOPED = frozenset(
    {
        "APIService",
        "CSIDriver",
        "ClusterIssuer",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "GatewayClass",
        "IngressClass",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PriorityClass",
        "RuntimeClass",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeSnapshotClass",
    }
)

KUSTOMIZE_API = "kustomize.config.k8s.io/v1beta1"
FLUX_KUSTOMIZATION_API = "kustomize.toolkit.fluxcd.io/v1"


@dataclass(frozen=True)
class Output:
    """One generated file.

    ``namespace`` is where its namespaced objects land when they carry none
    themselves (from the kustomization's ``namespace`` or Flux's
    ``targetNamespace``); ``cluster`` is ``host`` or the vcluster they are
    applied to; ``tenant`` is the owning tenant's name, or None when shared.
    ``doc_tenants``, for a shared file, names the tenant each document belongs to
    (a ReferenceGrant file holds one grant per tenant), so that a review
    attributes each object to its tenant.
    """

    path: str
    docs: tuple[Obj, ...]
    tenant: str | None = None
    namespace: str | None = None
    cluster: str = "host"
    comments: tuple[str | None, ...] | None = field(default=None)
    doc_tenants: tuple[str | None, ...] | None = field(default=None)

    def owner(self, index: int) -> str | None:
        """The tenant the document at ``index`` belongs to, or None when shared."""
        if self.doc_tenants is not None:
            return self.doc_tenants[index]
        return self.tenant


@dataclass(frozen=True)
class Context:
    """Everything a renderer needs besides the tenant itself."""

    config: Config
    flux_root: str  # "./generated"
    _shared: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def shared(self, key: str, make: Callable[[], T]) -> T:
        """The one object ``make()`` returns for this build, made on first use.

        For parts of documents that do not depend on the tenant (a Deployment,
        NetworkPolicy specs): every tenant's documents hold the same object, which
        keeps a 5000-tenant plan's memory in check. Rendered documents are
        therefore read-only: nothing may modify them in place.
        """
        try:
            return cast(T, self._shared[key])
        except KeyError:
            value = self._shared[key] = make()
            return value

    def shared_objects(self) -> list[Any]:
        """Every object :meth:`shared` made so far."""
        return list(self._shared.values())

    def flux_path(self, *parts: str) -> str:
        return "/".join((self.flux_root, *parts))

    def hostname(self, tenant: Tenant) -> str:
        return hostname_of(tenant, self.config)

    def backend_name(self, tenant: Tenant) -> str:
        workload = self.config.defaults.workload
        return synced_service_name(workload.name, workload.namespace, f"vcluster-{tenant.name}")


def kustomization(resources: list[str], namespace: str | None = None) -> Obj:
    """A kustomize index file listing ``resources``."""
    obj: Obj = {"apiVersion": KUSTOMIZE_API, "kind": "Kustomization"}
    if namespace is not None:
        obj["namespace"] = namespace
    obj["resources"] = resources
    return obj


def deep_merge(base: Obj, override: Obj) -> Obj:
    """Helm-style merge: mappings merge recursively, anything else replaces, and an
    override of ``None`` deletes the key. Neither argument is modified."""
    out = dict(base)
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out
