"""The emitter against real parsers: whatever plain data goes in reads back exactly,
with PyYAML (YAML 1.1, as many tools still resolve) and ruamel.yaml (YAML 1.2).

Property tests generate nested data full of strings that look like other YAML
types, indicators, comments, document markers, whitespace, control and non-ASCII
characters; unit tests pin the exact text of representative documents.
"""

from __future__ import annotations

import io
import math
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from gitopsgen.emit import dump, dump_stream, format_scalar

SETTINGS = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Strings every YAML resolver, indicator rule or line rule has an opinion about.
TRICKY = [
    "",
    " ",
    "  ",
    "644",
    "0644",
    "0o644",
    "0x1F",
    "0b101",
    "1_000",
    "+1",
    "-1",
    "1e3",
    "1E3",
    "1e+3",
    "1.0",
    ".5",
    "-.5",
    "1.",
    "._",
    "_1",
    "1:20",
    "190:20:30",
    "1:20.5",
    ".inf",
    "-.Inf",
    "+.INF",
    ".nan",
    ".NaN",
    "nan",
    "inf",
    "0.30.4",
    "1.27",
    "v1",
    "on",
    "On",
    "ON",
    "off",
    "yes",
    "No",
    "y",
    "Y",
    "n",
    "N",
    "true",
    "False",
    "TRUE",
    "null",
    "Null",
    "NULL",
    "~",
    "2001-12-14",
    "2001-12-14t21:59:43.10-05:00",
    "2001-1-1",
    "2002-12-14 21:59:43.10 -5",
    "<<",
    "=",
    "*",
    "*a",
    "&a",
    "&a b",
    "!",
    "!!str",
    "!tag x",
    "%YAML 1.2",
    "@x",
    "`x",
    "|",
    "|-",
    ">",
    ">+",
    "'",
    '"',
    "''",
    "?",
    "? x",
    "?x",
    ":",
    ": ",
    ":x",
    "x:",
    "x: y",
    "x:y",
    "http://a:b@c",
    "-",
    "- ",
    "- x",
    "-x",
    "--",
    "---",
    "--- x",
    "---x",
    "...",
    "... x",
    "#x",
    "# x",
    "x #y",
    "x#y",
    ",",
    "[",
    "]",
    "{",
    "}",
    "[a, b]",
    "{a: b}",
    "a,b",
    "a[0]",
    "a{b}",
    " x",
    "x ",
    " x ",
    "x  y",
    "\t",
    "x\ty",
    "\n",
    "x\n",
    "\nx",
    "x\ny",
    "x\n\ny",
    "x\r\ny",
    "\r",
    "\x00",
    "\x07",
    "\x1b",
    "\x7f",
    "\x85",
    "\xa0",
    "\u2028",
    "\u2029",
    "\ufeff",
    "\ufeffx",
    "\ufffe",
    "\uffff",
    "\\",
    "\\n",
    "é",
    "日本",
    "tenant-а",  # Cyrillic a
    "😀",
    "\U0010ffff",
    "nginx:1.27-alpine",
    "172.18.0.200-172.18.0.220",
    "./generated/tenant/tenant-a",
    "vcluster-a:auth-delegator",
]

# Characters that make strings interesting for YAML, to build random ones from.
YAML_ALPHABET = (
    " :-#?*&!|>'\"%@`,[]{}.0123456789eE+_xobtrufalsenyYNOo~<=\t\n\r\\\x00\x85\u2028\ufeffé"
)

NUMBER_LIKE = st.from_regex(
    r"[-+]?(0[box]?)?[0-9_]{0,4}(\.[0-9_]{0,3})?([eE][-+]?[0-9]{1,3})?", fullmatch=True
)
TIME_LIKE = st.from_regex(r"[-+]?[0-9]{1,3}(:[0-9]{1,2}){1,3}(\.[0-9]{0,2})?", fullmatch=True)
DATE_LIKE = st.from_regex(
    r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt ][0-9]{1,2}:[0-9]{2}(:[0-9]{2})?(\.[0-9]*)?Z?)?",
    fullmatch=True,
)

strings = st.one_of(
    st.sampled_from(TRICKY),
    st.text(st.sampled_from(YAML_ALPHABET), max_size=8),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=12),
    NUMBER_LIKE,
    TIME_LIKE,
    DATE_LIKE,
)

floats = st.floats(allow_nan=True, allow_infinity=True)
ints = st.one_of(st.integers(), st.integers(min_value=-(2**200), max_value=2**200))
scalars = st.one_of(strings, ints, floats, st.booleans(), st.none())
data = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(strings, children, max_size=4),
    ),
    max_leaves=24,
)


def _pyyaml(text: str) -> list[Any]:
    return list(yaml.safe_load_all(text))


def _ruamel(text: str) -> list[Any]:
    parser = YAML(typ="safe", pure=True)
    return list(parser.load_all(io.StringIO(text)))


def _ruamel_c(text: str) -> list[Any]:
    parser = YAML(typ="safe")
    return list(parser.load_all(io.StringIO(text)))


def same(a: Any, b: Any) -> bool:
    """Equal, with types (True is not 1, 1.0 is not 1), signed zeros and NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def assert_reads_back(text: str, docs: list[Any]) -> None:
    for load in (_pyyaml, _ruamel, _ruamel_c):
        got = load(text)
        assert same(got, docs), f"{load.__name__} read {got!r} from\n{text}\nexpected {docs!r}"


# -- properties -----------------------------------------------------------------------


@SETTINGS
@given(data)
@example({"mode": "644", "x": "on", "y": "1e3", "v": "0.30.4"})
@example({"": {"": []}, " ": [{}], "k": [[], [[1]]]})
@example([[[]], [{"a": [{"b": None}]}]])
def test_dump_reads_back_exactly(value: Any) -> None:
    assert_reads_back(dump(value), [value])


@SETTINGS
@given(st.lists(data, min_size=1, max_size=4), st.data())
def test_dump_stream_reads_back_exactly(docs: list[Any], draw: st.DataObject) -> None:
    comment = st.one_of(st.none(), st.text(st.characters(exclude_categories=["Cs"]), max_size=20))
    header = draw.draw(comment)
    notes = draw.draw(st.lists(comment, min_size=len(docs), max_size=len(docs)))
    assert_reads_back(dump_stream(docs, header=header, comments=notes), docs)


@SETTINGS
@given(strings)
def test_plain_strings_are_plain_in_both_versions(s: str) -> None:
    text = format_scalar(s)
    if not text.startswith('"'):
        # Written plain: must be printable ASCII and resolve to str under 1.1 and 1.2.
        assert text == s
        assert all(" " <= c <= "~" for c in s)
    assert_reads_back(dump({s: s}), [{s: s}])


@SETTINGS
@given(st.text(min_size=0, max_size=5), st.integers(0xD800, 0xDFFF), st.text(max_size=5))
def test_lone_surrogates_are_refused(before: str, code: int, after: str) -> None:
    with pytest.raises(ValueError, match="lone surrogate"):
        dump({"k": before + chr(code) + after})


def test_unsupported_types_are_refused() -> None:
    with pytest.raises(TypeError, match="cannot emit"):
        dump({"k": b"bytes"})
    with pytest.raises(TypeError, match="cannot emit"):
        dump({"k": {1, 2}})


def test_long_keys_read_back() -> None:
    # Implicit keys are limited to 1024 characters by YAML; long keys must still work.
    keys = ["k" * n for n in range(995, 1030)]
    keys += ["é" * 1100, "\n" * 600, "x" * 1020 + "\u2028"]
    for key in keys:
        for value in ({key: [key], "next": 1}, {key: {key: 1}}, {key: key}, [{key: [{key: 2}]}]):
            assert_reads_back(dump(value), [value])


def test_huge_and_odd_numbers_read_back() -> None:
    value = {
        "big": 10**80,
        "neg": -(2**100),
        "tiny": 5e-324,
        "max": 1.7976931348623157e308,
        "exp": 1e16,
        "nexp": -1e-7,
        "negzero": -0.0,
        "inf": math.inf,
        "ninf": -math.inf,
        "nan": math.nan,
    }
    assert_reads_back(dump(value), [value])


# -- exact text -------------------------------------------------------------------------


def test_exact_block_layout() -> None:
    doc = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x", "labels": {}},
        "data": {
            "mode": "644",
            "flag": "on",
            "sci": "1e3",
            "version": "0.30.4",
            "ver": "1.27",
            "empty": "",
            "none": None,
            "yes": True,
            "port": 80,
            "ratio": 0.5,
        },
        "list": ["a", {"b": 1, "c": [1, 2]}, [], {}, ["x", "y"]],
        "emptyList": [],
    }
    assert dump(doc) == (
        "apiVersion: v1\n"
        "kind: ConfigMap\n"
        "metadata:\n"
        "  name: x\n"
        "  labels: {}\n"
        "data:\n"
        '  mode: "644"\n'
        '  flag: "on"\n'
        '  sci: "1e3"\n'
        "  version: 0.30.4\n"
        '  ver: "1.27"\n'
        '  empty: ""\n'
        "  none: null\n"
        '  "yes": true\n'
        "  port: 80\n"
        "  ratio: 0.5\n"
        "list:\n"
        "  - a\n"
        "  - b: 1\n"
        "    c:\n"
        "      - 1\n"
        "      - 2\n"
        "  - []\n"
        "  - {}\n"
        "  - - x\n"
        '    - "y"\n'
        "emptyList: []\n"
    )


def test_exact_scalars() -> None:
    cases = {
        "plain": "plain",
        "nginx:1.27-alpine": "nginx:1.27-alpine",
        "./generated/tenant/tenant-a": "./generated/tenant/tenant-a",
        "vcluster-a:auth-delegator": "vcluster-a:auth-delegator",
        "a b": "a b",
        "x: y": '"x: y"',
        "#x": '"#x"',
        "x #y": '"x #y"',
        "*": '"*"',
        "- ": '"- "',
        "-": '"-"',
        "---": '"---"',
        " lead": '" lead"',
        "trail ": '"trail "',
        "a\nb": '"a\\nb"',
        "tab\t": '"tab\\t"',
        "\x00\x07\x1b\x7f": '"\\0\\a\\e\\x7F"',
        "\u2028": '"\\L"',
        "\ufeff": '"\\uFEFF"',
        "é": '"é"',
        'q"\\': 'q"\\',
        '"q\\': '"\\"q\\\\"',
        "~": '"~"',
        "null": '"null"',
        "2024-01-02": '"2024-01-02"',
        "12:30": '"12:30"',
        "0x1F": '"0x1F"',
        "0o17": '"0o17"',
    }
    for value, text in cases.items():
        assert format_scalar(value) == text, value
    assert format_scalar(None) == "null"
    assert format_scalar(True) == "true"
    assert format_scalar(False) == "false"
    assert format_scalar(10**30) == "1" + "0" * 30
    assert format_scalar(1e16) == "1.0e+16"
    assert format_scalar(math.inf) == ".inf"
    assert format_scalar(-math.inf) == "-.inf"
    assert format_scalar(math.nan) == ".nan"


def test_exact_stream_with_comments() -> None:
    text = dump_stream(
        [{"a": 1}, {"b": [1]}, {}],
        header="Generated by x.\nDO NOT EDIT",
        comments=[None, "second", ""],
    )
    assert text == ("# Generated by x.\n# DO NOT EDIT\na: 1\n---\n# second\nb:\n  - 1\n---\n{}\n")


def test_scalar_documents() -> None:
    assert dump(None) == "null\n"
    assert dump([]) == "[]\n"
    assert dump({}) == "{}\n"
    assert dump("x") == "x\n"


def test_comments_never_break_the_stream() -> None:
    # The header carries the tenants file's name, which may hold any character
    # (even a lone surrogate from an undecodable file name).
    for name in ("t\x01.yaml", "t\udcff.yaml", "a\nb", "a\r\nb\x85c\u2028d", "\ufeff#x: y", "\x7f"):
        text = dump_stream([{"a": 1}], header=f"Generated from {name}", comments=[name])
        text.encode()
        assert_reads_back(text, [{"a": 1}])
