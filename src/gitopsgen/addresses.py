"""Who holds which address of a cluster's pool, as runs: the one computation behind
``ips``, ``add-tenant`` and validation messages.

The work is linear in the number of held addresses and pool ranges, never in the
size of the pool: a ``/8`` with two tenants is three rows, computed at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address

from gitopsgen.platform import Cluster

__all__ = ["Run", "allocation"]


@dataclass(frozen=True, slots=True)
class Run:
    """Consecutive addresses of one kind: ``free``, or one held address
    (``reserved`` for a platform service, ``tenant`` for a vcluster)."""

    first: IPv4Address
    last: IPv4Address
    kind: str
    holder: str | None = None

    @property
    def count(self) -> int:
        return int(self.last) - int(self.first) + 1

    @property
    def span(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"


def allocation(cluster: Cluster) -> list[Run]:
    """Every address of ``cluster``'s pool in order: held ones one by one, free ones
    in runs."""
    held = sorted(cluster.holders.items())
    rows: list[Run] = []
    for rng in sorted(cluster.pool):
        cursor = int(rng.first)
        for address, holder in held:
            value = int(address)
            if value < cursor or value > int(rng.last):
                continue
            if value > cursor:
                rows.append(Run(IPv4Address(cursor), IPv4Address(value - 1), "free"))
            rows.append(Run(address, address, holder.kind, holder.name))
            cursor = value + 1
        if cursor <= int(rng.last):
            rows.append(Run(IPv4Address(cursor), rng.last, "free"))
    return rows
