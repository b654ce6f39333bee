"""infrastructure/traefik/config/: one ReferenceGrant per tenant, so that the
tenant's HTTPRoute may reach the Service vcluster syncs into its host namespace."""

from __future__ import annotations

from gitopsgen.platform import Cluster, Tenant
from gitopsgen.render.base import Component, Context, Obj, RenderedFile, kustomization, seed_layout


def grant(tenant: Tenant) -> Obj:
    names = tenant.names
    return {
        "apiVersion": "gateway.networking.k8s.io/v1beta1",
        "kind": "ReferenceGrant",
        "metadata": {"name": names.reference_grant, "namespace": names.vcluster},
        "spec": {
            "from": [
                {
                    "group": "gateway.networking.k8s.io",
                    "kind": "HTTPRoute",
                    "namespace": names.tenant,
                }
            ],
            "to": [{"group": "", "kind": "Service"}],
        },
    }


def render_cluster(ctx: Context, cluster: Cluster) -> list[RenderedFile]:
    layout = seed_layout(cluster)
    tenants = cluster.tenants
    host = layout.host
    return [
        RenderedFile(
            f"{layout.grants_dir}/{layout.grants_file}",
            tuple(grant(t) for t in tenants),
            target=host,
            doc_tenants=tuple(t.name for t in tenants),
        ),
        RenderedFile(
            f"{layout.grants_dir}/kustomization.yaml",
            (kustomization([layout.grants_file]),),
            target=host,
        ),
    ]


COMPONENT = Component("gateway", kinds=("ReferenceGrant",), per_cluster=render_cluster)
