"""Who holds which address of the pool: the result value of ``gitopsgen ips``.

Rows in address order: one per held address (a reserved service or a tenant) and
one per run of free addresses. The reporters in :mod:`gitopsgen.report` print it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Any

from gitopsgen.ipam import parse_address, parse_range, runs
from gitopsgen.model import Config

__all__ = ["Allocation", "Row", "allocation", "service_name"]


def service_name(tenant: str) -> str:
    """The LoadBalancer service that holds a tenant's address (its vcluster release)."""
    return f"vcluster-{tenant}"


@dataclass(frozen=True)
class Row:
    first: str
    last: str
    count: int
    kind: str  # free | reserved | tenant
    holder: str | None  # the reserved service or the tenant name; None when free

    @property
    def span(self) -> str:
        return self.first if self.count == 1 else f"{self.first}-{self.last}"

    @property
    def label(self) -> str:
        """The service name the seed's README table shows for the holder."""
        if self.kind == "tenant":
            assert self.holder is not None
            return service_name(self.holder)
        return str(self.holder)


@dataclass(frozen=True)
class Allocation:
    pool: list[str]
    size: int
    reserved: int
    tenants: int
    rows: list[Row] = field(default_factory=list)

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
            for value in range(int(IPv4Address(row.first)), int(IPv4Address(row.last)) + 1):
                out.append(
                    {"address": str(IPv4Address(value)), "kind": row.kind, "holder": row.holder}
                )
        return out


def allocation(config: Config) -> Allocation:
    holders: dict[IPv4Address, tuple[str, str]] = {}
    for service, text in config.reserved.items():
        holders[parse_address(text)] = ("reserved", service)
    for tenant in config.tenants:
        holders[parse_address(tenant.ip)] = ("tenant", tenant.name)
    rows: list[Row] = []
    ranges = sorted(parse_range(text) for text in config.pool)
    for rng in ranges:
        free: list[IPv4Address] = []

        def flush(free: list[IPv4Address] = free) -> None:
            for first, last in runs(free):
                rows.append(Row(str(first), str(last), int(last) - int(first) + 1, "free", None))
            free.clear()

        for address in rng:
            held = holders.get(address)
            if held is None:
                free.append(address)
                continue
            flush()
            kind, who = held
            rows.append(Row(str(address), str(address), 1, kind, who))
        flush()
    return Allocation(
        pool=list(config.pool),
        size=sum(len(r) for r in ranges),
        reserved=len(config.reserved),
        tenants=len(config.tenants),
        rows=rows,
    )
