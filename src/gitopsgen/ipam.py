"""Address pools: parsing, membership and allocation. Pure functions."""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address

__all__ = [
    "PoolRange",
    "allocation",
    "free_addresses",
    "in_pool",
    "lowest_free",
    "parse_address",
    "parse_range",
    "runs",
]


@dataclass(frozen=True, order=True)
class PoolRange:
    """An inclusive range of IPv4 addresses."""

    first: IPv4Address
    last: IPv4Address
    text: str = ""

    def __contains__(self, address: object) -> bool:
        return isinstance(address, IPv4Address) and self.first <= address <= self.last

    def __len__(self) -> int:
        return int(self.last) - int(self.first) + 1

    def __iter__(self) -> Iterator[IPv4Address]:
        for value in range(int(self.first), int(self.last) + 1):
            yield IPv4Address(value)

    def overlaps(self, other: PoolRange) -> bool:
        return self.first <= other.last and other.first <= self.last


def parse_address(text: str) -> IPv4Address:
    """An IPv4 address in dotted-quad form; ``ValueError`` with a readable reason."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a valid IPv4 address") from None
    if not isinstance(address, IPv4Address):
        raise ValueError(f"{text!r} is an IPv6 address; only IPv4 is supported")
    return address


def parse_range(text: str) -> PoolRange:
    """``A-B`` (inclusive) or a CIDR ``A/N``, as MetalLB accepts them."""
    if "/" in text:
        try:
            network = ipaddress.ip_network(text, strict=True)
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a valid CIDR: {exc}") from None
        if not isinstance(network, ipaddress.IPv4Network):
            raise ValueError(f"{text!r} is an IPv6 network; only IPv4 is supported")
        return PoolRange(network.network_address, network.broadcast_address, text)
    if "-" in text:
        start, _, end = text.partition("-")
        first, last = parse_address(start.strip()), parse_address(end.strip())
        if last < first:
            raise ValueError(f"range {text!r} ends before it starts")
        return PoolRange(first, last, text)
    raise ValueError(f"{text!r} is neither a range 'A-B' nor a CIDR 'A/N'")


def in_pool(address: IPv4Address, pool: Sequence[PoolRange]) -> bool:
    return any(address in r for r in pool)


def free_addresses(
    pool: Sequence[PoolRange], taken: Iterable[IPv4Address]
) -> Iterator[IPv4Address]:
    """Addresses of the pool not in ``taken``, lowest first."""
    used = set(taken)
    for r in sorted(pool):
        for address in r:
            if address not in used:
                yield address


def lowest_free(pool: Sequence[PoolRange], taken: Iterable[IPv4Address]) -> IPv4Address | None:
    return next(free_addresses(pool, taken), None)


def runs(addresses: Iterable[IPv4Address]) -> list[tuple[IPv4Address, IPv4Address]]:
    """Consecutive addresses as inclusive ``(first, last)`` runs, in the given order."""
    out: list[tuple[IPv4Address, IPv4Address]] = []
    for address in addresses:
        if out and int(address) == int(out[-1][1]) + 1:
            out[-1] = (out[-1][0], address)
        else:
            out.append((address, address))
    return out


def allocation(
    pool: Sequence[PoolRange], holders: dict[IPv4Address, tuple[str, str]]
) -> tuple[list[dict[str, object]], int]:
    """(rows, free count) of a pool: one row per held address (``holders`` maps an
    address to (kind, holder)), one per run of free addresses between them, in
    address order. The work grows with the number of holders, never with the size
    of the pool (a /8 has 16 million addresses)."""
    rows: list[dict[str, object]] = []
    free_total = 0
    held = sorted(holders.items())

    def free(first: int, last: int) -> None:
        nonlocal free_total
        if first > last:
            return
        free_total += last - first + 1
        rows.append(
            {
                "first": str(IPv4Address(first)),
                "last": str(IPv4Address(last)),
                "count": last - first + 1,
                "kind": "free",
                "holder": None,
            }
        )

    for rng in sorted(pool):
        start, end = int(rng.first), int(rng.last)
        cursor = start
        lo = bisect.bisect_left(held, (rng.first,))
        for address, (kind, who) in held[lo:]:
            value = int(address)
            if value > end:
                break
            free(cursor, value - 1)
            rows.append(
                {
                    "first": str(address),
                    "last": str(address),
                    "count": 1,
                    "kind": kind,
                    "holder": who,
                }
            )
            cursor = value + 1
        free(cursor, end)
    return rows, free_total
