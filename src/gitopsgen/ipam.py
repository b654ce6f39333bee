"""Address pools: parsing, membership and allocation. Pure functions."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address

__all__ = [
    "PoolRange",
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
