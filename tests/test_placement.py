"""placement's fast address search equals the allocation it summarises."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitopsgen.addresses import allocation
from gitopsgen.config import parse
from gitopsgen.placement import PlacementError, _address, _free_address
from gitopsgen.platform import Cluster, resolve

RANGES = ["10.0.0.0/29", "10.0.0.8-10.0.0.12", "10.0.1.0/30", "10.0.2.5-10.0.2.5", "10.0.3.0/31"]


def _reference_free(cluster: Cluster) -> IPv4Address | None:
    """The search as it was: the first free run's first address that is not a
    CIDR's network or broadcast address."""
    edges = {a for r in cluster.pool if "/" in r.text and len(r) > 2 for a in (r.first, r.last)}
    for run in allocation(cluster):
        if run.kind != "free":
            continue
        for value in range(int(run.first), int(run.last) + 1):
            if IPv4Address(value) not in edges:
                return IPv4Address(value)
    return None


def _reference_address(cluster: Cluster, ip: str) -> str:
    holder = cluster.holders.get(IPv4Address(ip))
    if holder is not None and holder.kind == "reserved":
        return f"{ip} is reserved for {holder.name}"
    if holder is not None:
        return f"{ip} is already used by tenant {holder.name}"
    return ip


@st.composite
def clusters(draw: st.DrawFn) -> Cluster:
    pool = draw(st.lists(st.sampled_from(RANGES), min_size=1, max_size=4, unique=True))
    addresses = sorted(
        {str(a) for text in pool for a in _addresses(text)}, key=lambda a: IPv4Address(a)
    )
    held = draw(st.lists(st.sampled_from(addresses), unique=True, max_size=len(addresses)))
    kinds = draw(st.lists(st.booleans(), min_size=len(held), max_size=len(held)))
    reserved = {f"svc{i}": a for i, (a, r) in enumerate(zip(held, kinds, strict=True)) if r}
    tenants = [a for a, r in zip(held, kinds, strict=True) if not r]
    names = draw(st.permutations([f"t{i}" for i in range(len(tenants))]))
    text = "version: 1\npool: [" + ", ".join(pool) + "]\n"
    text += "reserved: {" + ", ".join(f"{k}: {v}" for k, v in reserved.items()) + "}\n"
    text += (
        "tenants: ["
        + ", ".join(f"{{name: {n}, ip: {a}}}" for n, a in zip(names, tenants, strict=True))
        + "]\n"
    )
    config, _ = parse(text)
    return resolve(config, ".").clusters[0]


def _addresses(text: str) -> list[IPv4Address]:
    from gitopsgen.ipam import parse_range

    return list(parse_range(text))


@settings(max_examples=300, deadline=None)
@given(cluster=clusters(), probe=st.integers(0, 40))
def test_free_address_and_holders_equal_the_allocation(cluster: Cluster, probe: int) -> None:
    assert _free_address(cluster) == _reference_free(cluster)
    every = [a for r in cluster.pool for a in r]
    ip = str(every[probe % len(every)])
    try:
        got = _address(cluster, ip)
    except PlacementError as exc:
        got = str(exc)
    assert got == _reference_address(cluster, ip)


def test_outside_and_malformed_addresses() -> None:
    config, _ = parse("version: 1\npool: [10.0.0.0/30]\ntenants: []\n")
    cluster = resolve(config, ".").clusters[0]
    with pytest.raises(PlacementError, match="outside the pool"):
        _address(cluster, "10.0.1.1")
    with pytest.raises(PlacementError, match="not a valid IPv4 address"):
        _address(cluster, "10.0.0")
