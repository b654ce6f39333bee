"""The fleet case of the benchmark: a version 2 tenants.yaml of N tenants over 4 host
clusters with 4 Flux shards each (issue 17; the layout is SPEC-v2 section 3).

``python benchmarks/fleet.py N`` prints the file. :func:`fleet_yaml` is what
``benchmarks/run.py --fleet`` measures: cold build, no-change build and check against
``cp -r`` / ``cat`` of the same tree, peak RSS, one-tenant ``diff``, and the time of
the largest ``kubectl kustomize`` a Flux controller runs on the tree (the cluster
entry point, each shard directory and each bucket directory).
"""

from __future__ import annotations

import sys

CLUSTERS = ("fleet-a", "fleet-b", "fleet-c", "fleet-d")
SHARDS = ("s1", "s2", "s3", "s4")


def fleet_tenant(i: int) -> tuple[str, str, str, str]:
    """(name, cluster, shard, ip) of tenant ``i``: round-robin over the clusters,
    then over the shards; each cluster's pool is a /16, so 65,000 per cluster fit."""
    cluster = i % len(CLUSTERS)
    k = i // len(CLUSTERS)  # index inside its cluster
    shard = SHARDS[k % len(SHARDS)]
    value = 10 + k
    return f"f{i:05d}", CLUSTERS[cluster], shard, f"10.{40 + cluster}.{value // 256}.{value % 256}"


def fleet_yaml(n: int) -> str:
    """A valid version 2 tenants.yaml with ``n`` tenants; about 1 in 7 with overrides
    (a custom hostname, authDelegator, Helm values, a pinned distro)."""
    lines = [
        "# Synthetic version 2 tenants.yaml written by benchmarks/fleet.py.",
        "version: 2",
        "output: generated",
        "defaults:",
        "  ingress:",
        "    domain: fleet.example.com",
        "clusters:",
    ]
    for c, name in enumerate(CLUSTERS):
        lines += [
            f"  - name: {name}",
            f"    pool: [10.{40 + c}.0.0/16]",
            "    reserved:",
            f"      traefik: 10.{40 + c}.0.1",
            f"    shards: [{', '.join(SHARDS)}]",
        ]
    lines.append("tenants:" if n else "tenants: []")
    for i in range(n):
        name, cluster, shard, ip = fleet_tenant(i)
        lines += [
            f"  - name: {name}",
            f"    cluster: {cluster}",
            f"    shard: {shard}",
            f"    ip: {ip}",
        ]
        if i % 17 == 5:
            lines.append(f"    hostname: shop-{i}.fleet.example.com")
        auth, values, k3s = i % 23 == 3, i % 13 == 7, i % 29 == 11
        if auth or values or k3s:
            lines.append("    vcluster:")
            if auth:
                lines.append("      authDelegator: true")
            if k3s:
                lines.append("      distro: k3s")
            if values:
                lines += [
                    "      values:",
                    "        controlPlane:",
                    "          statefulSet:",
                    "            resources:",
                    f"              limits: {{memory: {1 + i % 4}Gi}}",
                ]
    return "\n".join(lines) + "\n"


def change_one_fleet_tenant(text: str, n: int) -> str:
    """The same file with the address of the middle tenant changed."""
    _, _, _, ip = fleet_tenant(n // 2)
    old = f"    ip: {ip}\n"
    octets = ip.split(".")
    new = f"    ip: {octets[0]}.{octets[1]}.255.{200 + (n // 2) % 50}\n"
    assert text.count(old) == 1, old
    return text.replace(old, new)


def kustomize_paths(out_dir: str, n: int) -> list[str]:
    """Every directory a Flux controller builds above the tenants: each cluster's
    entry point, each shard directory and each bucket directory (relative to the
    output directory)."""
    import os

    paths = []
    for cluster in CLUSTERS:
        base = f"clusters/{cluster}"
        if not os.path.isdir(os.path.join(out_dir, base)):
            continue
        paths.append(base)
        for shard in SHARDS:
            shard_dir = f"{base}/shards/{shard}"
            if os.path.isdir(os.path.join(out_dir, shard_dir)):
                paths.append(shard_dir)
                buckets = os.path.join(out_dir, shard_dir, "buckets")
                if os.path.isdir(buckets):
                    paths += [f"{shard_dir}/buckets/{b}" for b in sorted(os.listdir(buckets))]
    return paths


if __name__ == "__main__":
    sys.stdout.write(fleet_yaml(int(sys.argv[1]) if len(sys.argv) > 1 else 20000))
