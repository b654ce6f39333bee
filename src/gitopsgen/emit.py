"""The one place that turns data into YAML text.

A small, dedicated emitter for the plain data gitopsgen renders: dicts (insertion
order kept), lists, ``str``, ``int``, ``float``, ``bool`` and ``None``. It writes
block style with a 2-space indent, sequences indented under their key, LF line
endings and a trailing newline. It is deterministic and about two orders of
magnitude faster than ruamel.yaml's dumper, which matters at thousands of tenants.

Strings are written plain only when every YAML 1.1 and YAML 1.2 reader (PyYAML,
ruamel.yaml, Go's yaml.v2/v3 as used by kustomize and Helm) reads them back as the
same string; otherwise they are double-quoted with escapes. The property tests in
``tests/test_emit.py`` hold the emitter to that: every document reads back, with
real parsers, to exactly the data it came from.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

__all__ = ["Shared", "dump", "dump_stream", "format_scalar"]

# Strings that some YAML 1.1 or 1.2 resolver turns into a non-string when plain.
_IMPLICIT = re.compile(
    r"""^(?:
      [yYnN~]
    | (?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)
    | (?:null|Null|NULL)
    | [-+]?0b[0-1_]+
    | [-+]?0o?[0-7_]+
    | [-+]?0x[0-9a-fA-F_]+
    | [-+][0-9_]+                   # YAML 1.2 (ruamel): "-_" is an int
    | [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?
    | [-+]?(?:\.[0-9_]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?
    | [-+]?\.(?:inf|Inf|INF)
    | \.(?:nan|NaN|NAN)
    | [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}.*
    | <<
    | =
    )$""",
    re.VERBOSE,
)

# Printable ASCII that may appear in a plain scalar (flow indicators excluded).
# \Z, not $: "$" also matches before a final newline, and "x\n" is not plain.
_PLAIN_CHARS = re.compile(r"^[\x20-\x7e]+\Z")
_BAD_START = frozenset("?:,[]{}#&*!|>'\"%@`")
_FLOW = re.compile(r"[\[\]{},]")

# Characters that must be escaped inside a double-quoted scalar.
_ESCAPE = re.compile('[\\\\"\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]')
_NAMED = {
    "\\": "\\\\",
    '"': '\\"',
    "\0": "\\0",
    "\a": "\\a",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\v": "\\v",
    "\f": "\\f",
    "\r": "\\r",
    "\x1b": "\\e",
    "\x85": "\\N",
    "\xa0": "\\_",
    "\u2028": "\\L",
    "\u2029": "\\P",
}


_CONTAINERS = (Mapping, list, tuple)


# Characters a YAML reader refuses (or reads as a line break) even inside a comment.
_COMMENT_BAD = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]"
)


def _escape_char(match: re.Match[str]) -> str:
    ch = match.group()
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    if 0xD800 <= code <= 0xDFFF:
        raise ValueError(f"cannot emit a lone surrogate U+{code:04X}")
    if code <= 0xFF:
        return f"\\x{code:02X}"
    return f"\\u{code:04X}"


def _is_plain(s: str) -> bool:
    if not _PLAIN_CHARS.match(s):
        return False
    first = s[0]
    if first in _BAD_START or first == " " or s[-1] == " ":
        return False
    if first == "-" and (len(s) == 1 or s[1] == " " or s.startswith("---")):
        return False
    if s.startswith("..."):
        return False
    if ": " in s or " #" in s or s.endswith(":") or _FLOW.search(s):
        return False
    return not _IMPLICIT.match(s)


# Bounded: names and addresses are unique per tenant; the keys every document
# repeats stay (a full cache at 65,536 strings held some 30 MB at 20,000 tenants).
@lru_cache(maxsize=1 << 13)
def _format_str(s: str) -> str:
    if s and _is_plain(s):
        return s
    return '"' + _ESCAPE.sub(_escape_char, s) + '"'


def format_scalar(value: Any) -> str:
    """The YAML text of one scalar."""
    if isinstance(value, str):
        return _format_str(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        if "e" in text and "." not in text:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}.0e{exponent}"
        return text
    raise TypeError(f"cannot emit a value of type {type(value).__name__}")


class Shared:
    """Emitted lines of containers that several documents hold (by identity).

    For a caller that renders many documents sharing parts (one NetworkPolicy
    spec object for every tenant): each shared container is emitted once per
    indent. Sound only while every object in ``ids`` stays alive and unmodified,
    which the caller guarantees (``make_plan`` holds every rendered document).
    """

    def __init__(self, ids: set[int]) -> None:
        self.ids = ids
        self.lines: dict[tuple[int, int], list[str] | None] = {}


def _lines(value: Any, indent: int, out: list[str], shared: Shared | None = None) -> None:
    """Append the block lines of a non-empty mapping or sequence at ``indent``."""
    if shared is not None and id(value) in shared.ids:
        key = (id(value), indent)
        if key not in shared.lines:
            shared.lines[key] = None  # being emitted: the call below emits it plainly
            start = len(out)
            _lines(value, indent, out, shared)
            shared.lines[key] = out[start:]
            return
        cached = shared.lines[key]
        if cached is not None:
            out.extend(cached)
            return
    # Hot path: exact-type checks first (``isinstance`` against the ``Mapping`` ABC
    # costs far more than a type comparison); the ABC check only for other types.
    pad = " " * indent
    append = out.append
    t = type(value)
    if t is dict or (t is not list and isinstance(value, Mapping)):
        for key, item in value.items():
            k = _format_str(key) if isinstance(key, str) else format_scalar(key)
            if len(k) > 1000:  # YAML caps implicit keys at 1024 characters: "? key"
                k = f"? {k}\n{pad}"
            t = type(item)
            if t is str:
                append(f"{pad}{k}: {_format_str(item)}")
            elif t is dict or t is list or (t is not int and isinstance(item, _CONTAINERS)):
                if item:
                    append(f"{pad}{k}:")
                    # Sequences are indented under their key, as in the seed repository.
                    _lines(item, indent + 2, out, shared)
                else:
                    append(f"{pad}{k}: {_inline(item)}")
            else:
                append(f"{pad}{k}: {format_scalar(item)}")
        return
    for item in value:
        t = type(item)
        if t is str:
            append(f"{pad}- {_format_str(item)}")
        elif t is dict or t is list or (t is not int and isinstance(item, _CONTAINERS)):
            if item:
                start = len(out)
                _lines(item, indent + 2, out, shared)
                out[start] = f"{pad}- {out[start][indent + 2 :]}"
            else:
                append(f"{pad}- {_inline(item)}")
        else:
            append(f"{pad}- {format_scalar(item)}")


def _inline(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, (list, tuple)):
        return "[]"
    return format_scalar(value)


def dump(data: Any, *, shared: Shared | None = None) -> str:
    """One YAML document (without a ``---`` marker), ending in a newline."""
    if isinstance(data, (Mapping, list, tuple)) and data:
        out: list[str] = []
        _lines(data, 0, out, shared)
        out.append("")
        return "\n".join(out)
    return _inline(data) + "\n"


@lru_cache(maxsize=256)
def _comment_lines(comment: str | None) -> str:
    if not comment:
        return ""
    lines = comment.splitlines()
    if _COMMENT_BAD.search(comment):
        # A comment may carry a file name: never let it make the stream unreadable.
        lines = [_COMMENT_BAD.sub(lambda m: f"\\u{ord(m.group()):04X}", line) for line in lines]
    return "".join(f"# {line}".rstrip() + "\n" for line in lines)


def dump_stream(
    docs: Sequence[Any],
    *,
    header: str | None = None,
    comments: Iterable[str | None] | None = None,
    shared: Shared | None = None,
) -> str:
    """Several documents separated by ``---``; an optional file header comment and
    an optional comment above each document. ``shared``: see :class:`Shared`."""
    notes = list(comments) if comments is not None else [None] * len(docs)
    parts = [_comment_lines(header)]
    for i, (doc, note) in enumerate(zip(docs, notes, strict=True)):
        if i:
            parts.append("---\n")
        parts.append(_comment_lines(note))
        parts.append(dump(doc, shared=shared))
    return "".join(parts)
