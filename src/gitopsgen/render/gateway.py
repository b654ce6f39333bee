"""infrastructure/traefik/config/: one ReferenceGrant per tenant, so that the
tenant's HTTPRoute may reach the Service vcluster syncs into its host namespace."""

from __future__ import annotations

from collections.abc import Sequence

from gitopsgen.model import Tenant
from gitopsgen.render.base import Obj, Output, kustomization

BASE = "infrastructure/traefik/config"
FILE = "referencegrant.yaml"


def grant(tenant: Tenant) -> Obj:
    vname, tname = f"vcluster-{tenant.name}", f"tenant-{tenant.name}"
    return {
        "apiVersion": "gateway.networking.k8s.io/v1beta1",
        "kind": "ReferenceGrant",
        "metadata": {"name": f"allow-{tname}-to-{vname}", "namespace": vname},
        "spec": {
            "from": [
                {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": tname}
            ],
            "to": [{"group": "", "kind": "Service"}],
        },
    }


def render_shared(tenants: Sequence[Tenant]) -> list[Output]:
    return [
        Output(
            f"{BASE}/{FILE}",
            tuple(grant(t) for t in tenants),
            doc_tenants=tuple(t.name for t in tenants),
        ),
        Output(f"{BASE}/kustomization.yaml", (kustomization([FILE]),)),
    ]
