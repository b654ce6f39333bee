"""Edit tenants.yaml in place, keeping every comment, blank line, key order and quote.

Both edits work on the text and return the new text; the caller writes it (with
:func:`write_atomic`) only after it validated. The common case, a block sequence
of tenants such as::

    tenants:
      - name: a                    # tenant-a / vcluster-a
        ip: 172.18.0.210

is edited line by line from the node positions the reader records: add-tenant
inserts two lines after the last tenant in the file's own indentation, and
remove-tenant deletes exactly the tenant's lines plus the comments heading it.
That keeps the rest of the file byte for byte and costs a single parse, even
for thousands of tenants: the edited file is not parsed again. Its model and
positions are the old ones plus the new tenant (its two to six lines composed
alone) or minus the removed one, the lines after the edit shifted, and it is
validated by the rules of :func:`gitopsgen.config.parse` that involve that
tenant (:func:`gitopsgen.config.accepts_added_tenant`); tests/test_edit_incremental.py
checks both against a full parse over random edits. Only an edit those rules do
not accept is parsed whole, which words the problems exactly as ``validate``
does. Any other layout (``tenants: []``, a flow sequence, no ``tenants`` key)
goes through ruamel.yaml's round-trip mode, which keeps comments and key order
too, and its result is validated by parsing it again.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from gitopsgen import fsio
from gitopsgen.config import accepts_added_tenant, accepts_removed_tenant, parse
from gitopsgen.errors import ConfigError, GitopsgenError
from gitopsgen.layout import name_too_long
from gitopsgen.locking import directory_lock
from gitopsgen.model import NAME_PATTERN, AnyConfig, Config, ConfigV2, Tenant, TenantV2
from gitopsgen.reader import Document, read_text
from gitopsgen.reader import Path as Loc

if TYPE_CHECKING:
    from gitopsgen.platform import Platform

__all__ = [
    "Edit",
    "EditError",
    "add_tenant",
    "locked",
    "refuse_read_only",
    "remove_tenant",
    "write_atomic",
]

LOCK_WAIT_SECONDS = 30.0

_NAME = re.compile(NAME_PATTERN)
# Plain scalars a YAML loader would not read back as the string itself.
_NOT_A_STRING = re.compile(
    r"^(?:[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?(?:e[-+]?[0-9]+)?|0x[0-9a-f]+|0o[0-7]+"
    r"|true|false|null|yes|no|on|off|y|n|~)$",
    re.IGNORECASE,
)


class EditError(GitopsgenError):
    """The requested edit of tenants.yaml is refused; nothing was written."""


@dataclass(frozen=True)
class Edit:
    """The new text of tenants.yaml and what changed; ``config`` and ``document``: the
    new text validated (the build after the edit uses them instead of parsing again)."""

    text: str
    name: str
    address: str
    message: str
    config: AnyConfig | None = field(default=None, compare=False, repr=False)
    document: Document | None = field(default=None, compare=False, repr=False)

    def release_document(self) -> None:
        """Forget the text's positions (at 20,000 tenants some 45 MB): the build that
        took the validated model has located it and needs them no more."""
        object.__setattr__(self, "document", None)


# ---------------------------------------------------------------- helpers


def _scalar(value: str, quote: str = "") -> str:
    """``value`` as a YAML string: in ``quote`` style if given, else plain unless a
    loader would read the plain form as something else (``true``, ``1``, ...)."""
    if quote == "'":
        return "'" + value.replace("'", "''") + "'"
    if quote == '"':
        return '"' + value + '"'
    return _scalar(value, '"') if _NOT_A_STRING.match(value) else value


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _newline(lines: list[str]) -> str:
    """The file's line break: that of its first line (CRLF, CR or LF)."""
    first = lines[0] if lines else ""
    if first.endswith("\r\n"):
        return "\r\n"
    return "\r" if first.endswith("\r") else "\n"


def _blank(line: str) -> bool:
    return not line.strip()


@dataclass(frozen=True)
class _Block:
    """A block sequence of tenants, in 0-based line numbers."""

    dash: int  # column of the '-' indicators
    starts: list[int]  # line of each item's '-'
    content: list[int]  # column of each item's first key
    end: int  # first line after the sequence


def _block_sequence(lines: list[str], doc: Document) -> _Block | None:
    """The tenants sequence if it is a non-empty block sequence, else None."""
    tenants = doc.data.get("tenants") if isinstance(doc.data, dict) else None
    if not isinstance(tenants, list) or not tenants:
        return None
    line, col = doc.values[("tenants",)]
    dash_line, dash = line - 1, col - 1
    if lines[dash_line][dash : dash + 1] != "-":
        return None  # a flow sequence: [...]
    starts: list[int] = []
    content: list[int] = []
    for index in range(len(tenants)):
        item_line, item_col = doc.values[("tenants", index)]
        row, column = item_line - 1, item_col - 1
        # The item's '-' is on its first line, or alone on a line above it.
        if lines[row][:column].rstrip().endswith("-") and _indent(lines[row]) == dash:
            starts.append(row)
        else:
            probe = row - 1
            while probe > dash_line and lines[probe].strip() != "-":
                probe -= 1
            if lines[probe].strip() != "-":
                return None
            starts.append(probe)
        content.append(column)
    # The sequence ends before the first later line that is neither blank, a
    # comment, nor indented deeper than the '-' (a '-' at the same column
    # continues it).
    end = starts[-1] + 1
    while end < len(lines):
        current = lines[end]
        if not _blank(current) and not _is_comment(current):
            width = _indent(current)
            if width < dash or (width == dash and not current[width:].startswith("-")):
                break
        end += 1
    return _Block(dash, starts, content, end)


def _heading_start(lines: list[str], block: _Block, index: int) -> int:
    """First line of item ``index`` counting the comment lines right above its '-'
    (at least as indented as the '-', and not nested in the item before)."""
    first = block.starts[index]
    floor = block.starts[index - 1] + 1 if index else 0
    while first - 1 >= floor:
        line = lines[first - 1]
        if not _is_comment(line) or _indent(line) < block.dash:
            break
        if index and _indent(line) > block.dash and _indent(line) >= block.content[index - 1]:
            break  # nested in the item before: its comment
        first -= 1
    return first


def _item_span(lines: list[str], block: _Block, index: int) -> tuple[int, int]:
    """Lines [first, stop) of item ``index``: its heading comments, its own lines
    and comments nested deeper than its '-'; never the comments heading the next item,
    blank lines after it or comments at the '-' column or left of it."""
    first = _heading_start(lines, block, index)
    limit = _heading_start(lines, block, index + 1) if index + 1 < len(block.starts) else block.end
    last = block.starts[index]
    for row in range(block.starts[index] + 1, limit):
        line = lines[row]
        if _blank(line) or (_is_comment(line) and _indent(line) <= block.dash):
            continue
        last = row
    return first, last + 1


def _validate(text: str, label: str) -> tuple[AnyConfig, Document]:
    try:
        return parse(text, label)
    except ConfigError as exc:
        raise EditError(
            f"{label}: the edited file would not be valid; nothing was written:\n"
            + "\n".join(f"  {p.format()}" for p in exc.problems)
        ) from None


Positions = dict[Loc, tuple[int, int]]


def _shifted(table: Positions, after: int, by: int) -> Positions:
    """``table`` with every position on a line below ``after`` (1-based) moved ``by``."""
    if not any(line > after for line, _ in table.values()):
        return dict(table)
    return {loc: (line + by if line > after else line, col) for loc, (line, col) in table.items()}


def _appended(
    config: AnyConfig, doc: Document, new: list[str], row: int, item: dict[str, str]
) -> tuple[AnyConfig, Document] | None:
    """The model and document of the file with the lines ``new`` (tenant ``item``)
    inserted before line ``row`` (0-based), as :func:`parse` of it gives them; None
    when :func:`accepts_added_tenant` does not show the result valid."""
    if not accepts_added_tenant(config, doc, item):
        return None
    try:
        tenant = (TenantV2 if isinstance(config, ConfigV2) else Tenant).model_validate(item)
        # The new lines alone, composed where they stand: the item of a block sequence
        # at the same column, so every column is the file's; lines are off by ``row``.
        piece = read_text("".join(new), doc.path)
    except (ValidationError, ConfigError):
        return None
    if not isinstance(piece.data, list) or piece.data != [item]:
        return None  # pragma: no cover - the lines do not say what was meant
    index = len(config.tenants)
    values, keys = _shifted(doc.values, row, len(new)), _shifted(doc.keys, row, len(new))
    for table, part in ((values, piece.values), (keys, piece.keys)):
        for loc, (line, col) in part.items():
            if loc:
                at: Loc = ("tenants", index, *loc[1:])
                table[at] = (line + row, col)
    data = {**doc.data, "tenants": [*doc.data["tenants"], item]}
    specs: list[Any] = [*config.tenants, tenant]
    return (
        config.model_copy(update={"tenants": specs}),
        Document(data, doc.path, values, keys, list(doc.problems)),
    )


def _without_positions(
    table: Positions, index: int, first: int, stop: int, moved: Positions
) -> Positions | None:
    """``table`` without tenant ``index`` and lines ``first+1 .. stop`` (1-based):
    later tenants renumbered, later lines moved up, the positions in ``moved`` (in
    the old file's lines) replaced; None if anything else stood on the removed lines."""
    count = stop - first
    out: Positions = {}
    for loc, (line, col) in table.items():
        if len(loc) > 1 and loc[0] == "tenants" and isinstance(loc[1], int) and loc[1] >= index:
            if loc[1] == index:
                continue
            loc = ("tenants", loc[1] - 1, *loc[2:])
        line, col = moved.get(loc, (line, col))
        if line > stop:
            line -= count
        elif line > first:
            return None
        out[loc] = (line, col)
    return out


def _removed(
    config: AnyConfig, doc: Document, block: _Block, index: int, first: int, stop: int
) -> tuple[AnyConfig, Document] | None:
    """The model and document of the file without tenant ``index`` of ``block``, whose
    lines ``first`` to ``stop`` (0-based, exclusive) were deleted; None when
    :func:`accepts_removed_tenant` does not show the result valid."""
    if not accepts_removed_tenant(config, index) or len(block.starts) < 2:
        return None
    # The sequence starts at the '-' of its first item: the second, when the first goes.
    moved: Positions = {("tenants",): (block.starts[1] + 1, block.dash + 1)} if index == 0 else {}
    values = _without_positions(doc.values, index, first, stop, moved)
    keys = _without_positions(doc.keys, index, first, stop, {})
    if values is None or keys is None:
        return None  # pragma: no cover - a layout the line editor does not make
    tenants = doc.data["tenants"]
    data = {**doc.data, "tenants": [*tenants[:index], *tenants[index + 1 :]]}
    specs: list[Any] = [t for i, t in enumerate(config.tenants) if i != index]
    return (
        config.model_copy(update={"tenants": specs}),
        Document(data, doc.path, values, keys, list(doc.problems)),
    )


# ---------------------------------------------------------------- add


def _check_name(name: str, config: AnyConfig, doc: Document, label: str) -> None:
    if not _NAME.match(name):
        raise EditError(
            f"{name!r} is not a valid tenant name: use lowercase letters, digits and '-', "
            "starting and ending with a letter or digit (a DNS-1123 label)"
        )
    too_long = name_too_long(name)
    if too_long is not None:
        raise EditError(too_long)
    specs: list[Tenant | TenantV2] = list(config.tenants)
    for index, tenant in enumerate(specs):
        if tenant.name == name:
            line, _ = doc.where(("tenants", index, "name"))
            raise EditError(f"tenant {name!r} already exists ({label}, line {line})")


def _ip_quote(lines: list[str], doc: Document, index: int) -> str:
    where = doc.values.get(("tenants", index, "ip"))
    if where is None:
        return ""
    char = lines[where[0] - 1][where[1] - 1 : where[1]]
    return char if char in ("'", '"') else ""


def _place(
    config: AnyConfig,
    platform: Platform,
    doc: Document,
    label: str,
    name: str,
    ip: str | None,
    cluster: str | None,
    shard: str | None,
) -> list[tuple[str, str]]:
    """The keys to write after ``name``: ``ip`` in version 1; ``cluster``, ``shard``
    (when the cluster has shards) and ``ip`` in version 2, chosen where not given."""
    from gitopsgen.placement import PlacementError, place

    if isinstance(config, Config) and (cluster is not None or shard is not None):
        raise EditError(
            f"{label} is version 1 (one host cluster): --cluster and --shard need version 2"
        )
    try:
        spot = place(platform, name, cluster=cluster, shard=shard, ip=ip)
    except PlacementError as exc:
        message = str(exc)
        if exc.holder is not None:
            specs: list[Tenant | TenantV2] = list(config.tenants)
            index = next(i for i, t in enumerate(specs) if t.name == exc.holder)
            line, _ = doc.where(("tenants", index, "ip"))
            message += f" ({label}, line {line})"
        raise EditError(message) from None
    if isinstance(config, Config):
        return [("ip", spot.ip)]
    keys = [("cluster", spot.cluster.name)]
    if spot.shard is not None:
        keys.append(("shard", spot.shard))
    return [*keys, ("ip", spot.ip)]


def add_tenant(
    text: str,
    name: str,
    ip: str | None = None,
    label: str = "tenants.yaml",
    *,
    cluster: str | None = None,
    shard: str | None = None,
    hostname: str | None = None,
    quota: str | None = None,
) -> Edit:
    """Append tenant ``name``, placed where ``cluster``, ``shard`` and ``ip`` say,
    the rest chosen (:func:`gitopsgen.placement.place`): the lowest free address,
    and in version 2 the cluster and shard by rendezvous hashing; then its
    ``hostname`` and ``quota`` profile when given."""
    config, doc = parse(text, label)
    if quota is not None and not isinstance(config, ConfigV2):
        raise EditError(f"{label}: --quota needs a version 2 file (defaults.quotas)")
    _check_name(name, config, doc, label)
    from gitopsgen.platform import resolve

    keys = _place(config, resolve(config, "."), doc, label, name, ip, cluster, shard)
    address = dict(keys)["ip"]
    where = ", ".join(v for k, v in keys if k != "ip")
    keys += _extra_keys(hostname, quota)
    lines = text.splitlines(keepends=True)
    block = _block_sequence(lines, doc)
    if block is not None:
        last = len(block.starts) - 1
        _, stop = _item_span(lines, block, last)
        offset = block.content[last] - block.dash
        quote = _ip_quote(lines, doc, last)
        newline = _newline(lines)
        indent = " " * block.content[last]
        new = [
            " " * block.dash + "-" + " " * (offset - 1) + f"name: {_scalar(name)}{newline}",
            *(
                f"{indent}{key}: {_scalar(value, quote if key == 'ip' else '')}{newline}"
                for key, value in keys
            ),
        ]
        head = lines[:stop]
        if head and not head[-1].endswith(("\n", "\r")):
            # The file ends without a line break: so does the edited file (and
            # remove-tenant takes the break away again: byte-identical round trip).
            head[-1] += newline
            new[-1] = new[-1][: -len(newline)]
        new_text = "".join([*head, *new, *lines[stop:]])
        fast = _appended(config, doc, new, stop, {"name": name, **dict(keys)})
    else:
        new_text = _roundtrip_add(text, name, keys)
        fast = None
    new_config, new_doc = fast or _validate(new_text, label)
    if not any(t.name == name and t.ip == address for t in new_config.tenants):
        raise AssertionError(f"edited tenants.yaml does not hold tenant {name}")  # pragma: no cover
    summary = f"added tenant {name} ({address}" + (f" in {where}" if where else "") + ")"
    return Edit(new_text, name, address, summary, new_config, new_doc)


# ---------------------------------------------------------------- remove


def remove_tenant(text: str, name: str, label: str = "tenants.yaml") -> Edit:
    """Remove tenant ``name``: its lines and the comments attached to it."""
    config, doc = parse(text, label)
    specs: list[Tenant | TenantV2] = list(config.tenants)
    index = next((i for i, t in enumerate(specs) if t.name == name), None)
    if index is None:
        known = ", ".join(t.name for t in specs) or "none"
        raise EditError(f"no tenant {name!r} in {label} (tenants: {known})")
    address = specs[index].ip
    lines = text.splitlines(keepends=True)
    block = _block_sequence(lines, doc)
    if block is not None:
        first, stop = _item_span(lines, block, index)
        if (
            first > 0
            and stop < len(lines)
            and _blank(lines[first - 1])
            and _blank(lines[stop])
            and len(block.starts) > 1
        ):
            stop += 1  # do not leave two blank lines where one separated the items
        kept = lines[:first] + lines[stop:]
        if len(block.starts) == 1:
            # the last tenant: keep the key, as an empty list
            key_row = doc.keys[("tenants",)][0] - 1
            key_line = lines[key_row]
            colon = key_line.index(":", doc.keys[("tenants",)][1] - 1)
            rest = key_line[colon + 1 :]
            comment = rest.strip()
            ending = key_line[len(key_line.rstrip("\r\n")) :] or "\n"
            kept[key_row] = (
                key_line[: colon + 1] + " []" + (f"  {comment}" if comment else "") + ending
            )
        if stop == len(lines) and kept and not lines[-1].endswith(("\n", "\r")):
            kept[-1] = kept[-1].rstrip("\r\n")  # the file ended without a line break
        new_text = "".join(kept)
        fast = _removed(config, doc, block, index, first, stop)
    else:
        new_text = _roundtrip_remove(text, index)
        fast = None
    new_config, new_doc = fast or _validate(new_text, label)
    if any(t.name == name for t in new_config.tenants):
        raise AssertionError(f"edited tenants.yaml still holds {name}")  # pragma: no cover
    message = f"removed tenant {name} ({address})"
    return Edit(new_text, name, address, message, new_config, new_doc)


# ---------------------------------------------------------------- round trip


def _roundtrip() -> Any:
    from gitopsgen.reader import roundtrip

    return roundtrip()


def _detect_indent(text: str) -> tuple[int, int]:
    """(mapping indent, dash offset) of the file's block collections."""
    mapping, offset = 2, 2
    lines = text.splitlines()
    for row, line in enumerate(lines[:-1]):
        stripped = line.strip()
        if not stripped.endswith(":") or _is_comment(line) or stripped.startswith("-"):
            continue
        nxt = next((n for n in lines[row + 1 :] if n.strip() and not _is_comment(n)), "")
        delta = _indent(nxt) - _indent(line)
        if delta <= 0:
            continue
        if nxt.lstrip().startswith("- "):
            offset = delta
        else:
            mapping = delta
    return mapping, offset


def _dump(yaml: Any, data: Any, text: str) -> str:
    mapping, offset = _detect_indent(text)
    yaml.indent(mapping=mapping, sequence=mapping + offset, offset=offset)
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    return buffer.getvalue()


def _extra_keys(hostname: str | None, quota: str | None) -> list[tuple[str, str]]:
    """The optional keys of a new tenant, in the order they are written."""
    return [(k, v) for k, v in (("hostname", hostname), ("quota", quota)) if v is not None]


def _roundtrip_add(text: str, name: str, keys: list[tuple[str, str]]) -> str:
    from gitopsgen.reader import CommentedMap, CommentedSeq

    yaml = _roundtrip()
    data = yaml.load(text)
    entry = CommentedMap()
    entry["name"] = name
    for key, value in keys:
        entry[key] = value
    tenants = data.get("tenants")
    if isinstance(tenants, CommentedSeq):
        if tenants.fa.flow_style() and not tenants:
            tenants.fa.set_block_style()
        tenants.append(entry)
    else:  # tenants: (null) or no tenants key: a new block sequence
        seq = CommentedSeq([entry])
        seq.fa.set_block_style()
        data["tenants"] = seq
    return _dump(yaml, data, text)


def _roundtrip_remove(text: str, index: int) -> str:
    yaml = _roundtrip()
    data = yaml.load(text)
    del data["tenants"][index]
    return _dump(yaml, data, text)


# ---------------------------------------------------------------- writing


def write_atomic(path: Path, data: str | bytes) -> None:
    """Replace ``path`` (a link: the file it leads to) with ``data`` atomically and
    durably, keeping its permission bits; the temporary file of an edit killed
    before its rename is removed by the next edit (:func:`gitopsgen.fsio.replace_file`)."""
    fsio.replace_file(path, data)


def refuse_read_only(path: Path, force: bool) -> None:
    """A tenants.yaml without any write permission bit was made read-only on
    purpose: refuse to replace it unless ``force`` (root could, silently)."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return  # the read that follows reports it
    if not force and not mode & 0o222:
        raise EditError(
            f"{path}: the file is read-only (mode {mode:04o}); nothing was written "
            "(make it writable, or pass --force to replace it anyway)"
        )


@contextlib.contextmanager
def locked(path: Path, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """An exclusive lock for a read-edit-write of ``path``, held on its directory (the
    file itself is replaced on write, so a lock on it would not exclude a later reader)."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        lock = directory_lock(
            directory,
            wait,
            lambda: EditError(
                f"{path}: another gitopsgen command is editing it; waited {wait:g} s"
            ),
            waiting_for=f"another gitopsgen command to finish editing {path}",
        )
        lock.__enter__()
    except OSError:
        yield  # the read that follows reports a missing directory or file
        return
    try:
        yield
    finally:
        lock.__exit__(None, None, None)
