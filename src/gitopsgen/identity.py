"""Who an object is: the one identity that diff, consistency and the importer use.

An object is known by the target it is applied to (``host``, ``vcluster-<n>``, or
with a named host cluster ``<cluster>`` / ``<cluster>/vcluster-<n>``, see
:func:`gitopsgen.layout.target_of`), its API group and kind, its effective
namespace (its own, else the one its file's kustomization or Flux
``targetNamespace`` gives, else ``default``; empty for cluster-scoped kinds) and
its name. The version is not part of it: ``v1beta1`` and ``v1`` of the same
ReferenceGrant are one object.
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["CLUSTER_SCOPED", "KUSTOMIZE_GROUP", "ObjectId", "identify"]

KUSTOMIZE_GROUP = "kustomize.config.k8s.io"

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


class ObjectId(NamedTuple):
    """Who an object is, wherever it is written (a tuple: cheap to make and hash)."""

    cluster: str
    group: str
    kind: str
    namespace: str
    name: str

    def display(self) -> str:
        """``Kind namespace/name`` and, when not on the host, where it is applied."""
        ns = f"{self.namespace}/" if self.namespace else ""
        where = "" if self.cluster == "host" else f" (in {self.cluster})"
        return f"{self.kind} {ns}{self.name}{where}"


def identify(
    doc: dict[str, Any], namespace: str | None, target: str
) -> tuple[ObjectId, str] | None:
    """The identity and apiVersion of ``doc``, or None for a kustomize index file or
    a document that is no Kubernetes object (no apiVersion, kind or name).

    ``namespace`` is the one its file gives it when it carries none itself.
    """
    api_version = doc.get("apiVersion")
    kind = doc.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return None
    group = api_version.rpartition("/")[0]
    if group == KUSTOMIZE_GROUP:
        return None
    meta = doc.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str):
        return None
    if kind in CLUSTER_SCOPED:
        effective = ""
    else:
        own = meta.get("namespace") if isinstance(meta, dict) else None
        effective = own if isinstance(own, str) and own else (namespace or "default")
    return ObjectId(target, group, kind, effective, name), api_version
