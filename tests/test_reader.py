"""The reader's resolver shortcut (reader._FixedVersionResolver) gives the tags of
ruamel.yaml's own VersionedResolver, scalar by scalar and node by node."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

from gitopsgen import reader

SCALARS = [
    "",
    "~",
    "null",
    "Null",
    "NULL",
    "true",
    "True",
    "false",
    "FALSE",
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "0",
    "-0",
    "+12",
    "0o17",
    "017",
    "0x1F",
    "1_000",
    "1.5",
    "-1.5e3",
    ".inf",
    "-.Inf",
    ".nan",
    "1e3",
    "2026-12-01",
    "2026-12-01T12:00:00Z",
    "12:30:45",
    "172.18.0.210",
    "10.20.0.0/16",
    "a",
    "name",
    "=",
    "0.",
    "+.5",
    "1:20",
    "'quoted'",
    "t00001",
    "'*.traefik.local'",
    '"x"',
    "3Gi",
    "500m",
]


def tags(yaml: YAML, text: str) -> list[str]:
    out: list[str] = []

    def walk(node: Node) -> None:
        out.append(str(node.tag))
        if isinstance(node, MappingNode):
            for key, value in node.value:
                walk(key)
                walk(value)
        elif isinstance(node, SequenceNode):
            for item in node.value:
                walk(item)

    node = yaml.compose(text)
    assert node is not None
    walk(node)
    return out


@pytest.mark.parametrize("value", SCALARS)
def test_scalar_tags_match_ruamel(value: str) -> None:
    text = f"key: {value}\nlist:\n  - {value}\n{value or 'k'}: v\n"
    assert tags(reader._yaml(), text) == tags(YAML(typ="safe", pure=False), text)


def test_whole_document_tags_match_ruamel(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "\n".join(f"v{i}: {s}" for i, s in enumerate(SCALARS)) + "\n"
    ours = tags(reader._yaml(), text)
    assert ours == tags(YAML(typ="safe", pure=False), text)
    # and read_text builds the same data as with ruamel.yaml's own resolver
    text = "\n".join(f"v{i}: {s}" for i, s in enumerate(SCALARS) if s != "=") + "\n"
    fast = reader.read_text(text, "t.yaml").data
    monkeypatch.setattr(reader, "_yaml", lambda: YAML(typ="safe", pure=False))
    stock = reader.read_text(text, "t.yaml").data
    assert repr(fast) == repr(stock)  # repr: nan != nan


# ------------------------------------------------ the event path and the node path

ROOT = Path(__file__).resolve().parents[1]

TRICKY = [
    "",
    "# only a comment\n",
    "a: 1\na: 2\n",
    "a:\n  b: 1\n  b: {c: [1, 2]}\nc: 3\n",
    "x:\n  y: 1\nx:\n  - {a: 1, a: 2}\n  - [3, 4]\n",
    "<<: {a: 1}\nb: 2\n",
    "1: a\nnull: b\ntrue: c\n3.5: d\n'4': e\n",
    "? [a, b]\n: c\n? {d: e}\n: f\ng: h\n",
    "? [a, b]\n: {deep: [1, {x: 2}]}\nafter: 1\n",
    "n: " + "9" * 150 + "\n",
    "b: !!binary aGVsbG8=\n",
    "t: !custom x\n",
    "s: !!str 12\n",
    "m: !!map {a: 1}\n",
    "a: &x 1\nb: *x\n",
    "a: &x {k: v}\n",
    "---\na: 1\n---\nb: 2\n",
    "--- a\n",
    "[1, 2, 3]\n",
    "- a\n- b: c\n  d: [e, {f: g}]\n",
    "k:\n",
    "k: ~\nl: 2026-12-01\nm: 12:30:45\nn: 0o17\no: 0x1F\np: .inf\nq: -.nan\n",
    "u: \"\\u00e9t\\u00e9\"\nv: 'it''s'\nw: |\n  line\n  two\nx: >-\n  folded\n  text\n",
    "a: {b: {c: {d: {e: {f: 1}}}}}\n",
    "a: [[[[[[1]]]]]]\n",
    "a: 1\n  b: 2\n",
    'key with spaces: value\n"quoted key": 1\n',
    "= : 1\n",
    "a: !!int 12\nb: !!float 1\n",
    "a: =\n",
    "a: {b: 1, b: 2}\n",
    "\ufeffa: 1\n",
]


def _inputs() -> list[tuple[str, str]]:
    found = [(f"tricky[{i}]", text) for i, text in enumerate(TRICKY)]
    for path in sorted(
        [*ROOT.glob("tests/**/*.yaml"), *ROOT.glob("examples/**/*.yaml"), ROOT / "tenants.yaml"]
    ):
        try:
            found.append((str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")))
        except UnicodeDecodeError:
            continue
    return found


def _read(text: str) -> object:
    try:
        doc = reader.read_text(text, "t.yaml", strict=False)
    except Exception as exc:  # the same error either way: type and every problem
        problems = getattr(exc, "problems", None)
        return ("raised", type(exc).__name__, repr(problems) if problems else str(exc))
    return (repr(doc.data), doc.values, doc.keys, repr(doc.problems))


@pytest.mark.parametrize(("name", "text"), _inputs(), ids=lambda v: v if len(v) < 60 else None)
def test_the_event_path_reads_what_the_node_path_reads(
    name: str, text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = _read(text)

    def bail(self: object, events: object) -> None:
        raise reader._Bail

    monkeypatch.setattr(reader._EventBuilder, "run", bail)
    assert fast == _read(text), name


def test_the_event_path_is_taken_for_plain_documents(monkeypatch: pytest.MonkeyPatch) -> None:
    composed: list[int] = []
    real = YAML.compose

    def counted(self: YAML, stream: str) -> object:
        composed.append(1)
        return real(self, stream)

    monkeypatch.setattr(YAML, "compose", counted)
    reader.read_text((ROOT / "tenants.yaml").read_text(), "tenants.yaml")
    reader.read_text("a: 1\na: 2\n? [x]\n: y\n", "t.yaml", strict=False)
    assert composed == []
    reader.read_text("a: &x 1\nb: *x\n", "t.yaml")  # an alias: the node path
    assert composed == [1]
