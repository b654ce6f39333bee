"""Bad input never crashes: whatever tenants.yaml holds, gitopsgen exits 0 or 2,
never 3 (internal error) or with a traceback, and every error line it prints for
the file is located (``FILE:LINE:COL: ...``).

Hypothesis feeds the CLI (in-process, through the real ``run_cli``) random YAML,
the valid seed with wrong-typed values swapped in, and the seed mutated byte by
byte and line by line; explicit cases cover the classics (BOM, non-UTF-8, tabs,
NUL, empty file, a directory, a missing file, deep nesting, alias bombs, huge files).
"""

from __future__ import annotations

import copy
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import REPO, invoke
from gitopsgen.reader import MAX_BYTES

SEED = (REPO / "tests/cases/seed/tenants.yaml").read_bytes()

FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def run(raw: bytes | None, command: str = "build", name: str = "tenants.yaml") -> tuple[Any, Path]:
    """Write ``raw`` as repo/<name> in a fresh directory and run ``command`` on it."""
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        cfg = repo / name
        if raw is not None:
            cfg.write_bytes(raw)
        res = invoke(command, "--absolute", "-c", str(cfg))
        assert_clean(res, cfg, command)
        if command == "build" and res.code == 0:
            # What build wrote, check finds in sync.
            checked = invoke("check", "-c", str(cfg))
            assert checked.code == 0, checked.err
        return res, cfg


def assert_clean(res: Any, cfg: Path, command: str) -> None:
    text = res.out + res.err
    # check exits 1 on drift (here: nothing built yet); every other command 0 or 2.
    assert res.code in ((0, 1, 2) if command == "check" else (0, 2)), f"exit {res.code}:\n{text}"
    assert "Traceback" not in text
    assert "internal error" not in text
    if res.code == 2:
        assert not res.out.strip() or command == "check", res.out
        lines = res.err.splitlines()
        assert lines, "exit 2 without a message"
        located = re.compile(rf"^{re.escape(str(cfg))}:\d+:\d+: \S")
        for line in lines:
            if command == "build" and line.startswith((str(cfg.parent) + "/", "  ")):
                # An error about the output directory (for example `output: tenants.yaml`,
                # a file, cannot be a directory), with its listing: not about a line.
                continue
            if not cfg.is_file() and line.startswith(f"gitopsgen: {cfg}: "):
                continue  # no file (or a directory): no line to point at, none made up
            assert located.match(line), f"unlocated error line {line!r} in:\n{res.err}"


# -- explicit cases ---------------------------------------------------------------------

SEED_TEXT = SEED.decode()
VALID_MINIMAL = b"version: 1\npool: 10.0.0.0/24\ntenants:\n  - name: a\n    ip: 10.0.0.5\n"

CASES: dict[str, tuple[bytes | None, str | None]] = {
    # name: (file content or None for "no file", expected message fragment or None)
    "missing file": (None, "no such file"),
    "empty file": (b"", "file is empty"),
    "only comments": (b"# nothing\n\n# here\n", "file is empty"),
    "bom only": (b"\xef\xbb\xbf", "file is empty"),
    "bom + valid": (b"\xef\xbb\xbf" + SEED, None),
    "crlf line endings": (SEED.replace(b"\n", b"\r\n"), None),
    "cr line endings": (SEED.replace(b"\n", b"\r"), None),
    "latin-1": ("version: 1\npool: 10.0.0.0/24\n# café\n".encode("latin-1"), "not valid UTF-8"),
    "non-utf8 in a value": (VALID_MINIMAL.replace(b"name: a", b"name: \xff\xfe"), "UTF-8"),
    "utf-16 with bom": (SEED_TEXT.encode("utf-16"), None),
    "nul byte": (VALID_MINIMAL.replace(b"name: a", b"name: a\x00"), "NUL"),
    "control character": (VALID_MINIMAL.replace(b"name: a", b"name: a\x07"), None),
    "escaped control character": (VALID_MINIMAL.replace(b"name: a", b'name: "a\\x07"'), "name"),
    "tab indentation": (VALID_MINIMAL.replace(b"  - name", b"\t- name"), "syntax"),
    "tab after key": (VALID_MINIMAL.replace(b"version: 1", b"version:\t1"), None),
    "top-level list": (b"- a\n- b\n", "top level must be a mapping"),
    "top-level scalar": (b"hello\n", "top level must be a mapping"),
    "top-level null": (b"~\n", "file is empty"),
    "two documents": (VALID_MINIMAL + b"---\n" + VALID_MINIMAL, "single document"),
    "explicit document": (b"---\n" + VALID_MINIMAL + b"...\n", None),
    "directive": (b"%YAML 1.1\n---\n" + VALID_MINIMAL, None),
    "bad directive": (b"%YAML 9.9\n---\n" + VALID_MINIMAL, None),
    "python tag": (b"!!python/object/apply:os.system ['true']\n", "python"),
    "custom tag": (VALID_MINIMAL.replace(b"name: a", b"name: !x a"), "tag"),
    "binary tag": (VALID_MINIMAL.replace(b"name: a", b"name: !!binary YQ=="), "binary"),
    "int tag on text": (VALID_MINIMAL.replace(b"name: a", b"name: !!int a"), "int"),
    "float tag on text": (VALID_MINIMAL.replace(b"name: a", b"name: !!float x"), "float"),
    "bool tag on text": (VALID_MINIMAL.replace(b"name: a", b"name: !!bool maybe"), None),
    "null tag on text": (VALID_MINIMAL.replace(b"name: a", b"name: !!null x"), None),
    "timestamp tag on text": (VALID_MINIMAL.replace(b"name: a", b"name: !!timestamp x"), None),
    "map tag on scalar": (VALID_MINIMAL.replace(b"name: a", b"name: !!map a"), "tag"),
    "seq tag on map": (b"!!seq {version: 1}\n", "tag"),
    "merge key": (b"x: &x {version: 1}\n<<: *x\npool: 10.0.0.0/24\n", "merge"),
    "complex key": (b"? [a, b]\n: 1\nversion: 1\n", "mapping keys"),
    "int key": (b"1: a\nversion: 1\n", "must be a string"),
    "null key": (b"~: a\nversion: 1\n", "must be a string"),
    "bool key": (b"on: a\nversion: 1\n", None),
    "duplicate key": (VALID_MINIMAL + b"version: 1\n", "duplicate key"),
    "unknown alias": (b"version: *nope\n", "syntax"),
    "anchors used legitimately": (
        b"version: 1\npool: &p 10.0.0.0/24\nreserved: {x: 10.0.0.1}\n"
        b"tenants:\n  - &t {name: a, ip: 10.0.0.5}\n  - {name: b, ip: 10.0.0.6}\n",
        None,
    ),
    "recursive alias": (b"a: &a [*a]\n", None),
    "huge int": (VALID_MINIMAL.replace(b"version: 1", b"version: " + b"9" * 5000), "version"),
    "huge float": (VALID_MINIMAL.replace(b"version: 1", b"version: 1e99999"), "version"),
    "nan": (VALID_MINIMAL.replace(b"version: 1", b"version: .nan"), "version"),
    "huge port": (
        VALID_MINIMAL + b"defaults: {workload: {port: " + b"9" * 400 + b"}}\n",
        "port",
    ),
    "negative port": (VALID_MINIMAL + b"defaults: {workload: {port: -1}}\n", "port"),
    "bool port": (VALID_MINIMAL + b"defaults: {workload: {port: true}}\n", "port"),
    "string version": (VALID_MINIMAL.replace(b"version: 1", b'version: "1"'), "version"),
    "version 3": (VALID_MINIMAL.replace(b"version: 1", b"version: 3"), "version"),
    "version 2 with a version 1 pool": (
        VALID_MINIMAL.replace(b"version: 1", b"version: 2"),
        "unknown key 'pool' in version 2: each cluster has its own (clusters[].pool)",
    ),
    "pool wrong type": (VALID_MINIMAL.replace(b"pool: 10.0.0.0/24", b"pool: {a: 1}"), "pool"),
    "pool empty list": (VALID_MINIMAL.replace(b"pool: 10.0.0.0/24", b"pool: []"), "pool"),
    "pool garbage": (VALID_MINIMAL.replace(b"10.0.0.0/24", b"10.0.0.0/99"), "pool"),
    "pool huge range": (VALID_MINIMAL.replace(b"10.0.0.0/24", b"0.0.0.0/0"), None),
    "pool reversed": (VALID_MINIMAL.replace(b"10.0.0.0/24", b"10.0.0.9-10.0.0.1"), "pool"),
    "ip with newline": (VALID_MINIMAL.replace(b"ip: 10.0.0.5", b'ip: "10.0.0.5\\nx"'), "ip"),
    "ip as int": (VALID_MINIMAL.replace(b"ip: 10.0.0.5", b"ip: 167772165"), "ip"),
    "ipv6": (VALID_MINIMAL.replace(b"ip: 10.0.0.5", b"ip: '::1'"), "ip"),
    "tenants a mapping": (b"version: 1\npool: 10.0.0.0/24\ntenants: {a: 1}\n", "tenants"),
    "tenant a string": (b"version: 1\npool: 10.0.0.0/24\ntenants: [a]\n", "tenants[0]"),
    "tenant null": (b"version: 1\npool: 10.0.0.0/24\ntenants: [~]\n", "tenants[0]"),
    "name null": (VALID_MINIMAL.replace(b"name: a", b"name:"), "name"),
    "name int": (VALID_MINIMAL.replace(b"name: a", b"name: 1"), "name"),
    "values a list": (VALID_MINIMAL + b"    vcluster: {values: [1]}\n", "values"),
    "values with odd data": (
        VALID_MINIMAL
        + b"    vcluster:\n      values:\n        a: 2001-12-14\n        b: 1e3\n"
        + b'        c: .inf\n        d: "\\u2028\\x00"\n        e: 0o17\n        f: ~\n'
        + b"        g: 123456789012345678901234567890\n        h: {x: [1, {y: -.5}]}\n",
        None,
    ),
    "deep flow": (b"[" * 100_000, "nested deeper"),
    "deep flow maps": (b"{a: " * 50_000, "nested deeper"),
    "deep compact block": (b"- " * 50_000 + b"x\n", "nested deeper"),
    "deep indented block": (
        b"".join(b" " * i + b"k:\n" for i in range(200)) + b" " * 200 + b"v\n",
        "nested deeper",
    ),
    "deep values": (
        VALID_MINIMAL + b"    vcluster: {values: " + b"{a: " * 80 + b"1" + b"}" * 81 + b"\n",
        "nested deeper",
    ),
    "long line": (b"# " + b"x" * 1_000_000 + b"\n" + VALID_MINIMAL, None),
    "long string value": (VALID_MINIMAL.replace(b"name: a", b"name: " + b"a" * 100_000), "name"),
    "unicode everywhere": ("version: 1\npool: 10.0.0.0/24\nténants: [ü]\n".encode(), "unknown"),
    "unclosed quote": (b'version: "1\n', "syntax"),
    "unclosed flow": (b"version: [1\n", "syntax"),
    "bad indentation": (b"version: 1\n  pool: x\n", "syntax"),
    "stray colon": (b"version: 1: 2\n", "syntax"),
}


# Cases that are valid tenants.yaml files, however unusual: they must build.
VALID = {
    "bom + valid",
    "crlf line endings",
    "cr line endings",
    "explicit document",
    "directive",
    "anchors used legitimately",
    "long line",
    "tab after key",
}


@pytest.mark.parametrize("name", list(CASES))
def test_explicit_bad_input(name: str) -> None:
    raw, fragment = CASES[name]
    res, _ = run(raw)
    if name in VALID:
        assert res.code == 0, res.out + res.err
    if fragment is not None:
        assert res.code == 2, res.out
        assert fragment in res.err, res.err
    for command in ("validate", "check"):
        run(raw, command)


def test_a_directory_instead_of_a_file() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "tenants.yaml"
        cfg.mkdir()
        for command in ("build", "check", "validate"):
            res = invoke(command, "-c", str(cfg))
            assert_clean(res, cfg, command)
            assert res.code == 2
            assert "is a directory" in res.err


@pytest.mark.parametrize(
    ("raw_name", "shown"),
    [
        (b"tenants-\xff.yaml", b"tenants-\\udcff.yaml"),  # not valid UTF-8 (Linux allows it)
        (b"t\x01.yaml", b"t\\x01.yaml"),
        (b"t\nREADME.md\nx.yaml", b"t\\nREADME.md\\nx.yaml"),  # would forge a manifest line
    ],
)
def test_odd_tenants_file_names(raw_name: bytes, shown: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        cfg_bytes = bytes(repo) + b"/" + raw_name
        with open(cfg_bytes, "wb") as handle:
            handle.write(SEED)
        cfg = Path(cfg_bytes.decode("utf-8", "surrogateescape"))
        res = invoke("build", "-c", str(cfg))
        assert res.code == 0, res.err
        out = repo / "generated"
        header = (out / "clusters/host-cluster/kustomization.yaml").read_bytes()
        assert header.startswith(b"# Generated by gitopsgen from " + shown), header[:100]
        manifest = (out / ".gitopsgen-manifest").read_text(encoding="utf-8").splitlines()
        assert "README.md" not in manifest
        # A file of the user's with that name is foreign: left alone, never pruned.
        (out / "README.md").write_text("mine\n")
        assert invoke("build", "-c", str(cfg)).code == 0
        assert (out / "README.md").read_text() == "mine\n"
        assert invoke("check", "-c", str(cfg)).code == 0


def test_output_is_the_tenants_file_itself() -> None:
    raw = SEED.replace(b"output: generated", b"output: tenants.yaml")
    res, _ = run(raw)
    assert res.code == 2


def test_alias_bomb_is_refused() -> None:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    bomb = "\n".join(lines).encode() + b"\n"
    res, _ = run(bomb)
    assert res.code == 2
    assert "alias bomb" in res.err
    # Inside an otherwise valid file, under a free-form values mapping.
    nested = VALID_MINIMAL + b"    vcluster:\n      values:\n"
    nested += b"".join(b"        " + line.encode() + b"\n" for line in lines)
    res, _ = run(nested)
    assert res.code == 2
    assert "alias bomb" in res.err


def test_oversized_file_is_refused() -> None:
    big = b"# " + b"x" * MAX_BYTES + b"\n" + VALID_MINIMAL
    res, _ = run(big)
    assert res.code == 2
    assert f"the limit is {MAX_BYTES} bytes" in res.err


# -- generated input ----------------------------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(["a", "a" * 45, "A", "a..b", "../x", "/etc", "tenant-а", "10.0.0.300", ""]),
)
_data = st.recursive(
    _scalars,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    max_leaves=20,
)


@FUZZ
@given(_data, st.booleans(), st.booleans())
@example({"\n": None, "version\r": 1, "x\u2028": [{"\x00": "\n"}]}, False, True)
@example({"tenants": [{"name": "a\nb", "ip": "1.2.3.4\n"}], "reserved": {"\n": "\n"}}, False, False)
def test_random_yaml(value: Any, flow: bool, unicode: bool) -> None:
    text = yaml.safe_dump(value, default_flow_style=flow, allow_unicode=unicode)
    run(text.encode("utf-8", "surrogatepass"))


def _paths(node: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [here]
    if isinstance(node, dict):
        for key, child in node.items():
            out += _paths(child, (*here, key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            out += _paths(child, (*here, i))
    return out


SEED_DATA = yaml.safe_load(SEED)
SEED_PATHS = _paths(SEED_DATA)[1:]


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(SEED_PATHS), _data), min_size=1, max_size=3))
def test_seed_with_wrong_values(swaps: list[tuple[tuple[Any, ...], Any]]) -> None:
    doc = copy.deepcopy(SEED_DATA)
    for path, value in swaps:
        node = doc
        try:
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    run(yaml.safe_dump(doc, allow_unicode=True).encode("utf-8", "surrogatepass"))


_INTERESTING = [*b":-[]{}#&*!|>'\"%@`,?~ \t\n\r\\", 0x00, 0x07, 0x85, 0xC3, 0xFF, 0xEF]
_SNIPPETS = [
    b"  - name: a\n",
    b"  - name: ../etc\n    ip: 172.18.0.215\n",
    b"  - name: tenant-\xd0\xb0\n    ip: 172.18.0.216\n",
    b"  - {name: z, ip: 172.18.0.210}\n",
    b"tenants: 5\n",
    b"version: 2\n",
    b"output: ../outside\n",
    b"output: /tmp/abs\n",
    b"output: .\n",
    b"output: ..\n",
    b"repositoryRoot: ..\n",
    b"repositoryRoot: /\n",
    b"x: &a [*a]\n",
    b"    values: {x: !!binary aGk=}\n",
    b"---\n",
    b"...\n",
    b"%TAG ! tag:x,2000:\n",
    b"\t\n",
    b"\xef\xbb\xbf",
    b"defaults: {workload: {port: 99999999999999999999}}\n",
    b"      values: {a: [[[[[[[[[[1]]]]]]]]]]}\n",
    b"  - name: " + b"a" * 44 + b"\n    ip: 172.18.0.217\n",
    b"  - name: " + b"a" * 45 + b"\n    ip: 172.18.0.218\n",
]


@st.composite
def mutated_seed(draw: st.DrawFn) -> bytes:
    data = bytearray(SEED)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "dup", "drop", "snippet", "swap"]))
        lines = bytes(data).splitlines(keepends=True)
        if op in ("dup", "drop", "snippet", "swap") and lines:
            i = draw(st.integers(0, len(lines) - 1))
            if op == "dup":
                lines.insert(i, lines[i])
            elif op == "drop":
                del lines[i]
            elif op == "snippet":
                lines.insert(i, draw(st.sampled_from(_SNIPPETS)))
            else:
                j = draw(st.integers(0, len(lines) - 1))
                lines[i], lines[j] = lines[j], lines[i]
            data = bytearray(b"".join(lines))
            continue
        if not data:
            continue
        pos = draw(st.integers(0, len(data) - 1))
        byte = draw(st.sampled_from(_INTERESTING) | st.integers(0, 255))
        if op == "flip":
            data[pos] = byte
        elif op == "insert":
            data.insert(pos, byte)
        else:
            del data[pos : pos + draw(st.integers(1, 8))]
    return bytes(data)


@FUZZ
@given(mutated_seed())
@example(SEED.replace(b"name: a ", b"name: A "))
@example(SEED.replace(b"output: generated", b"output: ."))
def test_mutated_seed(raw: bytes) -> None:
    run(raw)
