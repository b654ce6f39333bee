"""The reader's resolver shortcut (reader._FixedVersionResolver) gives the tags of
ruamel.yaml's own VersionedResolver, scalar by scalar and node by node."""

from __future__ import annotations

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
