"""Pydantic models of tenants.yaml.

The defaults are the values of the seed repository, so that a file listing only
names and addresses reproduces it; each can be changed once, in ``defaults``.
Cross-field rules (unique names, addresses inside the pool, ...) live in
:mod:`gitopsgen.config`, which also maps every error back to a line and column.
"""

from __future__ import annotations

from ipaddress import ip_network
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from gitopsgen.layout import NAME_MAX

__all__ = [
    "DURATION_PATTERN",
    "LABEL_PATTERN",
    "NAME_MAX",
    "NAME_PATTERN",
    "SERVICE_PATTERN",
    "SUBDOMAIN_PATTERN",
    "AnyConfig",
    "Capacity",
    "ClusterSpec",
    "Config",
    "ConfigV2",
    "Defaults",
    "DefaultsV2",
    "QuotaProfile",
    "Tenant",
    "TenantRoute",
    "TenantSource",
    "TenantV2",
    "TenantWorkload",
    "Wiring",
    "deep_merge",
]

NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

# Flux durations, as the Flux CRDs restrict them ("90s", "2m", "1h30m").
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
# A DNS-1123 label: namespaces.
LABEL_PATTERN = NAME_PATTERN
# A DNS-1035 label: Service names (the workload's name) start with a letter.
SERVICE_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
# A DNS-1123 subdomain: names of Flux objects and Gateways.
SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

Duration = Annotated[str, Field(pattern=DURATION_PATTERN)]
Namespace = Annotated[str, Field(pattern=LABEL_PATTERN, max_length=63)]
ObjectName = Annotated[str, Field(pattern=SUBDOMAIN_PATTERN, max_length=253)]


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        strict=True,
        frozen=True,
    )


def _string_or_list(schema: dict[str, Any]) -> None:
    schema.pop("type", None)
    items = schema.pop("items", {"type": "string"})
    schema["anyOf"] = [{"type": "string"}, {"type": "array", "items": items, "minItems": 1}]


class HelmRepository(_Model):
    """The Flux HelmRepository that serves the vcluster chart."""

    name: ObjectName = Field("loft", description="HelmRepository name (one per vcluster namespace)")
    url: str = Field("https://charts.loft.sh", description="chart repository URL")
    interval: Duration = Field("2m", description="how often Flux refreshes the index")


class Chart(_Model):
    name: str = Field("vcluster", description="chart name")
    version: str = Field("0.30.4", description="chart version (quote it)")
    repository: HelmRepository = Field(default_factory=HelmRepository)


class VclusterDefaults(_Model):
    chart: Chart = Field(default_factory=Chart)
    interval: Duration = Field("2m", description="HelmRelease reconcile interval")
    api_port: int = Field(
        443, ge=1, le=65535, description="port of the vcluster API on its LoadBalancer service"
    )
    values: dict[str, Any] = Field(
        default_factory=dict,
        description="Helm values deep-merged over the generated values of every vcluster",
    )
    values_schema: str | None = Field(
        None,
        description="the chart's values.schema.json (relative to tenants.yaml): every "
        "tenant's final values are validated against it",
    )


class ResourceList(_Model):
    cpu: str
    memory: str


class Resources(_Model):
    requests: ResourceList = Field(default_factory=lambda: ResourceList(cpu="100m", memory="128Mi"))
    limits: ResourceList = Field(default_factory=lambda: ResourceList(cpu="200m", memory="256Mi"))


class Workload(_Model):
    """The sample workload Flux deploys into every vcluster."""

    name: str = Field(
        "nginx",
        description="Deployment, Service and HTTPRoute name",
        pattern=SERVICE_PATTERN,
        max_length=63,
    )
    image: str = Field("nginx:1.27-alpine", description="container image")
    port: int = Field(80, ge=1, le=65535, description="container and Service port")
    namespace: Namespace = Field("default", description="namespace inside the vcluster")
    resources: Resources = Field(default_factory=Resources)


class Gateway(_Model):
    name: ObjectName = "traefik"
    namespace: Namespace = "traefik"


class Ingress(_Model):
    domain: str = Field("traefik.local", description="tenant hostnames are tenant-<name>.<domain>")
    listener_hostnames: list[str] | None = Field(
        None,
        description="the hostnames of the Gateway's listeners (default ['*.<domain>']); "
        "every tenant hostname must match one, as Gateway API matches an HTTPRoute: "
        "exactly, or '*.' for any number of labels before the suffix",
    )
    gateway: Gateway = Field(
        default_factory=Gateway, description="the Gateway HTTPRoutes attach to"
    )


class SourceRef(_Model):
    kind: str = "GitRepository"
    name: ObjectName = "flux-system"


class Flux(_Model):
    namespace: Namespace = Field("flux-system", description="namespace of the Flux Kustomizations")
    interval: Duration = "2m"
    timeout: Duration = "5m"
    source_ref: SourceRef = Field(default_factory=SourceRef)
    vcluster_depends_on: list[ObjectName] = Field(
        default_factory=lambda: ["metallb", "metallb-config", "gateway-api", "traefik"],
        description="Flux Kustomizations every vcluster waits for",
    )
    routes_depends_on: list[ObjectName] = Field(
        default_factory=lambda: ["gateway-api"],
        description="Flux Kustomizations (in the Flux namespace) every tenant's routes wait for",
    )
    network_policies_depends_on: list[ObjectName] = Field(
        default_factory=lambda: ["cilium"],
        description="Flux Kustomizations the network policies wait for, besides every vcluster",
    )
    external: list[ObjectName] = Field(
        default_factory=lambda: ["cilium", "metallb", "metallb-config", "gateway-api", "traefik"],
        description="Flux Kustomizations (in the Flux namespace) outside the generated tree "
        "that generated Kustomizations may depend on; build refuses a dependsOn naming "
        "anything else that the tree does not define",
    )


class NetworkPolicies(_Model):
    """Namespaces allowed into each vcluster namespace."""

    ingress_namespace: Namespace = Field(
        "traefik", description="namespace of the ingress controller pods"
    )
    dns_namespace: Namespace = "kube-system"
    prometheus_namespace: Namespace = "kube-prometheus-stack"
    metallb_namespace: Namespace = "metallb-system"
    vcluster_api_port: int = Field(8443, ge=1, le=65535, description="vcluster API container port")


class Wiring(_Model):
    """The repository's own kustomizations that must include the generated tree, so that
    Flux reaches it; paths relative to the repository root, null to skip a check."""

    host_cluster: str | None = Field(
        "clusters/host-cluster/kustomization.yaml",
        description="the Flux entry point; must include <output>/clusters/host-cluster",
    )
    traefik_config: str | None = Field(
        "infrastructure/traefik/config/kustomization.yaml",
        description="must include <output>/infrastructure/traefik/config (the ReferenceGrants)",
    )


class Defaults(_Model):
    vcluster: VclusterDefaults = Field(default_factory=VclusterDefaults)
    workload: Workload = Field(default_factory=Workload)
    ingress: Ingress = Field(default_factory=Ingress)
    flux: Flux = Field(default_factory=Flux)
    network_policies: NetworkPolicies = Field(default_factory=NetworkPolicies)


class TenantVcluster(_Model):
    auth_delegator: bool = Field(
        False,
        description="add the vcluster-<name>:auth-delegator ClusterRoleBinding",
    )
    values: dict[str, Any] = Field(
        default_factory=dict,
        description="Helm values deep-merged over the generated values (null deletes a key)",
    )


class Tenant(_Model):
    name: str = Field(
        description="short name: tenant-<name> and vcluster-<name> (DNS-1123 label)",
        json_schema_extra={"pattern": NAME_PATTERN, "maxLength": NAME_MAX},
    )
    ip: str = Field(
        description="vcluster LoadBalancer address, inside the pool",
        json_schema_extra={"format": "ipv4"},
    )
    hostname: str | None = Field(
        None, description="route hostname; default tenant-<name>.<ingress domain>"
    )
    vcluster: TenantVcluster = Field(default_factory=TenantVcluster)


class Config(_Model):
    """tenants.yaml: the one source of truth for every tenant."""

    model_config = ConfigDict(title="gitopsgen tenants.yaml")

    version: Literal[1] = Field(description="format version; always 1")
    output: str = Field("generated", description="tree root, relative to this file")
    repository_root: str = Field(
        ".",
        description="repository root relative to this file; Flux paths are relative to it",
    )
    pool: list[str] = Field(
        description='MetalLB addresses: "A-B" ranges or CIDRs (a single string is accepted)',
        min_length=1,
        json_schema_extra=_string_or_list,
    )
    reserved: dict[str, str] = Field(
        default_factory=dict, description="pool addresses held by platform services"
    )
    defaults: Defaults = Field(default_factory=Defaults)
    wiring: Wiring = Field(
        default_factory=Wiring,
        description="where `gitopsgen check` looks for the lines that wire the tree into Flux",
    )
    tenants: list[Tenant] = Field(default_factory=list)

    @field_validator("pool", mode="before")
    @classmethod
    def _one_range(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
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


# ---------------------------------------------------------------- version 2
#
# SPEC-v2 section 2. The version 1 models above are unchanged (a version 1 file
# validates exactly as before); version 2 adds clusters, shards and placement.

Distro = Literal["k8s", "k3s"]
Label = Annotated[str, Field(pattern=LABEL_PATTERN, max_length=63)]


# --- version 2: a tenant's own sources, workloads, routes and quota (issue 15) ---
#
# Each source becomes a Flux source object in the tenant's vcluster-<n> namespace
# (source-controller v1 API: GitRepository, OCIRepository, HelmRepository); see
# gitopsgen.render.workloads.

SecretName = Annotated[str, Field(pattern=SUBDOMAIN_PATTERN, max_length=253)]


class GitRef(_Model):
    """GitRepository ``spec.ref``: exactly one of branch, tag, semver, commit."""

    branch: str | None = None
    tag: str | None = None
    semver: str | None = None
    commit: str | None = Field(None, pattern=r"^[0-9a-f]{7,64}$")


class GitSource(_Model):
    url: str = Field(description="repository URL (https://, ssh:// or http://)")
    ref: GitRef = Field(default_factory=lambda: GitRef(branch="main"))
    secret_ref: SecretName | None = Field(
        None, description="Secret in vcluster-<n> with the credentials (never generated)"
    )
    paths: list[str] | None = Field(
        None,
        min_length=1,
        description="only these repository paths are fetched (GitRepository spec.ignore)",
    )


class OciRef(_Model):
    """OCIRepository ``spec.ref``: exactly one of tag, semver, digest."""

    tag: str | None = None
    semver: str | None = None
    digest: str | None = Field(None, pattern=r"^sha256:[0-9a-f]{64}$")


class OidcIdentity(_Model):
    issuer: str = Field(description="regular expression the OIDC issuer must match")
    subject: str = Field(description="regular expression the certificate identity must match")


class OciVerify(_Model):
    """OCIRepository ``spec.verify``: cosign keyless (OIDC identities) or a public key."""

    provider: Literal["cosign", "notation"] = "cosign"
    secret_ref: SecretName | None = Field(
        None, description="Secret in vcluster-<n> with the public key(s) (never generated)"
    )
    match_oidc_identity: list[OidcIdentity] | None = Field(
        None, min_length=1, alias="matchOIDCIdentity", description="cosign keyless identities"
    )


class OciSource(_Model):
    url: str = Field(description="oci://registry/repository")
    ref: OciRef = Field(default_factory=lambda: OciRef(tag="latest"))
    secret_ref: SecretName | None = None
    verify: OciVerify | None = None


class HelmSource(_Model):
    url: str = Field(description="chart repository URL (https:// or, with type oci, oci://)")
    type: Literal["default", "oci"] = "default"
    secret_ref: SecretName | None = None


class TenantSource(_Model):
    name: ObjectName = Field(description="the source object's name, unique in the tenant")
    interval: Duration | None = Field(None, description="default: defaults.flux.interval")
    git: GitSource | None = None
    oci: OciSource | None = None
    helm: HelmSource | None = None


class PostBuild(_Model):
    substitute: dict[str, str] = Field(default_factory=dict)


class HelmWorkload(_Model):
    chart: str | None = Field(
        None, description="chart name in a helm source (absent for an oci source)"
    )
    version: str | None = Field(None, description="chart version or semver range")
    values: dict[str, Any] = Field(default_factory=dict)


class TenantWorkload(_Model):
    name: ObjectName = Field(description="the Flux object's name, unique in the tenant")
    source: ObjectName = Field(description="one of the tenant's sources")
    path: str | None = Field(None, description="kustomization path in the source")
    interval: Duration | None = None
    depends_on: list[ObjectName] = Field(
        default_factory=list, description="other workloads of the same tenant"
    )
    target: Literal["vcluster", "host"] = Field(
        "vcluster",
        description="vcluster: applied inside the vcluster; host: into tenant-<n> on the host",
    )
    namespace: Namespace | None = Field(
        None, description="target namespace (inside the vcluster; host workloads: tenant-<n>)"
    )
    post_build: PostBuild | None = None
    helm: HelmWorkload | None = Field(None, description="a HelmRelease instead of a Kustomization")
    ports: list[Annotated[int, Field(ge=1, le=65535)]] | None = Field(
        None, description="Service ports the workload exposes (lets validate check routes)"
    )


class TenantRoute(_Model):
    name: ObjectName | None = Field(None, description="HTTPRoute name; default the service")
    hostname: str | None = Field(None, description="default: the tenant's hostname")
    service: Annotated[str, Field(pattern=SERVICE_PATTERN, max_length=63)]
    namespace: Namespace = Field("default", description="the Service's namespace in the vcluster")
    port: int = Field(ge=1, le=65535, description="the Service port")
    target_port: int | None = Field(
        None, ge=1, le=65535, description="the pods' port (network policy); default port"
    )
    paths: list[Annotated[str, Field(pattern=r"^/")]] | None = Field(
        None, min_length=1, description="PathPrefix matches; default all paths"
    )


class QuotaResources(_Model):
    requests: dict[str, str] = Field(default_factory=dict)
    limits: dict[str, str] = Field(default_factory=dict)


class LimitRangeSpec(_Model):
    default: dict[str, str] = Field(default_factory=dict)
    default_request: dict[str, str] = Field(default_factory=dict)


class QuotaProfile(_Model):
    resource_quota: dict[str, str] = Field(
        default_factory=dict, description="ResourceQuota spec.hard (requests.cpu, pods, ...)"
    )
    limit_range: LimitRangeSpec | None = None
    control_plane: QuotaResources | None = Field(
        None, description="vcluster controlPlane.statefulSet.resources"
    )


class SourcesDefaults(_Model):
    allowed_prefixes: list[str] | None = Field(
        None, description="every tenant source URL must start with one of these"
    )


class Capacity(_Model):
    cpu: str | None = None
    memory: str | None = None


class PlatformRepository(_Model):
    """The platform repository, as a GitRepository in each vcluster namespace."""

    name: ObjectName = Field("platform", description="GitRepository name in vcluster-<name>")
    url: str = Field(description="the platform repository (the root sync's URL)")
    branch: str = Field("main", description="branch Flux follows")
    secret_ref: ObjectName | None = Field(
        None,
        description="Secret with the Git credentials, in every vcluster namespace (a "
        "GitRepository reads its secretRef from its own namespace only)",
    )
    interval: Duration = Field("5m", description="how often source-controller fetches")


DeletionPolicy = Literal["MirrorPrune", "Delete", "WaitForTermination", "Orphan"]


class FluxV2(Flux):
    buckets: int = Field(
        16,
        ge=1,
        le=256,
        description="Flux Kustomizations per shard (or per cluster when it has no shards) that "
        "fan out to its tenants; a tenant's bucket is a hash of its name, so it never moves "
        "when others come and go (changing this moves tenants between buckets)",
    )
    service_account: ObjectName = Field(
        "kustomize-controller",
        description="serviceAccountName of every generated Kustomization in the Flux namespace "
        "(what the Flux Operator's multitenant profile gives the root sync); under "
        "--default-service-account a Kustomization without one runs as 'default'",
    )
    helm_service_account: ObjectName = Field(
        "helm-controller",
        description="serviceAccountName of every vcluster HelmRelease (bound to cluster-admin by "
        "Flux's cluster-reconciler ClusterRoleBinding)",
    )
    repository: PlatformRepository | None = Field(
        None,
        description="the platform repository as a GitRepository in each vcluster namespace, "
        "which the workload Kustomization reads (no cross-namespace sourceRef: ready for "
        "--no-cross-namespace-refs); unset, the workload reads the root source across "
        "namespaces as version 1 does",
    )
    workload_cluster_role: ObjectName = Field(
        "cluster-admin",
        description="ClusterRole that ServiceAccount tenant-<name> (of vcluster-<name>), which "
        "the workload Kustomizations impersonate inside the vcluster, is bound to there (the "
        "binding is applied by vcluster itself, experimental.deploy.vcluster.manifests)",
    )
    workload_retry_interval: Duration = Field(
        "1m", description="retryInterval of the workload Kustomization (a failure retries sooner)"
    )
    workload_deletion_policy: DeletionPolicy = Field(
        "Orphan",
        description="deletionPolicy of the workload Kustomization: Orphan never needs the "
        "vcluster API on removal (its objects go with the vcluster)",
    )
    vcluster_retry_interval: Duration = Field(
        "1m", description="retryInterval of the vcluster-<name> Kustomization"
    )


class HelmRemediation(_Model):
    """HelmRelease install/upgrade remediation (helm-controller v2 API)."""

    install_retries: int = Field(
        3, ge=-1, description="spec.install.remediation.retries (-1: unlimited)"
    )
    upgrade_retries: int = Field(
        3, ge=-1, description="spec.upgrade.remediation.retries (-1: unlimited)"
    )
    upgrade_strategy: Literal["rollback", "uninstall"] = Field(
        "rollback", description="spec.upgrade.remediation.strategy"
    )
    remediate_last_failure: bool = Field(
        True, description="remediate the last failure too, when no retries remain"
    )


class PlatformRegistration(_Model):
    """vCluster Platform registration: vcluster's external.platform values."""

    project: str = Field(description="platform project the vclusters are imported to")
    api_key_secret: ObjectName = Field(
        "vcluster-platform-api-key",
        description="Secret holding the platform access key and host "
        "(external.platform.apiKey.secretName)",
    )
    api_key_namespace: Namespace | None = Field(
        None,
        description="namespace of that Secret; default the vcluster's own namespace",
    )
    namespace: Namespace = Field(
        "vcluster-platform",
        description="namespace of the platform pods the control plane may reach (egress)",
    )


class VclusterDefaultsV2(VclusterDefaults):
    distro: Distro = Field(
        "k8s",
        description="Kubernetes distribution of new vclusters (k3s is deprecated in vcluster "
        "0.30 and removed in 0.33; a running vcluster's distro never changes: pin it per tenant)",
    )
    remediation: HelmRemediation = Field(default_factory=HelmRemediation)
    platform: PlatformRegistration | None = Field(
        None,
        description="register every vcluster with vCluster Platform; unset, nothing "
        "platform-related is rendered",
    )
    external_traffic_policy: Literal["Local", "Cluster"] = Field(
        "Local",
        description="the LoadBalancer Service's externalTrafficPolicy: Local keeps the client's "
        "address, so the API's ipBlock policy matches it (Cluster SNATs it to a node address)",
    )


CIDR = Annotated[str, Field(pattern=r"^[0-9.]+/[0-9]+$")]
LabelPair = Annotated[str, Field(pattern=r"^[A-Za-z0-9][-A-Za-z0-9_./]*=[-A-Za-z0-9_.]*$")]


class NetworkPoliciesV2(NetworkPolicies):
    """The version 2 policies of each vcluster namespace (see README "Security model")."""

    metallb_namespace: Namespace = Field(
        "metallb-system",
        description="version 1 only: version 2 renders no allow-metallb (the speaker runs "
        "with host networking, so no pod selector matches it)",
    )
    ingress_pod_label: LabelPair = Field(
        "app.kubernetes.io/name=traefik",
        description="key=value label of the ingress controller pods",
    )
    dns_pod_label: LabelPair = Field(
        "k8s-app=kube-dns", description="key=value label of the DNS pods"
    )
    flux_pod_label: LabelPair = Field(
        "app=kustomize-controller",
        description="key=value label of kustomize-controller pods (a shard's: value-<shard>)",
    )
    api_from_cidrs: list[CIDR] = Field(
        default_factory=lambda: ["0.0.0.0/0"],
        description="who may reach the vcluster API through its LoadBalancer (ipBlock)",
    )
    api_from_except: list[CIDR] = Field(
        default_factory=lambda: ["10.244.0.0/16"],
        description="excepted from api_from_cidrs: the pod CIDR (kind's default), so that no "
        "CNI that matches pod addresses by ipBlock lets a pod in",
    )
    egress_cidrs: list[CIDR] = Field(
        default_factory=list,
        description="destinations tenant pods may reach outside the cluster (default none)",
    )
    cni: Literal["cilium", "generic"] = Field(
        "cilium",
        description="cilium: the control plane reaches the host API server through a "
        "CiliumNetworkPolicy (toEntities kube-apiserver); generic: an ipBlock of "
        "api_server_cidrs",
    )
    api_server_cidrs: list[CIDR] = Field(
        default_factory=list,
        description="with cni generic: the host API server's endpoint addresses",
    )
    api_server_ports: list[int] = Field(
        default_factory=lambda: [6443, 443],
        description="host API server endpoint ports (after the kubernetes Service's DNAT)",
    )

    @field_validator("api_from_cidrs", "api_from_except", "egress_cidrs", "api_server_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            try:
                ip_network(cidr, strict=True)
            except ValueError as exc:
                raise ValueError(f"{cidr!r} is not a CIDR ({exc})") from None
        return value

    @model_validator(mode="after")
    def _api_server_reachable(self) -> NetworkPoliciesV2:
        if self.cni == "generic" and not self.api_server_cidrs:
            raise ValueError(
                "cni: generic needs apiServerCidrs (the host API server's endpoint addresses): "
                "without them the vcluster control plane cannot reach the host API"
            )
        return self


class DefaultsV2(Defaults):
    vcluster: VclusterDefaultsV2 = Field(default_factory=VclusterDefaultsV2)
    flux: FluxV2 = Field(default_factory=FluxV2)
    network_policies: NetworkPoliciesV2 = Field(default_factory=NetworkPoliciesV2)
    sources: SourcesDefaults = Field(default_factory=SourcesDefaults)
    quotas: dict[str, QuotaProfile] = Field(
        default_factory=dict, description="quota profiles tenants name with `quota`"
    )


class ClusterSpec(_Model):
    """One host cluster: its MetalLB pool, Traefik address and Flux shards."""

    name: Label = Field(description="DNS-1123 label, unique; the host cluster")
    pool: list[str] = Field(
        description='MetalLB addresses of this cluster: "A-B" ranges or CIDRs',
        min_length=1,
        json_schema_extra=_string_or_list,
    )
    reserved: dict[str, str] = Field(
        default_factory=dict, description="pool addresses held by platform services"
    )
    shards: list[Label] = Field(
        default_factory=list,
        description="Flux controller shards of this cluster (FluxInstance spec.sharding.shards); "
        "every tenant of the cluster then names one",
    )
    defaults: dict[str, Any] = Field(
        default_factory=dict,
        description="deep-merged over the top-level defaults for this cluster's tenants",
    )
    max_tenants: int | None = Field(
        None, ge=0, description="add-tenant places no more tenants than this here"
    )
    weight: int = Field(
        1, ge=1, le=1000, description="relative share of new tenants add-tenant places here"
    )
    flux_instance: str | None = Field(
        None,
        description="the cluster's FluxInstance manifest, relative to the repository root; "
        "check compares its shards with the tenants'",
    )
    entry_point: str | None = Field(
        None,
        description="the repository's kustomization the cluster's root sync builds, relative to "
        "the repository root; check verifies it includes <output>/clusters/<name> (null: the "
        "root sync path is the generated entry point itself)",
    )
    capacity: Capacity | None = Field(
        None,
        description="allocatable cpu and memory; validate rejects tenants' quotas (and their "
        "vcluster control planes' requests) that add up to more",
    )

    @field_validator("pool", mode="before")
    @classmethod
    def _one_range(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class TenantVclusterV2(TenantVcluster):
    distro: Distro | None = Field(
        None, description="pin the distro (migrated tenants keep k3s); default defaults.vcluster"
    )


class TenantV2(Tenant):
    """A tenant of version 2: a version 1 tenant placed on a cluster and shard."""

    ip: str = Field(
        description="vcluster LoadBalancer address, inside its cluster's pool",
        json_schema_extra={"format": "ipv4"},
    )
    cluster: str | None = Field(
        None, description="the host cluster; required when there is more than one"
    )
    shard: str | None = Field(
        None, description="the Flux shard; required when the cluster has shards"
    )
    vcluster: TenantVclusterV2 = Field(default_factory=TenantVclusterV2)
    quota: str | None = Field(None, description="a profile of defaults.quotas")
    sources: list[TenantSource] = Field(default_factory=list)
    workloads: list[TenantWorkload] = Field(
        default_factory=list, description="absent: the sample workload of version 1"
    )
    routes: list[TenantRoute] = Field(
        default_factory=list, description="absent: the sample workload's route"
    )


class ConfigV2(_Model):
    """tenants.yaml version 2: several host clusters, Flux shards, placement."""

    model_config = ConfigDict(title="gitopsgen tenants.yaml (version 2)")

    version: Literal[2] = Field(description="format version")
    output: str = Field("generated", description="tree root, relative to this file")
    repository_root: str = Field(
        ".",
        description="repository root relative to this file; Flux paths are relative to it",
    )
    defaults: DefaultsV2 = Field(default_factory=DefaultsV2)
    clusters: list[ClusterSpec] = Field(min_length=1, description="the host clusters")
    tenants: list[TenantV2] = Field(default_factory=list)


AnyConfig = Config | ConfigV2
