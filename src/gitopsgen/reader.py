"""Read a YAML file into plain Python data plus the position of every node.

ruamel.yaml composes the node graph (with its C parser when ``ruamel.yaml.clib``
is installed, which keeps a 5000-tenant file well under 0.2 s); this module
builds plain dicts, lists and scalars from it while recording where each key and
value stands, so that every later error can say ``file:line:column``. Duplicate
keys, unsupported tags, alias bombs, excessive nesting and oversized files are
reported as located problems, never as tracebacks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.tag import Tag

from gitopsgen.errors import ConfigError, Problem

__all__ = [
    "MAX_ALIAS_NODES",
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "CommentedMap",
    "CommentedSeq",
    "Document",
    "Path",
    "format_path",
    "load_all",
    "read_text",
    "roundtrip",
]

Path = tuple[str | int, ...]

MAX_BYTES = 8 * 1024 * 1024
MAX_NODES = 2_000_000
MAX_DEPTH = 64
MAX_ALIAS_NODES = 100_000

_TAG = "tag:yaml.org,2002:"
_MAX_INT_CHARS = 100  # no number of tenants.yaml has more characters
_PLAIN_TAGS = {_TAG + "str", _TAG + "timestamp"}


@dataclass
class Document:
    """Plain data of a YAML document and where each piece of it stands."""

    data: Any
    path: str
    # path -> (line, column) of the value node, 1-based
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    # path -> (line, column) of the key that holds the value, 1-based
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)
    # problems found while building (duplicate keys, tags, ...) when read with
    # strict=False: the data is still usable (first value of a duplicate key kept)
    problems: list[Problem] = field(default_factory=list)

    def where(self, loc: Path, *, key: bool = False) -> tuple[int, int]:
        """Position of ``loc``, or of its nearest ancestor that exists."""
        table = self.keys if key else self.values
        probe = loc
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), (1, 1))

    def problem(self, loc: Path, message: str, *, key: bool = False) -> Problem:
        line, column = self.where(loc, key=key)
        return Problem(line, column, format_path(loc), message, self.path)


def format_path(loc: Path) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class _FixedVersionResolver(VersionedResolver):
    """ruamel.yaml's resolver with its implicit-tag table looked up once.

    ``VersionedResolver.resolve`` asks ``processing_version`` for every scalar, and
    that property finds out by raising and catching AttributeError (the C parser's
    loader has no ``yaml_version``): 70 % of composing a 20,000-tenant file
    (ruamel/yaml/resolver.py, ``processing_version`` and ``versioned_resolver``).
    With the C parser the answer never changes (it does not report ``%YAML``
    directives; it is always the loader's default, 1.2), so the table is fetched on
    the first scalar and kept. The tags returned are those of the original
    ``resolve``; tests/test_reader.py compares the two on every kind of scalar."""

    _memo: dict[str, Any] | None = None
    _table: dict[Any, list[tuple[Any, Any]]] | None = None

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is ScalarNode and implicit[0] and not self.yaml_path_resolvers:
            memo = self._memo
            if memo is None:
                memo = self._memo = {}
            tag = memo.get(value)
            if tag is None:
                tag = memo[value] = self._implicit(value)
            return tag
        return super().resolve(kind, value, implicit)

    def _implicit(self, value: str) -> Any:
        table = self._table
        if table is None:
            table = self._table = self.versioned_resolver
        for suffix, regexp in (*table.get(value[:1], ()), *table.get(None, ())):
            if regexp.match(value):
                return Tag(suffix=suffix)
        return self.DEFAULT_SCALAR_TAG


def _yaml() -> YAML:
    try:
        yaml = YAML(typ="safe", pure=False)
    except Exception:  # pragma: no cover - ruamel.yaml.clib missing
        return YAML(typ="safe", pure=True)
    # Only with the C parser: the pure one honours %YAML 1.1 mid-stream.
    yaml.Resolver = _FixedVersionResolver
    return yaml


class _Builder:
    def __init__(self, doc: Document, constructor: Any) -> None:
        self.doc = doc
        self.constructor = constructor
        self.count = 0
        self.problems: list[Problem] = []
        # Set by read_text when the text has aliases: nodes built once, and how many
        # nodes were built again through an alias (a "billion laughs" expands here).
        self.seen: set[int] | None = None
        self.expanded = 0

    def _at(self, node: Node) -> tuple[int, int]:
        mark = node.start_mark
        return (mark.line + 1, mark.column + 1)

    def _fail(self, node: Node, loc: Path, message: str) -> None:
        line, column = self._at(node)
        self.problems.append(Problem(line, column, format_path(loc), message, self.doc.path))

    def build(self, node: Node, loc: Path, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooBig(node, f"document expands to more than {MAX_NODES} nodes (alias bomb?)")
        if self.seen is not None:
            if id(node) in self.seen:
                self.expanded += 1
                if self.expanded > MAX_ALIAS_NODES and self.expanded > 10 * len(self.seen):
                    raise _TooBig(
                        node,
                        f"aliases expand to more than {MAX_ALIAS_NODES} nodes (alias bomb?)",
                    )
            else:
                self.seen.add(id(node))
        if depth > MAX_DEPTH:
            raise _TooBig(node, f"document is nested deeper than {MAX_DEPTH} levels")
        self.doc.values.setdefault(loc, self._at(node))
        if isinstance(node, ScalarNode):
            return self._scalar(node, loc)
        if isinstance(node, SequenceNode):
            self._tag(node, loc, "seq")
            return [self.build(child, (*loc, i), depth + 1) for i, child in enumerate(node.value)]
        if isinstance(node, MappingNode):
            self._tag(node, loc, "map")
            return self._mapping(node, loc, depth)
        raise AssertionError(f"unknown node {node!r}")  # pragma: no cover

    def _tag(self, node: Node, loc: Path, kind: str) -> None:
        if node.tag not in (_TAG + kind, None):
            self._fail(node, loc, f"unsupported tag {node.tag}")

    def _mapping(self, node: MappingNode, loc: Path, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _TAG + "merge":
                self._fail(key_node, loc, "merge keys (<<) are not supported")
                continue
            if not isinstance(key_node, ScalarNode):
                self._fail(key_node, loc, "mapping keys must be plain strings")
                continue
            key = self._scalar(key_node, loc)
            if not isinstance(key, str):
                self._fail(
                    key_node, loc, f"mapping key {key_node.value!r} must be a string (quote it)"
                )
                continue
            child = (*loc, key)
            if key in out:
                first = self.doc.keys[child]
                self._fail(
                    key_node,
                    child,
                    f"duplicate key {key!r} (first defined at line {first[0]}, column {first[1]})",
                )
                continue
            self.doc.keys[child] = self._at(key_node)
            out[key] = self.build(value_node, child, depth + 1)
        return out

    def _scalar(self, node: ScalarNode, loc: Path) -> Any:
        tag = node.tag
        if tag in _PLAIN_TAGS:
            return node.value
        if tag is None or not tag.startswith(_TAG) or tag == _TAG + "binary":
            self._fail(node, loc, f"unsupported tag {tag}")
            return node.value
        if tag in (_TAG + "seq", _TAG + "map"):
            self._fail(node, loc, f"tag {tag} does not fit a scalar")
            return node.value
        if tag == _TAG + "int" and len(node.value) > _MAX_INT_CHARS:
            # Python refuses to convert more than 4300 digits (sys.int_max_str_digits):
            # say so briefly instead of quoting every digit.
            digits = sum(c.isdigit() for c in node.value)
            self._fail(
                node, loc, f"integer {node.value[:12]}... has {digits} digits; far too large"
            )
            return None
        try:
            return self.constructor.construct_object(node, deep=True)
        except Exception as exc:  # ruamel's constructors raise KeyError, ValueError, ...
            reason = exc.problem if isinstance(exc, MarkedYAMLError) and exc.problem else exc
            self._fail(node, loc, f"invalid {tag[len(_TAG) :]} value {node.value!r}: {reason}")
            return node.value


class _TooBig(Exception):
    def __init__(self, node: Node, message: str) -> None:
        super().__init__(message)
        self.node = node


class _Bail(Exception):
    """The document has what only the node path handles (an anchor, an alias, an
    explicit tag, a second document): compose it instead."""


class _EventBuilder(_Builder):
    """:class:`_Builder`'s result, built straight from the parser's events.

    ruamel.yaml's composer makes a node (and resolves a tag) for every scalar, and
    the builder then walks those nodes again: at 20,000 tenants that is about 1.1 s
    and some 80 MB of nodes alive at once. Here each event is turned into data as
    it comes; a node is made only for a scalar that is not a plain string (an int,
    a bool, null, ...), for the same constructor and the same messages. Anchors,
    aliases, explicit tags and a second document make it give up (:class:`_Bail`):
    the node path handles those. tests/test_reader.py holds the two paths to the same
    Document on every test input."""

    resolve: Callable[[Any, str, tuple[bool, bool]], Any]
    events: Iterator[Any]

    def run(self, events: Iterator[Any]) -> Any:
        if type(next(events)) is not StreamStartEvent:  # pragma: no cover
            raise _Bail
        first = next(events)
        if type(first) is StreamEndEvent:
            return None
        if type(first) is not DocumentStartEvent:  # pragma: no cover
            raise _Bail
        self.events = events
        data = self.node(next(events), (), 0)
        if type(next(events)) is not DocumentEndEvent:  # pragma: no cover
            raise _Bail
        if type(next(events)) is not StreamEndEvent:
            raise _Bail  # a second document: compose() says what is wrong
        return data

    def node(self, event: Any, loc: Path, depth: int) -> Any:
        cls = type(event)
        if cls is AliasEvent or event.anchor is not None:
            raise _Bail
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooBig(event, f"document expands to more than {MAX_NODES} nodes (alias bomb?)")
        if depth > MAX_DEPTH:
            raise _TooBig(event, f"document is nested deeper than {MAX_DEPTH} levels")
        mark = event.start_mark
        self.doc.values.setdefault(loc, (mark.line + 1, mark.column + 1))
        if cls is ScalarEvent:
            return self.scalar(event, loc)
        if event.tag is not None:
            raise _Bail
        events = self.events
        if cls is SequenceStartEvent:
            out: list[Any] = []
            for child in events:
                if type(child) is SequenceEndEvent:
                    return out
                out.append(self.node(child, (*loc, len(out)), depth + 1))
            raise _Bail  # pragma: no cover - the parser ends every sequence
        if cls is MappingStartEvent:
            return self.mapping(loc, depth)
        raise _Bail  # pragma: no cover

    def scalar(self, event: Any, loc: Path) -> Any:
        tag = event.tag
        if tag is not None and tag != "!":
            raise _Bail
        tag = self.resolve(ScalarNode, event.value, event.implicit)
        if tag in _PLAIN_TAGS:
            return event.value
        node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        return self._scalar(node, loc)

    def skip(self, event: Any) -> None:
        """Consume the events of a value that is not built (as the node path skips it)."""
        if type(event) is AliasEvent or getattr(event, "anchor", None) is not None:
            raise _Bail
        if type(event) is ScalarEvent:
            return
        level = 1
        for child in self.events:
            cls = type(child)
            if cls is MappingEndEvent or cls is SequenceEndEvent:
                level -= 1
                if not level:
                    return
                continue
            if cls is AliasEvent or child.anchor is not None:
                raise _Bail
            if cls is MappingStartEvent or cls is SequenceStartEvent:
                level += 1

    def mapping(self, loc: Path, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        events = self.events
        keys = self.doc.keys
        for key_event in events:
            cls = type(key_event)
            if cls is MappingEndEvent:
                return out
            if cls is AliasEvent or key_event.anchor is not None:
                raise _Bail
            if cls is not ScalarEvent:
                if key_event.tag is not None:
                    raise _Bail
                mark = key_event.start_mark
                self.problems.append(
                    Problem(
                        mark.line + 1,
                        mark.column + 1,
                        format_path(loc),
                        "mapping keys must be plain strings",
                        self.doc.path,
                    )
                )
                self.skip(key_event)
                self.skip(next(events))
                continue
            if key_event.tag is not None and key_event.tag != "!":
                raise _Bail
            value = key_event.value
            tag = self.resolve(ScalarNode, value, key_event.implicit)
            mark = key_event.start_mark
            at = (mark.line + 1, mark.column + 1)
            if tag == _TAG + "merge":
                self.problems.append(
                    Problem(
                        *at, format_path(loc), "merge keys (<<) are not supported", self.doc.path
                    )
                )
                self.skip(next(events))
                continue
            if tag in _PLAIN_TAGS:
                key: Any = value
            else:
                node = ScalarNode(tag, value, mark, key_event.end_mark, key_event.style)
                key = self._scalar(node, loc)
                if not isinstance(key, str):
                    self._fail(node, loc, f"mapping key {value!r} must be a string (quote it)")
                    self.skip(next(events))
                    continue
            child = (*loc, key)
            if key in out:
                first = keys[child]
                self.problems.append(
                    Problem(
                        *at,
                        format_path(child),
                        f"duplicate key {key!r} (first defined at line {first[0]}, "
                        f"column {first[1]})",
                        self.doc.path,
                    )
                )
                self.skip(next(events))
                continue
            keys[child] = at
            out[key] = self.node(next(events), child, depth + 1)
        raise _Bail  # pragma: no cover - the parser ends every mapping


def _decode(raw: bytes, path: str) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        head = raw[: exc.start]
        line = head.count(b"\n") + 1
        column = len(head) - (head.rfind(b"\n") + 1) + 1
        raise ConfigError(
            [
                Problem(
                    line, column, "", f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})", path
                )
            ]
        ) from None


# ruamel.yaml.clib composes recursively in C: some 20,000 nested levels overflow the
# C stack, a segfault rather than an exception. Each flow level needs a '[' or '{',
# and every two block levels need one more column of indentation or a compact
# "- " / "? " / ": " indicator, so this cheap bound is never below the real depth.
# Only when it is large is the depth counted first on the (iterative) event stream.
_SAFE_NESTING = 2000
_BLOCK_PREFIX = re.compile(r"^[ \t]*(?:(?:[-?:]|[&!][^ \t\n]*)[ \t]+)*", re.MULTILINE)


def _nesting_bound(text: str) -> int:
    flow = text.count("[") + text.count("{")
    if flow > _SAFE_NESTING:
        return flow
    return flow + 2 * max(map(len, _BLOCK_PREFIX.findall(text)), default=0) + 2


def _check_nesting(yaml: YAML, text: str, path: str) -> None:
    depth = 0
    for event in yaml.parse(text):
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                mark = event.start_mark
                message = f"document is nested deeper than {MAX_DEPTH} levels"
                raise ConfigError([Problem(mark.line + 1, mark.column + 1, "", message, path)])
        elif isinstance(event, CollectionEndEvent):
            depth -= 1


def read_text(raw: bytes | str, path: str, *, strict: bool = True) -> Document:
    """Parse one YAML document; raise :class:`ConfigError` with located problems.
    With ``strict=False``, problems found once the text has parsed (duplicate keys,
    unsupported tags, ...) are returned in ``Document.problems`` instead, so that the
    caller reports them together with its own."""
    if len(raw) > MAX_BYTES:
        raise ConfigError(
            [Problem(1, 1, "", f"file is {len(raw)} bytes; the limit is {MAX_BYTES} bytes", path)]
        )
    text = _decode(raw, path) if isinstance(raw, bytes) else raw
    if "\x00" in text:
        offset = text.index("\x00")
        line = text.count("\n", 0, offset) + 1
        column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        raise ConfigError([Problem(line, column, "", "file contains a NUL character", path)])
    yaml = _yaml()
    doc = Document(data=None, path=path)
    fast: _EventBuilder | None = None
    node: Node | None = None
    try:
        if _nesting_bound(text) > _SAFE_NESTING:
            _check_nesting(yaml, text, path)
        fast = _EventBuilder(doc, yaml.constructor)
        fast.resolve = yaml.resolver.resolve
        try:
            doc.data = fast.run(iter(yaml.parse(text)))
        except _Bail:
            # An anchor, an alias (and the alias-bomb limits), an explicit tag or a
            # second document: composed, and built by the node path below.
            fast, doc, yaml = None, Document(data=None, path=path), _yaml()
            node = yaml.compose(text)
        except _TooBig as exc:
            mark = exc.node.start_mark
            raise ConfigError(
                [Problem(mark.line + 1, mark.column + 1, "", str(exc), path)]
            ) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        message = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise ConfigError(
            [Problem(line, column, "", f"YAML syntax error: {message}", path)]
        ) from None
    except ReaderError as exc:
        # A character YAML does not allow (control characters, U+FFFE, ...).
        char = exc.character if isinstance(exc.character, int) else -1
        offset = min(max(int(exc.position), 0), len(text))
        if text[offset : offset + 1] != chr(max(char, 0)):
            # The C parser counts UTF-8 bytes, the pure one characters.
            head = text.encode("utf-8", "surrogatepass")[:offset]
            offset = len(head.decode("utf-8", "ignore"))
        line = text.count("\n", 0, offset) + 1
        column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        message = f"character U+{char:04X} is not allowed in YAML ({exc.reason})"
        raise ConfigError([Problem(line, column, "", message, path)]) from None
    except RecursionError:
        message = f"document is nested deeper than {MAX_DEPTH} levels"
        raise ConfigError([Problem(1, 1, "", message, path)]) from None
    except (YAMLError, ValueError) as exc:
        message = " ".join(str(exc).split())
        raise ConfigError([Problem(1, 1, "", f"YAML syntax error: {message}", path)]) from None
    if fast is not None:
        fast.constructor.constructed_objects.clear()
        if fast.problems:
            if strict:
                raise ConfigError(fast.problems)
            doc.problems = fast.problems
        return doc
    if node is None:
        doc.data = None
        return doc
    builder = _Builder(doc, yaml.constructor)
    if "*" in text:
        builder.seen = set()
    try:
        doc.data = builder.build(node, (), 0)
    except _TooBig as exc:
        mark = exc.node.start_mark
        raise ConfigError([Problem(mark.line + 1, mark.column + 1, "", str(exc), path)]) from None
    finally:
        # The YAML object and its loader reference each other, and the constructor
        # keeps every node it constructed: release those nodes now instead of
        # leaving them to the cyclic GC (which the CLI runs rarely). At 5000
        # tenants they pin ~20 MB of otherwise free memory.
        yaml.constructor.constructed_objects.clear()
    if builder.problems:
        if strict:
            raise ConfigError(builder.problems)
        doc.problems = builder.problems
    return doc


def _expanded_size(root: Node, limit: int) -> int:
    """How many nodes the graph under ``root`` has with every alias expanded, counted
    without expanding (each shared node's size is computed once); stops past ``limit``."""
    sizes: dict[int, int] = {}
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        children: list[Node] = []
        if isinstance(node, SequenceNode):
            children = list(node.value)
        elif isinstance(node, MappingNode):
            children = [part for pair in node.value for part in pair]
        if done or not children:
            total = 1 + sum(sizes.get(id(c), 0) for c in children)
            sizes[key] = min(total, limit + 1)
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


def load_all(raw: bytes | str, path: str) -> list[Any]:
    """Every document of a multi-document YAML file (a manifest of a base commit, a
    generated file on disk, a file of a tree to import) as plain data, with ruamel's
    safe constructor, under the same limits as :func:`read_text`: size, nesting
    depth, and alias expansion (a "billion laughs" is refused before anything is
    built or compared). Raises :class:`ConfigError` with one located problem."""
    if len(raw) > MAX_BYTES:
        raise ConfigError(
            [Problem(1, 1, "", f"file is {len(raw)} bytes; the limit is {MAX_BYTES} bytes", path)]
        )
    text = _decode(raw, path) if isinstance(raw, bytes) else raw
    yaml = _yaml()
    try:
        if _nesting_bound(text) > MAX_DEPTH:
            _check_nesting(yaml, text, path)
        nodes = list(yaml.compose_all(text))
        if "*" in text:
            for node in nodes:
                if node is not None and _expanded_size(node, MAX_NODES) > MAX_NODES:
                    mark = node.start_mark
                    message = f"document expands to more than {MAX_NODES} nodes (alias bomb?)"
                    raise ConfigError([Problem(mark.line + 1, mark.column + 1, "", message, path)])
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        message = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise ConfigError(
            [Problem(line, column, "", f"YAML syntax error: {message}", path)]
        ) from None
    except RecursionError:
        message = f"document is nested deeper than {MAX_DEPTH} levels"
        raise ConfigError([Problem(1, 1, "", message, path)]) from None
    except (YAMLError, ValueError) as exc:
        message = " ".join(str(exc).split())
        raise ConfigError([Problem(1, 1, "", f"YAML syntax error: {message}", path)]) from None
    try:
        # ruamel's constructors raise ValueError, TypeError, OverflowError on YAML that
        # parses (an integer of more than 4300 digits, an unhashable key): callers word them.
        return [yaml.constructor.construct_document(node) for node in nodes if node is not None]
    except MarkedYAMLError as exc:
        # a duplicate key (ruamel's DuplicateKeyError) is located where the second one is
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        message = " ".join(str(exc.problem or exc).split())
        raise ConfigError([Problem(line, column, "", message, path)]) from None
    finally:
        yaml.constructor.constructed_objects.clear()


def roundtrip() -> Any:
    """ruamel.yaml's round-trip loader and dumper (comments, key order and quotes
    kept), for the tenants.yaml editor; the text it loads was read by
    :func:`read_text` first, under its limits."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    return yaml
