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

from gitopsgen.diff import (
    RISKS,
    ChangeGroup,
    DiffResult,
    FieldChange,
    KeyChange,
    ObjectChange,
    Risk,
    TenantDiff,
)
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

# Notes shown in a comment (a migration can name many hand-made files).
_MAX_NOTES = 12

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


# --- the cause, the risks and the groups (every format) ------------------------------


def _clip(text: str, width: int = 100) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def key_value(c: KeyChange, arrow: str = "->") -> str:
    """``nginx:1.27-alpine -> nginx:1.28-alpine``, ``+ s3, - s1``, ``added: {...}``."""
    if c.op == "changed" and (c.added or c.removed):
        parts = [f"+ {_inline(v)}" for v in c.added] + [f"- {_inline(v)}" for v in c.removed]
        return _clip(", ".join(parts) if parts else f"{_inline(c.old)} {arrow} {_inline(c.new)}")
    if c.op == "changed":
        return f"{_clip(_inline(c.old), 60)} {arrow} {_clip(_inline(c.new), 60)}"
    if c.op == "added":
        return "added: " + _clip(_inline(c.new))
    return "removed (was " + _clip(_inline(c.old)) + ")"


def key_where(c: KeyChange) -> str:
    if c.line is None:
        return ""
    return f"line {c.line}" if c.side == "head" else f"line {c.line} of the base"


def key_counts(c: KeyChange) -> str:
    return f"{_plural(c.tenants, 'tenant')}, {_plural(c.objects, 'object')}"


def key_line(c: KeyChange) -> str:
    where = key_where(c)
    return f"{c.key}: {key_value(c)}  ({where + '; ' if where else ''}{key_counts(c)})"


def tenant_list(names: list[str | None], limit: int = 5) -> str:
    """``tenant d``, ``3 tenants: a, b, c``, ``2000 tenants: t0000, ... and 1995 more``."""
    shown = ["shared" if n is None else n for n in names[:limit]]
    if len(names) == 1:
        return "shared" if names[0] is None else f"tenant {names[0]}"
    text = f"{len(names)} tenants: " + ", ".join(shown)
    if len(names) > limit:
        text += f" and {len(names) - limit} more"
    return text


def blocks(result: DiffResult) -> list[list[ChangeGroup]]:
    """The groups as a reader sees them: added (or removed) objects of the same
    tenants collapse into one block (a new tenant is one block, not twenty)."""
    out: list[list[ChangeGroup]] = []
    for g in result.groups:
        last = out[-1] if out else None
        if (
            last is not None
            and g.op != "changed"
            and last[0].op == g.op
            and last[0].tenants == g.tenants
        ):
            last.append(g)
        else:
            out.append([g])
    return out


def _group_title(g: ChangeGroup) -> str:
    """The object as a template, or as itself when the change is one tenant's."""
    return g.objects[0].id.display() if len(g.objects) == 1 else g.title


def group_fields(g: ChangeGroup) -> list[FieldChange]:
    return g.objects[0].fields if len(g.objects) == 1 else g.fields


def block_title(block: list[ChangeGroup]) -> str:
    """``~ Deployment default/nginx (in vcluster-{name})  [2000 tenants: ...]`` or
    ``- 20 objects removed  [tenant c]  risk: destroys``."""
    first = block[0]
    if len(block) == 1:
        head = f"{_MARK[first.op]} {_group_title(first)}"
    else:
        head = f"{_MARK[first.op]} {len(block)} objects {first.op}"
    flags = sorted({f for g in block for f in g.risks}, key=RISKS.index)
    text = f"{head}  [{tenant_list(first.tenants)}]"
    if flags:
        text += "  risk: " + ", ".join(flags)
    return text


def block_items(block: list[ChangeGroup], limit: int = 30) -> list[str]:
    """The objects of a block of several added or removed objects."""
    if len(block) == 1:
        return []
    items = [f"{_MARK[g.op]} {_group_title(g)}" for g in block[:limit]]
    if len(block) > limit:
        items.append(f"  … and {len(block) - limit} more")
    return items


def risk_line(r: Risk) -> str:
    who = "shared" if r.tenant is None else f"tenant {r.tenant}"
    return f"{r.flag}: {who}: {r.reason}"


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


def _no_change(result: DiffResult) -> list[str]:
    if result.mode == "migration":
        return [
            f"No change to the cluster: the {result.compared} objects are the same on both "
            "sides, object by object."
        ]
    return ["No changes to the generated objects."]


def to_text(result: DiffResult, style: Style = plain_style, *, bodies: bool = True) -> str:
    lines = [style(f"gitopsgen diff: {result.base} -> {result.head}", "bold")]
    for note in result.notes:
        lines.append(f"note: {note}")
    if not result.tenants:
        lines += _no_change(result)
        return "\n".join(lines) + "\n"
    if result.risks:
        lines.append("")
        flags = ", ".join(result.risk_flags())
        lines.append(
            style(f"RISK: {_plural(len(result.risks), 'flagged change')} ({flags})", "red")
        )
        lines += [style(f"  ! {risk_line(r)}", "red") for r in result.risks]
    if result.inputs:
        lines.append("")
        lines.append(style("tenants.yaml changes:", "bold"))
        lines += [f"  {key_line(c)}" for c in result.inputs]
    if result.groups:
        lines.append("")
        lines.append(style("Changes (each distinct change once; {name} is the tenant):", "bold"))
        for block in blocks(result):
            title = block_title(block)
            colour = _COLOURS[title[0]]
            lines.append(style(f"  {title}", colour))
            if len(block[0].tenants) > 1:  # one tenant's objects: listed under it below
                lines += [style(f"      {item}", colour) for item in block_items(block)]
            if block[0].op == "changed":
                for f in group_fields(block[0]):
                    lines += _field_lines(f, "      ", style)
    lines.append("")
    lines.append(style("Per tenant:", "bold"))
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
    """The per-tenant table; tenants whose rows would be the same (the same change
    counts, no attribute of their own) share one row."""
    rows = ["| | section | objects | fields | tenants.yaml changes |", "|---|---|---|---|---|"]
    merged: dict[tuple[str, ...], list[str | None]] = {}
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
        key = (mark, " ".join(counts), fields, attrs, "shared" if t.name is None else "")
        merged.setdefault(key, []).append(t.name)
    for (mark, counts_text, fields, attrs, _), names in merged.items():
        title = "shared" if names == [None] else tenant_list(names)
        rows.append(f"| `{mark}` | {md_escape(title)} | {counts_text} | {fields} | {attrs} |")
    return rows


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _md_code(text: str) -> str:
    """Inline code that survives any content (backticks, pipes inside a table)."""
    text = text.replace("|", "\\|")
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md_risks(result: DiffResult, limit: int | None) -> str:
    if not result.risks:
        return ""
    shown = result.risks if limit is None else result.risks[:limit]
    counts = ", ".join(
        f"**{flag}** ×{sum(1 for r in result.risks if r.flag == flag)}"
        for flag in result.risk_flags()
    )
    rows = ["| risk | tenant | what |", "|---|---|---|"]
    for r in shown:
        who = "(shared)" if r.tenant is None else r.tenant
        rows.append(f"| **{r.flag}** | {md_escape(who)} | {md_escape(r.reason)} |")
    more = ""
    if len(shown) < len(result.risks):
        left = len(result.risks) - len(shown)
        more = f"\n\n_… and {left} more flagged changes (see `--format json`)._"
    return (
        f"#### ⚠️ Risk: {_plural(len(result.risks), 'flagged change')} ({counts})\n\n"
        + "\n".join(rows)
        + more
        + "\n\n"
    )


def _md_inputs(result: DiffResult, limit: int | None) -> str:
    if not result.inputs:
        return ""
    shown = result.inputs if limit is None else result.inputs[:limit]
    rows = ["| tenants.yaml key | change | line | tenants | objects |", "|---|---|---|---|---|"]
    for c in shown:
        where = "" if c.line is None else (str(c.line) if c.side == "head" else f"{c.line} (base)")
        rows.append(
            f"| {_md_code(c.key)} | {md_escape(key_value(c, '→'))} | {where} | "
            f"{c.tenants} | {c.objects} |"
        )
    more = ""
    if len(shown) < len(result.inputs):
        left = len(result.inputs) - len(shown)
        more = f"\n\n_… and {left} more changed keys (see `--format json`)._"
    return "#### What changed in tenants.yaml\n\n" + "\n".join(rows) + more + "\n\n"


def _md_groups(
    result: DiffResult, brief: bool, titles: bool = False, room: int | None = None
) -> tuple[str, int]:
    """The groups section, and how many distinct changes did not fit in ``room``."""
    if not result.groups:
        return "", 0
    parts = ["#### Changes, each distinct change once\n\n"]
    parts.append("<sub>`{name}` stands for each tenant's name.</sub>\n\n")
    if titles:  # the smallest form: one line per distinct change
        entries = [f"- {md_escape(block_title(b))}" for b in blocks(result)]
        left = 0
        if room is not None:
            used = _size("".join(parts)) + 80
            for i, entry in enumerate(entries):
                used += _size(entry) + 1
                if used > room:
                    left = len(entries) - i
                    entries = [*entries[:i], f"- … and {left} more distinct changes (omitted)"]
                    break
        return "".join(parts) + "\n".join(entries) + "\n\n", left
    for block in blocks(result):
        first = block[0]
        title = md_escape(block_title(block))
        parts.append(f"**{title}**\n\n")
        items = block_items(block, 10 if brief else 30)
        if items:
            parts.append(_fence(items) + "\n")
        if first.op == "changed":
            fields = group_fields(first)
            lines: list[str] = []
            for f in fields if not brief else fields[:3]:
                lines += _field_diff_lines(f)
            if brief and len(fields) > 3:
                lines.append(f"  … {len(fields) - 3} more fields")
            parts.append(_fence(lines) + "\n")
    return "".join(parts), 0


def to_markdown(result: DiffResult, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """A pull-request comment no larger than ``max_bytes`` (UTF-8 bytes).

    The flagged risks, the tenants.yaml keys that changed and every distinct change
    (grouped) come first and are kept; the per-tenant table and details are trimmed
    first when the comment would be too large, and a note says exactly what."""
    title = "### gitopsgen diff\n\n"
    notes = result.notes[:_MAX_NOTES]
    if len(result.notes) > _MAX_NOTES:
        notes.append(f"… and {len(result.notes) - _MAX_NOTES} more notes (see `gitopsgen diff`)")
    header = f"Base: `{md_escape(result.base)}`  \nHead: `{md_escape(result.head)}`\n\n" + "".join(
        f"> {md_escape(_clip(n, 600))}\n\n" for n in notes
    )
    if not result.tenants:
        return title + header + f"**{_no_change(result)[0]}**\n"
    totals = f"**{_totals(result)}**\n\n"
    reserve = 900  # the trimming note and the per-tenant heading
    top = title + header

    def lead(risks: int | None, keys: int | None, brief: bool, titles: bool) -> tuple[str, int]:
        fixed = _md_risks(result, risks) + _md_inputs(result, keys) + totals
        room = max_bytes - _size(top + fixed) - reserve
        groups, left = _md_groups(result, brief, titles, room)
        return fixed + groups, left

    cut: list[str] = []
    first, _ = lead(None, None, False, False)
    if _size(top + first) + reserve > max_bytes:
        first, _ = lead(30, 30, False, False)
        cut.append("rows beyond the first 30 of the risk and tenants.yaml tables")
    if _size(top + first) + reserve > max_bytes:
        first, _ = lead(30, 30, True, False)
        cut.append("field lines beyond the first 3 of each change")
    if _size(top + first) + reserve > max_bytes:
        first, left = lead(5, 10, True, True)
        cut[:] = [
            "risk rows beyond the first 5 and tenants.yaml rows beyond the first 10",
            "the fields of each change (each change is one line)",
        ]
        if left:
            cut.append(f"{left} distinct changes that do not fit even as one line each")
    return _per_tenant(result, max_bytes, top + first + "#### Per tenant\n\n", cut)


def _field_diff_lines(f: FieldChange) -> list[str]:
    if f.op == "changed":
        old, new = _value_lines(f.old), _value_lines(f.new)
        return [f"  {f.path}:", *(f"-   {line}" for line in old), *(f"+   {line}" for line in new)]
    mark = "+" if f.op == "added" else "-"
    lines = _value_lines(f.new if f.op == "added" else f.old)
    if len(lines) == 1:
        return [f"{mark} {f.path}: {lines[0]}"]
    return [f"{mark} {f.path}:", *(f"{mark}   {line}" for line in lines)]


def _per_tenant(result: DiffResult, max_bytes: int, lead: str, cut: list[str]) -> str:
    rows = _md_table(result.tenants)
    levels = ["full"] * len(result.tenants)
    sections = [_section(t, "full") for t in result.tenants]
    # A tenant whose every change is in a group of several tenants repeats what the
    # groups show: such sections go first when the comment must shrink.
    shared_by = {id(o): len(g.tenants) for g in result.groups for o in g.objects}
    repeats = [
        bool(t.objects) and all(shared_by.get(id(o), 1) > 1 for o in t.objects)
        for t in result.tenants
    ]

    def assemble(table_rows: list[str], note: str) -> str:
        return lead + note + "\n".join(table_rows) + "\n\n" + "".join(s for s in sections if s)

    def names(level: str) -> str:
        titles = [t.title for t, lv in zip(result.tenants, levels, strict=True) if lv == level]
        shown = ", ".join(titles[:8])
        if len(titles) > 8:
            shown += f" and {len(titles) - 8} more"
        return shown

    def trim_note(dropped_rows: int) -> str:
        brief = levels.count("brief")
        gone = levels.count("none")
        repeated = levels.count("repeat")
        if not brief and not gone and not repeated and not dropped_rows and not cut:
            return ""
        what = list(cut)
        if repeated:
            what.append(
                f"{_plural(repeated, 'per-tenant section')} that only repeat a change shown "
                f"above for several tenants ({names('repeat')})"
            )
        if brief:
            what.append(
                f"the object bodies and field details of {_plural(brief, 'per-tenant section')} "
                f"({names('brief')}), largest first"
            )
        if gone:
            what.append(f"{_plural(gone, 'per-tenant section')} ({names('none')})")
        if dropped_rows:
            what.append(f"{dropped_rows} rows of the per-tenant table")
        return (
            f"> [!NOTE]\n> This comment is trimmed to fit {max_bytes} bytes. "
            + (
                ""
                if any("distinct changes" in c for c in cut)
                else "Every distinct change is shown above at least once. "
            )
            + "Omitted: "
            + "; ".join(what)
            + ". Run `gitopsgen diff` (or `--format json`) locally for the full diff.\n\n"
        )

    text = assemble(rows, trim_note(0))
    if _size(text) <= max_bytes:
        return text
    # Largest sections lose their field details first, then their object lists.
    # Sizes are kept as running sums (linear in the number of sections); the note
    # gets a reserve, as its length depends on what it names.
    sizes = [_size(sec) for sec in sections]
    fixed = _size(text) - sum(sizes) + _NOTE_RESERVE
    total = fixed + sum(sizes)
    # Once the comment must shrink, every repeating section goes (all or none: a
    # few hundred of thousands of equal sections would only be noise).
    for i in range(len(sections)):
        if repeats[i]:
            total -= sizes[i]
            sections[i], levels[i], sizes[i] = "", "repeat", 0
    for level in ("brief", "none"):
        for i in sorted(range(len(sections)), key=lambda i: -sizes[i]):
            if total <= max_bytes:
                break
            if level == "brief" and levels[i] == "full":
                brief = _section(result.tenants[i], "brief")
                if _size(brief) < sizes[i]:
                    total += _size(brief) - sizes[i]
                    sections[i], levels[i], sizes[i] = brief, "brief", _size(brief)
            elif level == "none" and levels[i] not in ("none", "repeat"):
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
    out["risk"] = list(o.risks)
    return out


def _id_json(ident: Any) -> dict[str, Any]:
    return {
        "cluster": ident.cluster,
        "group": ident.group,
        "kind": ident.kind,
        "namespace": ident.namespace or None,
        "name": ident.name,
    }


def _input_json(c: KeyChange) -> dict[str, Any]:
    out: dict[str, Any] = {"key": c.key, "change": c.op}
    if c.op != "added":
        out["old"] = c.old
    if c.op != "removed":
        out["new"] = c.new
    if c.added or c.removed:
        out["itemsAdded"] = list(c.added)
        out["itemsRemoved"] = list(c.removed)
    out["line"] = c.line
    out["column"] = c.column
    out["file"] = "head" if c.side == "head" else "base"
    out["summary"] = key_line(c)
    out["tenants"] = c.tenants
    out["objects"] = c.objects
    return out


def _group_json(g: ChangeGroup) -> dict[str, Any]:
    out: dict[str, Any] = {
        "change": g.op,
        "kind": g.kind,
        "apiVersion": g.api_version,
        "object": g.title,
        "count": len(g.tenants),
        "tenants": list(g.tenants),
        "risk": list(g.risks),
    }
    if g.op == "changed":
        out["fields"] = [_field_json(f) for f in g.fields]
    return out


def to_json_data(result: DiffResult) -> dict[str, Any]:
    def counts(op: str) -> int:
        return result.objects(op)  # type: ignore[arg-type]

    tenant_flags: dict[str | None, set[str]] = {}
    for r in result.risks:
        if r.object is None:  # a tenant-level flag (moves, distro)
            tenant_flags.setdefault(r.tenant, set()).add(r.flag)
    return {
        "version": JSON_FORMAT_VERSION,
        "base": result.base,
        "baseCommit": result.base_commit,
        "head": result.head,
        "mode": result.mode,
        "changed": result.changed,
        "risk": [
            {
                "flag": r.flag,
                "tenant": r.tenant,
                "object": None if r.object is None else _id_json(r.object),
                "reason": r.reason,
            }
            for r in result.risks
        ],
        "inputs": [_input_json(c) for c in result.inputs],
        "groups": [_group_json(g) for g in result.groups],
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
                "risk": sorted(
                    {f for o in t.objects for f in o.risks} | tenant_flags.get(t.name, set()),
                    key=RISKS.index,
                ),
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
    """A ``::warning`` per flagged risk, a ``::notice`` per changed tenants.yaml key and
    per changed section (the tenant summary line), then the totals."""
    from gitopsgen.report import github_command

    lines = [
        github_command("warning", risk_line(r), title=f"gitopsgen diff risk ({r.flag})")
        for r in result.risks
    ]
    for c in result.inputs:
        # on the line of tenants.yaml in the pull request's diff, when it is there
        here = c.side == "head" and result.config_file is not None
        lines.append(
            github_command(
                "notice",
                key_line(c),
                title="gitopsgen diff (tenants.yaml)",
                file=result.config_file if here else None,
                line=c.line if here else None,
            )
        )
    lines += [
        github_command("notice", tenant_line(t), title="gitopsgen diff")
        for t in result.tenants
        if t.objects
    ]
    lines.append(_totals(result))
    return "\n".join(lines) + "\n"
