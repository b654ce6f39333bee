"""add-tenant and remove-tenant do not parse the edited file again: the model and the
positions they pass on are the old ones plus (minus) the tenant, validated by the rules
that involve it (gitopsgen.config.accepts_added_tenant / accepts_removed_tenant).

Checked here against a full parse over random sequences of edits, valid and invalid:
every result equals what parsing its text gives (the model, the data and every key and
value position that messages use), and every edit is accepted or refused exactly as
the editor did before, when it parsed the edited file whole (the same message)."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitopsgen import config as config_module
from gitopsgen import edit
from gitopsgen.config import parse
from gitopsgen.edit import Edit, EditError

V1 = textwrap.dedent(
    """\
    # header
    version: 1
    pool:
      - 10.0.0.8-10.0.0.15    # eight addresses
    reserved:
      traefik: 10.0.0.8
    tenants:
      # heads a
      - name: a               # eol
        ip: 10.0.0.10
      - name: b
        ip: 10.0.0.11
        hostname: shop.example.com
        vcluster:
          authDelegator: true

    # a key after the tenants: its positions move with every edit
    defaults:
      ingress:
        listenerHostnames: ["*.traefik.local", "shop.example.com", "*.example.com"]
    output: generated
    """
)

V2 = textwrap.dedent(
    """\
    version: 2
    clusters:
      - name: eu-1
        pool: [10.1.0.8/29]
        reserved: {traefik: 10.1.0.9}
        shards: [s1, s2]
        capacity: {cpu: "2"}          # 200m per control plane, 2 with quota small
      - name: eu-2
        pool: [10.2.0.10-10.2.0.30]
        defaults:
          ingress:
            domain: eu2.example.com
            listenerHostnames: ["*.eu2.example.com", "shop.traefik.local"]
    tenants:
      - name: a
        cluster: eu-1
        shard: s1
        ip: 10.1.0.10
        routes:
          - {service: nginx, port: 80, hostname: shop.traefik.local}
      - {name: b, cluster: eu-2, ip: 10.2.0.10}
      -
        name: c
        cluster: eu-1
        shard: s2
        ip: 10.1.0.11
    defaults:
      quotas:
        small:
          resourceQuota: {requests.cpu: "2"}
    output: generated
    """
)

HOSTNAMES = [
    None,
    "tenant-a.traefik.local",  # a's default hostname
    "tenant-b.eu2.example.com",  # b's default hostname (its cluster's domain)
    "shop.traefik.local",  # a route's hostname
    "shop.example.com",  # b's hostname in V1
    "n1.traefik.local",
    "n2.eu2.example.com",
    "x.elsewhere.test",  # no listener
    "Bad..Host",
]


@contextmanager
def counting_parses() -> Iterator[list[int]]:
    calls = [0]
    real = edit.parse

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return real(*args, **kwargs)

    with mock.patch.object(edit, "parse", wrapper):
        yield calls


@contextmanager
def full_parse_only() -> Iterator[None]:
    """The editor as it was: every edited file parsed whole to validate it."""
    with (
        mock.patch.object(edit, "accepts_added_tenant", lambda *a: False),
        mock.patch.object(edit, "accepts_removed_tenant", lambda *a: False),
    ):
        yield


def outcome(run: Callable[[], Edit]) -> tuple[tuple[Any, ...], Edit | None]:
    try:
        result = run()
    except EditError as exc:
        return ("refused", str(exc)), None
    return ("done", result.text, result.address, result.message), result


def assert_same_as_parse(result: Edit) -> None:
    config, doc = parse(result.text)
    assert result.config == config
    assert result.document is not None
    assert result.document.data == doc.data
    assert result.document.values == doc.values
    assert result.document.keys == doc.keys
    assert result.document.problems == doc.problems == []


def apply(text: str, op: dict[str, Any]) -> tuple[tuple[Any, ...], Edit | None, int]:
    """``op`` through the editor; checked against the editor that parses again."""

    def run() -> Edit:
        if op["kind"] == "remove":
            return edit.remove_tenant(text, op["name"])
        return edit.add_tenant(
            text,
            op["name"],
            op["ip"],
            cluster=op["cluster"],
            shard=op["shard"],
            hostname=op["hostname"],
            quota=op["quota"],
        )

    with counting_parses() as calls:
        got, result = outcome(run)
    with full_parse_only():
        expected, _ = outcome(run)
    assert got == expected
    if result is not None:
        assert_same_as_parse(result)
    return got, result, calls[0]


def ops(version: int) -> st.SearchStrategy[dict[str, Any]]:
    names = st.sampled_from(["a", "Bad_Name", *(f"n{i}" for i in range(1, 13))])
    gone = st.sampled_from(["a", "b", "c", "n1", "n2", "n3", "zz"])
    pool = (
        ["10.0.0.8", "10.0.0.10", "10.0.0.14", "10.0.1.1"]
        if version == 1
        else ["10.1.0.9", "10.1.0.10", "10.1.0.13", "10.2.0.10", "10.2.0.13", "10.9.0.1"]
    )
    # Mostly what add-tenant chooses itself: a valid edit often enough to matter.
    add = st.fixed_dictionaries(
        {
            "kind": st.just("add"),
            "name": names,
            "ip": st.sampled_from([None, None, None, *pool]),
            "hostname": st.sampled_from([None] * 6 + HOSTNAMES),
            "cluster": st.sampled_from(
                [None] * 4 + ([] if version == 1 else ["eu-1", "eu-2", "x"])
            ),
            "shard": st.sampled_from([None] * 6 + ([] if version == 1 else ["s1", "s2", "s3"])),
            "quota": st.sampled_from([None] * 6 + ([] if version == 1 else ["small", "huge"])),
        }
    )
    remove = st.fixed_dictionaries({"kind": st.just("remove"), "name": gone})
    return st.one_of(add, add, remove)


def run_sequence(text: str, sequence: list[dict[str, Any]]) -> None:
    tenants = len(parse(text)[0].tenants)
    for op in sequence:
        _, result, parses = apply(text, op)
        if result is None:
            continue
        assert result.config is not None
        before, tenants = tenants, len(result.config.tenants)
        if min(before, tenants) > 0:
            # A valid edit of a block list of tenants is not parsed a second time
            # (an empty list, `tenants: []`, goes through the round trip, parsed).
            assert parses == 1, (op, text)
        text = result.text


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=st.lists(ops(1), min_size=1, max_size=8))
def test_random_edits_of_a_version_1_file_equal_a_full_parse(sequence):
    run_sequence(V1, sequence)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=st.lists(ops(2), min_size=1, max_size=8))
def test_random_edits_of_a_version_2_file_equal_a_full_parse(sequence):
    run_sequence(V2, sequence)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("final", [True, False])
def test_line_endings_and_a_missing_final_newline(newline, final):
    text = V1.replace("\n", newline)
    text = text if final else text.rstrip("\r\n")
    added = apply(
        text,
        {
            "kind": "add",
            "name": "n1",
            "ip": None,
            "cluster": None,
            "shard": None,
            "hostname": None,
            "quota": None,
        },
    )[1]
    assert added is not None
    removed = apply(added.text, {"kind": "remove", "name": "a"})[1]
    assert removed is not None


@pytest.mark.parametrize(
    ("op", "message"),
    [
        ({"hostname": "tenant-a.traefik.local"}, r"tenants\[3\]\.hostname: hostname 'tenant-a\."),
        ({"hostname": "shop.traefik.local"}, r"tenants\[0\]\.routes\[0\]\.hostname: hostname"),
        ({"hostname": "x.elsewhere.test"}, "matches no listener hostname"),
        ({"cluster": "eu-1", "quota": "small"}, "cluster 'eu-1' is over capacity"),
        ({"cluster": "eu-1", "quota": "huge"}, "unknown quota profile 'huge'"),
    ],
)
def test_invalid_adds_are_refused_with_the_located_message_of_a_full_parse(op, message):
    full = {
        "kind": "add",
        "name": "n1",
        "ip": None,
        "cluster": "eu-1",
        "shard": None,
        "hostname": None,
        "quota": None,
        **op,
    }
    got, result, _ = apply(V2, full)
    assert result is None
    assert got[0] == "refused"
    assert "the edited file would not be valid; nothing was written" in got[1]
    assert "tenants.yaml:" in got[1]
    assert re.search(message, got[1]), got[1]


def test_a_fleet_file_is_edited_without_a_second_parse():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "fleet.py"
    spec = importlib.util.spec_from_file_location("bench_fleet", path)
    assert spec is not None and spec.loader is not None
    fleet = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fleet)
    text = fleet.fleet_yaml(300)
    _, added, parses = apply(
        text,
        {
            "kind": "add",
            "name": "zz-new",
            "ip": None,
            "cluster": None,
            "shard": None,
            "hostname": None,
            "quota": None,
        },
    )
    assert added is not None and parses == 1
    _, removed, parses = apply(added.text, {"kind": "remove", "name": "f00007"})
    assert removed is not None and parses == 1
    assert config_module.MAX_TENANTS > 300


def test_removing_a_tenant_another_setting_depends_on_is_refused_as_before():
    text = V1.replace(
        "  ingress:\n", "  flux:\n    routesDependsOn: [gateway-api, vcluster-a]\n  ingress:\n"
    )
    parse(text)
    got, result, _ = apply(text, {"kind": "remove", "name": "a"})
    assert result is None
    assert "routesDependsOn[1]: 'vcluster-a' is neither a Flux Kustomization" in got[1]
    assert apply(text, {"kind": "remove", "name": "b"})[1] is not None


def test_removing_the_last_tenant_leaves_an_empty_list():
    text = V1
    for name in ("a", "b"):
        _, result, _ = apply(text, {"kind": "remove", "name": name})
        assert result is not None
        text = result.text
    assert "tenants: []" in text


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\x85"])
def test_unicode_line_breaks_in_comments_count_as_yaml_counts_them(char):
    """str.splitlines and the YAML reader agree on these line breaks: the shifted
    positions are right (a full parse says so)."""
    text = V1.replace("# header", f"# header{char}# more")
    add = {"kind": "add", "name": "n1", "ip": None, "cluster": None, "shard": None}
    _, added, parses = apply(text, {**add, "hostname": None, "quota": None})
    assert added is not None and parses == 1
    _, removed, parses = apply(added.text, {"kind": "remove", "name": "a"})
    assert removed is not None and parses == 1
