"""Who holds which address of a cluster's pool: the result value of ``gitopsgen ips``.

The runs come from :func:`gitopsgen.addresses.allocation` (the one computation); this
adds what the report shows about them. The reporters in :mod:`gitopsgen.report`
print it.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any

from gitopsgen.addresses import Run
from gitopsgen.addresses import allocation as runs_of
from gitopsgen.layout import TenantNames
from gitopsgen.platform import Cluster

__all__ = ["Allocation", "allocation", "label"]


def label(run: Run) -> str:
    """The service that holds the address: a tenant's vcluster, or the reserved name."""
    if run.kind == "tenant":
        return TenantNames(str(run.holder)).vcluster
    return str(run.holder)


@dataclass(frozen=True)
class Allocation:
    cluster: str
    pool: list[str]
    size: int
    reserved: int
    tenants: int
    rows: list[Run]

    @property
    def free(self) -> int:
        return sum(r.count for r in self.rows if r.kind == "free")

    @property
    def held(self) -> int:
        return self.size - self.free

    def addresses(self) -> list[dict[str, Any]]:
        """Every address of the pool with its kind and holder."""
        out: list[dict[str, Any]] = []
        for row in self.rows:
            for value in range(int(row.first), int(row.last) + 1):
                out.append(
                    {"address": str(IPv4Address(value)), "kind": row.kind, "holder": row.holder}
                )
        return out


def allocation(cluster: Cluster) -> Allocation:
    return Allocation(
        cluster=cluster.name,
        pool=[r.text for r in cluster.pool],
        size=cluster.pool_size(),
        reserved=len(cluster.reserved),
        tenants=len(cluster.tenants),
        rows=runs_of(cluster),
    )
