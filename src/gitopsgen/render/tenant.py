"""tenant/tenant-<name>/: the sample workload (deployed into the vcluster by Flux
through its kubeconfig secret) and the HTTPRoute on the host Gateway."""

from __future__ import annotations

from gitopsgen.model import Tenant
from gitopsgen.render.base import FLUX_KUSTOMIZATION_API, Context, Obj, Output, kustomization


def render(ctx: Context, tenant: Tenant) -> list[Output]:
    d = ctx.config.defaults
    wl = d.workload
    flux = d.flux
    tname = f"tenant-{tenant.name}"
    vname = f"vcluster-{tenant.name}"
    base = f"tenant/{tname}"
    labels = {"app": wl.name}
    source = ctx.shared(
        "tenant.source",
        lambda: {
            "kind": flux.source_ref.kind,
            "name": flux.source_ref.name,
            "namespace": flux.namespace,
        },
    )

    def make_deployment() -> Obj:
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

    # The same for every tenant: rendered once per build, shared.
    deployment = ctx.shared("tenant.deployment", make_deployment)

    def make_service() -> Obj:
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": wl.name, "labels": dict(labels)},
            "spec": {
                "ports": [{"port": wl.port, "protocol": "TCP", "targetPort": wl.port}],
                "selector": dict(labels),
            },
        }

    # The same for every tenant: rendered once per build, shared.
    service = ctx.shared("tenant.service", make_service)
    gateway = d.ingress.gateway
    route: Obj = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": wl.name},
        "spec": {
            "parentRefs": [{"name": gateway.name, "namespace": gateway.namespace}],
            "hostnames": [ctx.hostname(tenant)],
            "rules": [
                {
                    "backendRefs": [
                        {
                            "kind": "Service",
                            "name": ctx.backend_name(tenant),
                            "namespace": vname,
                            "port": wl.port,
                        }
                    ]
                }
            ],
        },
    }
    workload_ks: Obj = {
        "apiVersion": FLUX_KUSTOMIZATION_API,
        "kind": "Kustomization",
        "metadata": {"name": "workload", "namespace": vname},
        "spec": {
            "kubeConfig": {"secretRef": {"name": f"vc-{vname}", "key": "config"}},
            "targetNamespace": wl.namespace,
            "interval": flux.interval,
            "sourceRef": source,
            "path": ctx.flux_path(base, "workload"),
            "prune": True,
            "timeout": flux.timeout,
        },
    }
    routes_ks: Obj = {
        "apiVersion": FLUX_KUSTOMIZATION_API,
        "kind": "Kustomization",
        "metadata": {"name": "routes", "namespace": tname},
        "spec": {
            "dependsOn": [{"name": "workload", "namespace": vname}]
            + [{"name": dep, "namespace": flux.namespace} for dep in flux.routes_depends_on],
            "targetNamespace": tname,
            "interval": flux.interval,
            "sourceRef": source,
            "path": ctx.flux_path(base, "routes"),
            "prune": True,
            "timeout": flux.timeout,
        },
    }
    namespace: Obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": tname}}
    wl_file, svc_file = f"{wl.name}_deployment.yaml", f"{wl.name}_service.yaml"
    route_file = f"{wl.name}_httproute.yaml"
    t = tenant.name
    workload_files = [wl_file, svc_file]
    extra: list[Output] = []
    if wl.namespace != "default":
        # Flux's targetNamespace only sets the namespace of the objects; inside a
        # fresh vcluster only "default" (and the kube-* ones) exist, so the apply
        # would fail with "namespaces ... not found": the Namespace is part of the
        # workload (kustomize-controller applies Namespaces before the rest).
        ns_file = f"{wl.namespace}_namespace.yaml"
        workload_files = [ns_file, wl_file, svc_file]
        ns_obj = ctx.shared(
            "tenant.workload-namespace",
            lambda: {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": wl.namespace}},
        )
        extra.append(Output(f"{base}/workload/{ns_file}", (ns_obj,), t, wl.namespace, vname))
    return [
        *extra,
        Output(f"{base}/{tname}_namespace.yaml", (namespace,), t),
        Output(f"{base}/workload_kustomization.yaml", (workload_ks,), t),
        Output(f"{base}/routes_kustomization.yaml", (routes_ks,), t),
        Output(
            f"{base}/kustomization.yaml",
            (
                kustomization(
                    [
                        f"{tname}_namespace.yaml",
                        "workload_kustomization.yaml",
                        "routes_kustomization.yaml",
                    ]
                ),
            ),
            t,
        ),
        Output(f"{base}/workload/{wl_file}", (deployment,), t, wl.namespace, vname),
        Output(f"{base}/workload/{svc_file}", (service,), t, wl.namespace, vname),
        Output(
            f"{base}/workload/kustomization.yaml",
            (ctx.shared("tenant.workload-index", lambda: kustomization(workload_files)),),
            t,
            wl.namespace,
            vname,
        ),
        Output(f"{base}/routes/{route_file}", (route,), t, tname),
        Output(
            f"{base}/routes/kustomization.yaml",
            (ctx.shared("tenant.routes-index", lambda: kustomization([route_file])),),
            t,
            tname,
        ),
    ]
