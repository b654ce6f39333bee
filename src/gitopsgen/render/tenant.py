"""tenant/tenant-<name>/: the sample workload (deployed into the vcluster by Flux
through its kubeconfig secret) and the HTTPRoute on the host Gateway."""

from __future__ import annotations

from gitopsgen.layout import Spot
from gitopsgen.model import Flux, SourceRef, Workload
from gitopsgen.platform import Cluster, Tenant
from gitopsgen.render.base import (
    FLUX_KUSTOMIZATION_API,
    Component,
    Context,
    Obj,
    RenderedFile,
    kustomization,
    seed_layout,
)


def _source(ref: SourceRef, namespace: str) -> Obj:
    return {"kind": ref.kind, "name": ref.name, "namespace": namespace}


def _labels(wl: Workload) -> Obj:
    return {"app": wl.name}


def deployment(wl: Workload) -> Obj:
    labels = _labels(wl)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": wl.name, "labels": dict(labels)},
        "spec": {
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "containers": [
                        {
                            "image": wl.image,
                            "name": wl.name,
                            "resources": {
                                "requests": {
                                    "cpu": wl.resources.requests.cpu,
                                    "memory": wl.resources.requests.memory,
                                },
                                "limits": {
                                    "cpu": wl.resources.limits.cpu,
                                    "memory": wl.resources.limits.memory,
                                },
                            },
                        }
                    ]
                },
            },
        },
    }


def service(wl: Workload) -> Obj:
    labels = _labels(wl)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": wl.name, "labels": dict(labels)},
        "spec": {
            "ports": [{"port": wl.port, "protocol": "TCP", "targetPort": wl.port}],
            "selector": dict(labels),
        },
    }


def index(*files: str) -> Obj:
    return kustomization(list(files))


def _routes_depends_on(flux: Flux) -> list[Obj]:
    return [{"name": dep, "namespace": flux.namespace} for dep in flux.routes_depends_on]


def deployment_file(wl: Workload) -> str:
    return f"{wl.name}_deployment.yaml"


def service_file(wl: Workload) -> str:
    return f"{wl.name}_service.yaml"


def workload_namespace(namespace: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}


def workload_files(ctx: Context, spot: Spot, wl: Workload) -> list[RenderedFile]:
    """The workload directory: Deployment, Service, their index, and the Namespace
    when it is not ``default``. Flux's targetNamespace only sets the objects'
    namespace; a fresh vcluster has no other than ``default`` (and kube-*), so the
    apply would fail with "namespaces ... not found" (kustomize-controller applies
    Namespaces before the objects in them)."""
    wl_file, svc_file = deployment_file(wl), service_file(wl)
    listed = [wl_file, svc_file]
    out: list[RenderedFile] = []
    if wl.namespace != "default":
        ns_file = f"{wl.namespace}_namespace.yaml"
        listed = [ns_file, *listed]
        out.append(
            RenderedFile.at(
                spot.join(ns_file), spot.placement, (ctx.part(workload_namespace, wl.namespace),)
            )
        )
    return [
        *out,
        RenderedFile.at(spot.join(wl_file), spot.placement, (ctx.part(deployment, wl),)),
        RenderedFile.at(spot.join(svc_file), spot.placement, (ctx.part(service, wl),)),
        RenderedFile.at(
            spot.join("kustomization.yaml"), spot.placement, (ctx.part(index, *listed),)
        ),
    ]


def route(tenant: Tenant) -> Obj:
    """The sample workload's HTTPRoute: the tenant's hostname on the Gateway, to the
    Service vcluster syncs into the tenant's vcluster namespace."""
    wl = tenant.defaults.workload
    gateway = tenant.defaults.ingress.gateway
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": wl.name},
        "spec": {
            "parentRefs": [{"name": gateway.name, "namespace": gateway.namespace}],
            "hostnames": [tenant.hostname],
            "rules": [
                {
                    "backendRefs": [
                        {
                            "kind": "Service",
                            "name": tenant.backend_service,
                            "namespace": tenant.names.vcluster,
                            "port": wl.port,
                        }
                    ]
                }
            ],
        },
    }


def workload_kustomization(ctx: Context, tenant: Tenant, path: str) -> Obj:
    """The Flux Kustomization that applies ``path`` inside the tenant's vcluster,
    through the kubeconfig Secret the chart exports."""
    d = tenant.defaults
    flux = d.flux
    names = tenant.names
    return {
        "apiVersion": FLUX_KUSTOMIZATION_API,
        "kind": "Kustomization",
        "metadata": {"name": "workload", "namespace": names.vcluster},
        "spec": {
            "kubeConfig": {"secretRef": {"name": names.kubeconfig_secret, "key": "config"}},
            "targetNamespace": d.workload.namespace,
            "interval": flux.interval,
            "sourceRef": ctx.part(_source, flux.source_ref, flux.namespace),
            "path": path,
            "prune": True,
            "timeout": flux.timeout,
        },
    }


def render(ctx: Context, cluster: Cluster, tenant: Tenant) -> list[RenderedFile]:
    d = tenant.defaults
    wl = d.workload
    flux = d.flux
    names = tenant.names
    layout = seed_layout(cluster)
    home = layout.tenant_dir(names)
    workload_dir = layout.workload_dir(names)
    routes_dir = layout.routes_dir(names)
    source = ctx.part(_source, flux.source_ref, flux.namespace)
    workload_ks = workload_kustomization(ctx, tenant, ctx.flux_path(workload_dir.path))
    routes_ks: Obj = {
        "apiVersion": FLUX_KUSTOMIZATION_API,
        "kind": "Kustomization",
        "metadata": {"name": "routes", "namespace": names.tenant},
        "spec": {
            "dependsOn": [
                {"name": "workload", "namespace": names.vcluster},
                *_routes_depends_on(flux),
            ],
            "targetNamespace": names.tenant,
            "interval": flux.interval,
            "sourceRef": source,
            "path": ctx.flux_path(routes_dir.path),
            "prune": True,
            "timeout": flux.timeout,
        },
    }
    namespace: Obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": names.tenant}}
    route_file = f"{wl.name}_httproute.yaml"
    ns_file = f"{names.tenant}_namespace.yaml"
    here, routes_at = home.placement, routes_dir.placement
    return [
        RenderedFile.at(home.join(ns_file), here, (namespace,)),
        RenderedFile.at(home.join("workload_kustomization.yaml"), here, (workload_ks,)),
        RenderedFile.at(home.join("routes_kustomization.yaml"), here, (routes_ks,)),
        RenderedFile.at(
            home.join("kustomization.yaml"),
            here,
            (kustomization([ns_file, "workload_kustomization.yaml", "routes_kustomization.yaml"]),),
        ),
        *workload_files(ctx, workload_dir, wl),
        RenderedFile.at(routes_dir.join(route_file), routes_at, (route(tenant),)),
        RenderedFile.at(
            routes_dir.join("kustomization.yaml"), routes_at, (ctx.part(index, route_file),)
        ),
    ]


COMPONENT = Component(
    "tenant",
    kinds=("Namespace", "Kustomization", "Deployment", "Service", "HTTPRoute"),
    per_tenant=render,
)
