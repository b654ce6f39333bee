"""Render a :class:`~gitopsgen.diff.DiffResult` as text, markdown or JSON.

* text: a tenant summary, then per object its changed fields with old and new
  values; colours come from a ``style`` callable (the CLI passes click.style).
* markdown: for a pull-request comment. A summary table, then one collapsible
  ``<details>`` per tenant with a fenced ``diff`` block per object. When the
  comment would exceed ``max_bytes`` the largest sections lose their detail
  first, and a note says so: nothing is ever cut silently.
* json: the structure described by ``schema/diff.schema.json``.
* github: one ``::notice`` workflow command per tenant (or shared section) that
  changes, then the totals line, for the log and the annotations of a GitHub run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from gitopsgen.diff import DiffResult, FieldChange, ObjectChange, TenantDiff
from gitopsgen.emit import dump, format_scalar

__all__ = [
    "DEFAULT_MAX_BYTES",
    "JSON_FORMAT_VERSION",
    "md_escape",
    "to_github",
    "to_json",
    "to_markdown",
    "to_text",
]

# GitHub rejects comments over 65536 characters; leave room for a wrapper.
DEFAULT_MAX_BYTES = 60_000
JSON_FORMAT_VERSION = 1

Style = Callable[[str, str], str]  # (text, colour name) -> text

# Room kept for the trimming note, which names up to 8 sections per kind.
_NOTE_RESERVE = 1500


def plain_style(text: str, colour: str) -> str:
    return text


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _inline(value: Any) -> str:
    if isinstance(value, (dict, list)):
        if not value:
            return "{}" if isinstance(value, dict) else "[]"
        return json.dumps(value, sort_keys=False, separators=(", ", ": "))
    return format_scalar(value)


def _value_lines(value: Any, width: int = 80) -> list[str]:
    """A value as one line when short, else as indented YAML lines."""
    text = _inline(value)
    if not isinstance(value, (dict, list)) or len(text) <= width:
        return [text]
    return dump(value).splitlines()


def _attribute_text(a: FieldChange, arrow: str = "->") -> str:
    """``ip 172.18.0.211 -> 172.18.0.215``; Helm values only say that they changed
    (their fields show under the HelmRelease)."""
    if isinstance(a.old, dict) or isinstance(a.new, dict):
        return f"{a.path} changed"
    return f"{a.path} {_inline(a.old)} {arrow} {_inline(a.new)}"


def tenant_line(t: TenantDiff) -> str:
    """``+ tenant d (20 objects)`` and friends: one line of the summary."""
    objects = len(t.objects)
    if t.op == "added":
        return f"+ {t.title} ({_plural(objects, 'object')})"
    if t.op == "removed":
        return f"- {t.title} ({_plural(objects, 'object')}, pruned by Flux)"
    parts = [_attribute_text(a) for a in t.attributes]
    counts = [_plural(objects, "object")]
    if t.count("changed"):
        counts.append(_plural(t.field_count, "field"))
    added, removed = t.count("added"), t.count("removed")
    if added:
        counts.append(f"{added} added")
    if removed:
        counts.append(f"{removed} removed")
    head = f"~ {t.title}"
    if parts:
        head += ": " + ", ".join(parts)
    return f"{head} ({', '.join(counts)})"


def _totals(result: DiffResult) -> str:
    tenants = [
        f"{result.tenant_count(op)} {op}"
        for op in ("added", "removed", "changed")
        if result.tenant_count(op)
    ]
    objects = [
        f"{result.objects(op)} {op}" for op in ("added", "removed", "changed") if result.objects(op)
    ]
    parts = []
    if tenants:
        parts.append("tenants: " + ", ".join(tenants))
    parts.append("objects: " + (", ".join(objects) if objects else "none changed"))
    if result.field_count:
        parts.append(_plural(result.field_count, "field") + " changed")
    return "; ".join(parts)


# --- text ------------------------------------------------------------------------

_COLOURS = {"+": "green", "-": "red", "~": "yellow"}
_MARK = {"added": "+", "removed": "-", "changed": "~"}


def _field_lines(change: FieldChange, indent: str, style: Style) -> list[str]:
    out: list[str] = []
    if change.op == "changed":
        old, new = _value_lines(change.old), _value_lines(change.new)
        if len(old) == 1 and len(new) == 1:
            out.append(f"{indent}{change.path}: {style(old[0], 'red')} -> {style(new[0], 'green')}")
            return out
        out.append(f"{indent}{change.path}:")
        out += [style(f"{indent}  - {line}", "red") for line in old]
        out += [style(f"{indent}  + {line}", "green") for line in new]
        return out
    mark = "+" if change.op == "added" else "-"
    value = change.new if change.op == "added" else change.old
    lines = _value_lines(value)
    colour = _COLOURS[mark]
    if len(lines) == 1:
        out.append(style(f"{indent}{mark} {change.path}: {lines[0]}", colour))
    else:
        out.append(style(f"{indent}{mark} {change.path}:", colour))
        out += [style(f"{indent}{mark}   {line}", colour) for line in lines]
    return out


def _object_title(o: ObjectChange) -> str:
    return f"{_MARK[o.op]} {o.id.display()}"


def to_text(result: DiffResult, style: Style = plain_style, *, bodies: bool = True) -> str:
    lines = [style(f"gitopsgen diff: {result.base} -> {result.head}", "bold")]
    for note in result.notes:
        lines.append(f"note: {note}")
    if not result.tenants:
        lines.append("No changes to the generated objects.")
        return "\n".join(lines) + "\n"
    lines.append("")
    for t in result.tenants:
        line = tenant_line(t)
        lines.append(style(line, _COLOURS[line[0]]))
    for t in result.tenants:
        lines.append("")
        lines.append(style(t.title, "bold"))
        for o in t.objects:
            title = _object_title(o)
            extra = f"  [{o.api_version}]"
            if o.op == "removed":
                extra += " pruned by Flux"
            lines.append(style(f"  {title}", _COLOURS[title[0]]) + extra)
            if o.op == "changed":
                for f in o.fields:
                    lines += _field_lines(f, "      ", style)
            elif o.op == "added" and bodies and o.new is not None:
                lines += [style(f"      {line}", "green") for line in dump(o.new.doc).splitlines()]
    lines.append("")
    lines.append(_totals(result))
    return "\n".join(lines) + "\n"


# --- markdown ---------------------------------------------------------------------


def md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _fence(lines: list[str]) -> str:
    body = "\n".join(lines)
    fence = "```"
    while fence in body:
        fence += "`"
    return f"{fence}diff\n{body}\n{fence}\n"


def _diff_lines(o: ObjectChange) -> list[str]:
    if o.op == "added":
        assert o.new is not None
        return [f"+ {line}" for line in dump(o.new.doc).splitlines()]
    if o.op == "removed":
        return [f"- {o.id.display()} (pruned by Flux)"]
    out: list[str] = []
    for f in o.fields:
        if f.op == "changed":
            old, new = _value_lines(f.old), _value_lines(f.new)
            out.append(f"  {f.path}:")
            out += [f"-   {line}" for line in old]
            out += [f"+   {line}" for line in new]
        else:
            mark = "+" if f.op == "added" else "-"
            lines = _value_lines(f.new if f.op == "added" else f.old)
            if len(lines) == 1:
                out.append(f"{mark} {f.path}: {lines[0]}")
            else:
                out.append(f"{mark} {f.path}:")
                out += [f"{mark}   {line}" for line in lines]
    return out


def _section(t: TenantDiff, level: str) -> str:
    """One tenant's <details>: level "full" (every field), "brief" (object list)."""
    head = md_escape(tenant_line(t))
    parts = [f"<details>\n<summary><code>{head}</code></summary>\n\n"]
    if level == "full":
        removed = [o for o in t.objects if o.op == "removed"]
        if removed:
            # Deletions: one block listing every object Flux prunes.
            parts.append(f"**{_plural(len(removed), 'object')} removed, pruned by Flux**\n\n")
            parts.append(_fence([f"- {o.id.display()}" for o in removed]) + "\n")
        for o in t.objects:
            if o.op == "removed":
                continue
            title = md_escape(_object_title(o))
            parts.append(f"**{title}** <sub>`{o.api_version}`</sub>\n\n")
            parts.append(_fence(_diff_lines(o)) + "\n")
    else:
        lines = [_object_title(o) for o in t.objects]
        parts.append(_fence(lines) + "\n")
        parts.append("_Field details omitted to fit the comment size limit._\n\n")
    parts.append("</details>\n\n")
    return "".join(parts)


def _md_table(tenants: list[TenantDiff]) -> list[str]:
    rows = ["| | section | objects | fields | tenants.yaml changes |", "|---|---|---|---|---|"]
    for t in tenants:
        mark = _MARK[t.op]
        counts = []
        for op in ("added", "removed", "changed"):
            n = t.count(op)
            if n:
                counts.append(f"{_MARK[op]}{n}")
        attrs = ", ".join(md_escape(_attribute_text(a, "→")) for a in t.attributes)
        if t.op == "removed":
            attrs = "tenant removed: every object is pruned by Flux"
        elif t.op == "added":
            attrs = "new tenant"
        fields = str(t.field_count) if t.count("changed") else ""
        rows.append(
            f"| `{mark}` | {md_escape(t.title)} | {' '.join(counts)} | {fields} | {attrs} |"
        )
    return rows


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def to_markdown(result: DiffResult, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """A pull-request comment no larger than ``max_bytes`` (UTF-8 bytes)."""
    title = "### gitopsgen diff\n\n"
    header = f"Base: `{md_escape(result.base)}`  \nHead: `{md_escape(result.head)}`\n\n" + "".join(
        f"> {md_escape(n)}\n\n" for n in result.notes
    )
    if not result.tenants:
        return title + header + "**No changes to the generated objects.**\n"
    totals = f"**{_totals(result)}**\n\n"
    rows = _md_table(result.tenants)
    levels = ["full"] * len(result.tenants)
    sections = [_section(t, "full") for t in result.tenants]

    def assemble(table_rows: list[str], note: str) -> str:
        return (
            title
            + header
            + totals
            + note
            + "\n".join(table_rows)
            + "\n\n"
            + "".join(s for s in sections if s)
        )

    def names(level: str) -> str:
        titles = [t.title for t, lv in zip(result.tenants, levels, strict=True) if lv == level]
        shown = ", ".join(titles[:8])
        if len(titles) > 8:
            shown += f" and {len(titles) - 8} more"
        return shown

    def trim_note(dropped_rows: int) -> str:
        brief = levels.count("brief")
        gone = levels.count("none")
        if not brief and not gone and not dropped_rows:
            return ""
        what = []
        if brief:
            what.append(
                f"object bodies and field details of {_plural(brief, 'section')} "
                f"({names('brief')}), largest first"
            )
        if gone:
            what.append(f"every detail of {_plural(gone, 'section')} ({names('none')})")
        if dropped_rows:
            what.append(f"{dropped_rows} summary rows")
        return (
            f"> [!NOTE]\n> This comment is trimmed to fit {max_bytes} bytes. Omitted: "
            + "; ".join(what)
            + ". Run `gitopsgen diff` (or `--format json`) locally for the full diff.\n\n"
        )

    text = assemble(rows, "")
    if _size(text) <= max_bytes:
        return text
    # Largest sections lose their field details first, then their object lists.
    # Sizes are kept as running sums (linear in the number of sections); the note
    # gets a reserve, as its length depends on what it names.
    sizes = [_size(sec) for sec in sections]
    fixed = _size(text) - sum(sizes) + _NOTE_RESERVE
    total = fixed + sum(sizes)
    for level in ("brief", "none"):
        for i in sorted(range(len(sections)), key=lambda i: -sizes[i]):
            if total <= max_bytes:
                break
            if level == "brief" and levels[i] == "full":
                brief = _section(result.tenants[i], "brief")
                if _size(brief) < sizes[i]:
                    total += _size(brief) - sizes[i]
                    sections[i], levels[i], sizes[i] = brief, "brief", _size(brief)
            elif level == "none" and levels[i] != "none":
                total -= sizes[i]
                sections[i], levels[i], sizes[i] = "", "none", 0
    text = assemble(rows, trim_note(0))
    if _size(text) > max_bytes and len(rows) > 2:
        # Drop summary rows from the end, then check exactly (a few rounds at most).
        row_sizes = [_size(r) + 1 for r in rows]
        dropped = 0
        excess = _size(text) - max_bytes
        while len(rows) > 2 and _size(text) > max_bytes:
            while excess > 0 and len(rows) > 2:
                excess -= row_sizes.pop()
                rows = rows[:-1]
                dropped += 1
            marker = f"| | … and {dropped} more (omitted) | | | |"
            text = assemble([*rows, marker], trim_note(dropped))
            excess = _size(text) - max_bytes
    if _size(text) > max_bytes:  # a budget too small even for the headline
        note = f"gitopsgen diff: {_totals(result)}. Output trimmed to {max_bytes} bytes."
        text = note.encode()[:max_bytes].decode(errors="ignore")
    return text


# --- json ------------------------------------------------------------------------


def _field_json(f: FieldChange) -> dict[str, Any]:
    out: dict[str, Any] = {"path": f.path, "segments": list(f.segments), "change": f.op}
    if f.op != "added":
        out["old"] = f.old
    if f.op != "removed":
        out["new"] = f.new
    return out


def _object_json(o: ObjectChange) -> dict[str, Any]:
    out: dict[str, Any] = {
        "change": o.op,
        "cluster": o.id.cluster,
        "apiVersion": o.api_version,
        "group": o.id.group,
        "kind": o.id.kind,
        "namespace": o.id.namespace or None,
        "name": o.id.name,
        "path": o.path,
    }
    if o.op == "changed":
        assert o.old is not None
        out["oldApiVersion"] = o.old.api_version
        out["oldPath"] = o.old.path
        out["fields"] = [_field_json(f) for f in o.fields]
    elif o.op == "added":
        assert o.new is not None
        out["new"] = o.new.doc
    else:
        assert o.old is not None
        out["old"] = o.old.doc
    return out


def to_json_data(result: DiffResult) -> dict[str, Any]:
    def counts(op: str) -> int:
        return result.objects(op)  # type: ignore[arg-type]

    return {
        "version": JSON_FORMAT_VERSION,
        "base": result.base,
        "head": result.head,
        "changed": result.changed,
        "summary": {
            "tenants": {op: result.tenant_count(op) for op in ("added", "removed", "changed")},
            "objects": {op: counts(op) for op in ("added", "removed", "changed")},
            "fields": result.field_count,
        },
        "notes": list(result.notes),
        "tenants": [
            {
                "name": t.name,
                "shared": t.name is None,
                "change": t.op,
                "summary": tenant_line(t),
                "attributes": [{"name": a.path, "old": a.old, "new": a.new} for a in t.attributes],
                "objects": [_object_json(o) for o in t.objects],
            }
            for t in result.tenants
        ],
    }


def to_json(result: DiffResult) -> str:
    return json.dumps(to_json_data(result), indent=2, sort_keys=False) + "\n"


# --- github -----------------------------------------------------------------------


def to_github(result: DiffResult) -> str:
    """A ``::notice`` per changed section (the tenant summary line), then the totals."""
    from gitopsgen.report import github_command

    lines = [
        github_command("notice", tenant_line(t), title="gitopsgen diff")
        for t in result.tenants
        if t.objects
    ]
    lines.append(_totals(result))
    return "\n".join(lines) + "\n"
