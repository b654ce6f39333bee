"""The two sides of ``gitopsgen diff``, without parsing the base twice over.

``diff`` compiles tenants.yaml as it is at the base and as it is in the working
tree. Both texts are valid or the diff is refused, the base's problems first (exit
2), exactly as two calls of :func:`gitopsgen.config.parse` would decide. What
differs is how the base's *model* is obtained when the two texts differ in a few
tenants only (the common pull request): the lines both texts share at the start
and at the end are compared, and the tenants whose text lies entirely in those
shared lines are the working tree's tenants (the same text in the same place of
the same sequence is the same model). Only the base's other tenants are read from
the base:

* when ``validate``, ``check`` or ``build`` already accepted exactly this base text
  (the command cache, :mod:`gitopsgen.cache`; ``GITOPSGEN_NO_CACHE=1`` turns it
  off), by parsing just the base's settings and those tenants as a file of their
  own;
* else, for a base of at least :data:`PARALLEL_MIN_BYTES`, it is validated in full in
  a forked child process while this process loads the working tree's file (on two
  cores the two parses take the time of one), and the child sends back only those
  tenants, the base's settings and the positions of those tenants' keys: pickling
  20,000 tenants would cost more than half a parse. The child is this process's own
  fork; what it sends (a pickle through a pipe) is read by this process only, never
  stored.

The shared tenants are only taken over when nothing can make equal text mean
something else: line breaks are plain ``\\n``, every tenant item starts with
``- `` on its own line in one column, and neither the changed tenants nor the lines
before the sequence hold an anchor or alias (``&``, ``*``). Anything else, a smaller
base and a platform without ``fork`` take the plain sequence: parse the base, load
the head.
The result is the same every way; tests/test_diff_fast.py compares them on random
edits.
"""

from __future__ import annotations

import os
import pickle
import signal
import threading
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitopsgen.errors import ConfigError, GitopsgenError, Problem
from gitopsgen.model import AnyConfig
from gitopsgen.reader import Document

__all__ = ["load_sides"]

# Bytes after which the lines of the two texts cannot be compared as the reader
# counts them (other line breaks, UTF-16/32).
_ODD_BYTES = (b"\r", b"\x00", b"\xc2\x85", b"\xe2\x80\xa8", b"\xe2\x80\xa9")
# An anchor or an alias: equal text may then stand for different values.
_MARKS = (b"&", b"*")
# Set to False to always take the plain sequence (tests compare the two).
PARALLEL = hasattr(os, "fork")
# A smaller base is parsed here: its parse (0.2 s at about 3,000 tenants) is not
# worth a process that a loaded machine may not run alongside this one.
PARALLEL_MIN_BYTES = 256 * 1024


@dataclass(frozen=True)
class _Texts:
    """The lines of both texts and the lines they share at the start and end."""

    base: list[bytes]
    head: list[bytes]
    prefix: int  # lines equal at the start
    suffix: int  # lines equal at the end (not overlapping the prefix)

    @classmethod
    def of(cls, base: bytes, head: bytes) -> _Texts | None:
        if any(odd in text for text in (base, head) for odd in _ODD_BYTES):
            return None
        a, b = base.split(b"\n"), head.split(b"\n")
        most = min(len(a), len(b))
        prefix = 0
        while prefix < most and a[prefix] == b[prefix]:
            prefix += 1
        suffix = 0
        while suffix < most - prefix and a[-1 - suffix] == b[-1 - suffix]:
            suffix += 1
        return cls(a, b, prefix, suffix)


@dataclass(frozen=True)
class _Items:
    """Where one text's tenant items stand, and which of them the differing lines
    may touch: ``[first, stop)``."""

    starts: list[int]  # 0-based line of each item's "- "
    lines: int
    first: int
    stop: int
    end: int  # the line after the last item (the next top-level key, or the end)
    column: int  # 1-based column of the items' mappings

    @property
    def middle(self) -> tuple[int, int]:
        """The lines of the items ``[first, stop)``."""
        return self.starts[self.first], self.starts[self.stop] if self.stop < len(
            self.starts
        ) else self.end


def _items(doc: Document, lines: list[bytes], prefix: int, suffix: int) -> _Items | None:
    """The tenant items of ``doc`` (read from ``lines``) and those whose text is
    not entirely in the shared first ``prefix`` or last ``suffix`` lines; None
    when the text is not laid out so that this can be told from lines alone."""
    data = doc.data
    tenants = data.get("tenants") if isinstance(data, dict) else None
    key = doc.keys.get(("tenants",))
    if not isinstance(tenants, list) or not tenants or key is None:
        return None
    starts: list[int] = []
    column = doc.values.get(("tenants", 0), (0, 0))[1]
    for i in range(len(tenants)):
        pos = doc.values.get(("tenants", i))
        if pos is None:
            return None
        line, col = pos[0] - 1, pos[1] - 1
        text = lines[line] if line < len(lines) else b""
        # "- " right before the item, only blanks before that: one item per line.
        if col < 2 or text[col - 2 : col] != b"- " or text[: col - 2] != b" " * (col - 2):
            return None
        if pos[1] != column:
            return None
        if starts and line <= starts[-1]:
            return None
        starts.append(line)
    after = [
        pos[0] - 1
        for k in data
        if k != "tenants" and (pos := doc.keys.get((k,))) is not None and pos[0] - 1 > starts[-1]
    ]
    end = min(after, default=len(lines))  # the line after the last item
    start, stop_line = prefix, len(lines) - suffix  # the lines that differ: [start, stop_line)
    if start < starts[0]:
        return None  # the difference begins before the first tenant
    # Items before ``first`` end before an item that starts in the shared prefix;
    # items from ``stop`` on start in the shared suffix.
    first = max(bisect_left(starts, start) - 1, 0)
    stop = bisect_left(starts, stop_line)
    if stop == len(starts) and stop_line > end:
        return None  # the difference reaches past the tenants
    middle_end = starts[stop] if stop < len(starts) else end
    # No anchor or alias in the changed items, nor around the sequence (the root
    # and the tenants key up to the first item) that an alias could name.
    head = lines[: starts[0]]
    middle = lines[starts[first] : middle_end]
    if any(mark in line for part in (head, middle) for line in part for mark in _MARKS):
        return None
    return _Items(starts, len(lines), first, stop, end, column)


@dataclass(frozen=True)
class _Base:
    """What the child sends: the base's problems, or its model in full or in part."""

    problems: list[Problem] | None = None
    config: AnyConfig | None = None  # in full; or without tenants, with ``items``
    doc: Document | None = None
    items: _Items | None = None
    tenants: list[Any] | None = None  # the tenants items[first:stop] of the base


def _base_answer(raw: bytes, source: str, texts: _Texts | None) -> _Base:
    from gitopsgen.config import parse

    try:
        config, doc = parse(raw, source)
    except ConfigError as exc:
        return _Base(problems=list(exc.problems))
    items = None if texts is None else _items(doc, texts.base, texts.prefix, texts.suffix)
    if items is None:
        return _Base(config=config, doc=doc)
    wanted = range(items.first, items.stop)
    # The positions input_changes may look up: those inside the changed tenants.
    values = {p: v for p, v in doc.values.items() if _inside(p, wanted)}
    keys = {p: v for p, v in doc.keys.items() if _inside(p, wanted)}
    data: list[Any] = [None] * len(items.starts)
    data[items.first : items.stop] = doc.data["tenants"][items.first : items.stop]
    partial = Document({"tenants": data}, doc.path, values, keys)
    return _Base(
        config=config.model_copy(update={"tenants": []}),
        doc=partial,
        items=items,
        tenants=list(config.tenants[items.first : items.stop]),
    )


def _inside(path: tuple[Any, ...], wanted: range) -> bool:
    return len(path) >= 2 and path[0] == "tenants" and path[1] in wanted


class _Child:
    """The base validated in a forked process; :meth:`answer` waits for it."""

    def __init__(self, raw: bytes, source: str, texts: _Texts) -> None:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child; its coverage is not collected
            try:
                os.close(read)
                payload = pickle.dumps(_base_answer(raw, source, texts), pickle.HIGHEST_PROTOCOL)
                view = memoryview(payload)  # into the pipe: no file is written
                while view:
                    view = view[os.write(write, view) :]
            finally:
                os._exit(0)
        os.close(write)
        self.pid, self.read = pid, read

    def answer(self) -> _Base | None:
        """The child's answer, or None when it died without one."""
        with os.fdopen(self.read, "rb") as pipe:
            payload = pipe.read()
        os.waitpid(self.pid, 0)
        try:
            answer = pickle.loads(payload) if payload else None
        except Exception:  # a truncated answer: the child was killed
            return None
        return answer if isinstance(answer, _Base) else None

    def stop(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        os.close(self.read)
        os.waitpid(self.pid, 0)


def _side_error(side: str, error: GitopsgenError) -> GitopsgenError:
    from gitopsgen.diff import SideError

    return SideError(side, error)


def _sequential(
    raw: bytes, source: str, side: str, config_path: Path
) -> tuple[AnyConfig, Document, Any]:
    """Parse the base, then load the working tree's file: each error says its side."""
    from gitopsgen.diff import parse_side

    old, old_doc = parse_side(raw, source, side)
    return old, old_doc, _load_head(config_path, None)


def _load_head(config_path: Path, raw: bytes | None) -> Any:
    """:func:`gitopsgen.config.load` of the working tree's file (of ``raw``, its bytes
    as already read, when given)."""
    from gitopsgen.config import locate, parse, read_config

    try:
        text = read_config(config_path) if raw is None else raw
        config, doc = parse(text, str(config_path))
        return locate(config, doc, config_path, allow_outside=True)
    except ConfigError as exc:
        raise _side_error(f"working tree ({config_path})", exc) from None


def load_sides(
    raw: bytes, source: str, side: str, config_path: Path, base_path: Path | None = None
) -> tuple[AnyConfig, Document, Any]:
    """The base's config and document (from its text ``raw``, named ``source`` in
    messages, ``side`` in front of them; read from the file ``base_path`` if any)
    and the working tree's project.

    The base document is complete only where the texts differ: it is what
    :func:`gitopsgen.diff.input_changes` looks positions up in, for keys that
    differ."""
    from gitopsgen.config import read_config

    config_path = Path(config_path)
    try:
        head_raw = read_config(config_path)
    except ConfigError:
        return _sequential(raw, source, side, config_path)  # says which side fails
    if head_raw == raw:
        # The same text: the same model, valid or not on both sides.
        try:
            project = _load_head(config_path, head_raw)
        except GitopsgenError:
            return _sequential(raw, source, side, config_path)
        return project.config, project.document, project
    texts = _Texts.of(raw, head_raw)
    if texts is None:
        return _sequential(raw, source, side, config_path)
    places = [config_path] if base_path is None else [config_path, Path(base_path)]
    if any(validated_before(raw, place) for place in places):
        try:
            project = _load_head(config_path, head_raw)
        except GitopsgenError:
            return _sequential(raw, source, side, config_path)
        known = _splice_text(source, texts, project)
        if known is None:
            from gitopsgen.diff import parse_side

            return (*parse_side(raw, source, side), project)
        return known[0], known[1], project
    # fork only a single-threaded process: another thread may hold a lock the
    # child would need (gitopsgen used as a library)
    if not PARALLEL or len(raw) < PARALLEL_MIN_BYTES or threading.active_count() > 1:
        return _sequential(raw, source, side, config_path)
    child = _Child(raw, source, texts)
    try:
        project = _load_head(config_path, head_raw)
    except GitopsgenError:
        child.stop()
        return _sequential(raw, source, side, config_path)
    base = child.answer()
    if base is None:
        return _sequential(raw, source, side, config_path)
    if base.problems is not None:
        raise _side_error(side, ConfigError(base.problems))
    assert base.config is not None and base.doc is not None
    if base.items is None:
        return base.config, base.doc, project
    spliced = _splice(base, project, texts)
    if spliced is None:
        from gitopsgen.diff import parse_side

        old, old_doc = parse_side(raw, source, side)
        return old, old_doc, project
    return spliced, base.doc, project


def _splice(base: _Base, project: Any, texts: _Texts) -> AnyConfig | None:
    """The base's config: its own settings and changed tenants, the head's tenants
    everywhere the two texts are the same. None when the two texts' items do not
    line up."""
    assert base.items is not None and base.config is not None and base.tenants is not None
    mine = _items(project.document, texts.head, texts.prefix, texts.suffix)
    theirs = base.items
    if mine is None or mine.first != theirs.first:
        return None
    tail = len(mine.starts) - mine.stop
    if tail != len(theirs.starts) - theirs.stop:
        return None
    first = mine.first
    if mine.starts[:first] != theirs.starts[:first]:
        return None
    shift = theirs.lines - mine.lines
    if [s + shift for s in mine.starts[mine.stop :]] != theirs.starts[theirs.stop :]:
        return None
    head = project.config.tenants
    tenants = [*head[:first], *base.tenants, *head[mine.stop :]]
    return base.config.model_copy(update={"tenants": tenants})


def validated_before(raw: bytes, config_path: Path) -> bool:
    """Whether ``validate``, ``check`` or ``build`` accepted exactly this text as
    ``config_path`` with this code (:mod:`gitopsgen.cache`): only a text that
    :func:`gitopsgen.config.parse` accepted is ever recorded, and parsing reads the
    text only."""
    from gitopsgen import cache

    if not cache.enabled():
        return False
    # An entry is keyed by the path as that command was given it: -c PATH, or the
    # absolute path found without -c.
    absolute = os.path.abspath(config_path)
    names = dict.fromkeys([str(config_path), absolute, os.path.relpath(absolute)])
    return any(
        cache.load_entry(cache.key_for(name, raw, flag)) for name in names for flag in (False, True)
    )


def _splice_text(source: str, texts: _Texts, project: Any) -> tuple[AnyConfig, Document] | None:
    """The base's config and document (complete for its changed tenants) from a
    base text known to be valid, without parsing all of it: its settings and the
    items where the two texts differ are parsed as a file of their own (the
    lines before the first tenant, those items, the lines after the tenants);
    every other tenant is the head's. None when that shortened file does not
    read as those items inside ``tenants``."""
    from gitopsgen.config import parse

    mine = _items(project.document, texts.head, texts.prefix, texts.suffix)
    if mine is None:
        return None
    shift = len(texts.base) - len(texts.head)
    lo, hi = mine.middle
    # Before ``lo`` and from ``hi`` on, the base's lines are the head's (shifted).
    header = texts.base[: mine.starts[0]]
    middle = texts.base[lo : hi + shift]
    trailer = texts.base[mine.end + shift :]
    if any(mark in line for line in middle for mark in _MARKS):
        return None
    try:
        config, doc = parse(b"\n".join([*header, *middle, *trailer]), source)
    except GitopsgenError:
        return None
    items = doc.data.get("tenants") if isinstance(doc.data, dict) else None
    if not isinstance(items, list) or doc.keys.get(("tenants",)) != project.document.keys.get(
        ("tenants",)
    ):
        return None
    inside = range(len(header), len(header) + len(middle))
    for k in range(len(items)):
        pos = doc.values.get(("tenants", k))
        if pos is None or pos[0] - 1 not in inside or pos[1] != mine.column:
            return None
    for key in doc.data:
        pos = doc.keys.get((key,))
        if key != "tenants" and (pos is None or pos[0] - 1 in inside):
            return None
    head = project.config.tenants
    tenants = [*head[: mine.first], *config.tenants, *head[mine.stop :]]
    offset = lo - len(header)  # a line of the shortened file -> of the base

    def moved(path: tuple[Any, ...]) -> tuple[Any, ...]:
        return ("tenants", mine.first + path[1], *path[2:])

    own = range(len(items))
    values = {moved(p): (ln + offset, c) for p, (ln, c) in doc.values.items() if _inside(p, own)}
    keys = {moved(p): (ln + offset, c) for p, (ln, c) in doc.keys.items() if _inside(p, own)}
    data: list[Any] = [None] * len(tenants)
    data[mine.first : mine.first + len(items)] = items
    partial = Document({"tenants": data}, doc.path, values, keys)
    return config.model_copy(update={"tenants": tenants}), partial
