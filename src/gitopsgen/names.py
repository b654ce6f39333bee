"""Names derived from a tenant's short name, and vcluster's synced-name rule."""

from __future__ import annotations

import hashlib

__all__ = ["safe_concat_name", "synced_service_name"]


def safe_concat_name(*parts: str) -> str:
    """vcluster's ``SafeConcatName``: join with ``-``; past 63 characters keep the
    first 52, then ``-`` and the first 10 hex digits of the SHA-256 of the whole."""
    full = "-".join(parts)
    if len(full) <= 63:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:10]
    return (full[:52] + "-" + digest).replace(".-", "-")


def synced_service_name(service: str, namespace: str, vcluster: str) -> str:
    """The name vcluster gives, on the host, to ``service`` in ``namespace``."""
    return safe_concat_name(service, "x", namespace, "x", vcluster)
