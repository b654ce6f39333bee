"""Result values of the commands that report findings, and the reporters that print them.

One result model, many formats. A command (``validate``, ``check``, ``diff``, ``ips``,
``hosts``) builds a result value and :func:`render` prints it in one of the formats
of :data:`FORMATS`:

- :class:`Report` (``check``, ``validate``): a status, an exit code, a one-line summary
  and a list of :class:`Finding` (a located input problem, a file out of sync, a missing
  wiring line, an internal inconsistency, or a note). Invalid input is a report too
  (status ``invalid``), so it takes the same path in every format;
- :class:`~gitopsgen.diff.DiffResult` (``diff``), rendered by :mod:`gitopsgen.diffreport`;
- :class:`~gitopsgen.allocation.Allocation` (``ips``);
- :class:`HostsList` (``hosts``).

Formats: ``text`` for people, ``json`` for tools, ``github`` for GitHub Actions workflow
commands (annotations), ``markdown`` for a pull-request comment or job summary, and
``auto``: ``github`` when ``GITHUB_ACTIONS=true`` and the command has it, else ``text``.

Reports go to standard output, diagnostics (invalid input, notes) to standard error.
Paths are shown relative to the repository root (:class:`Paths`), or absolute.

No click here: reporters return text, the CLI prints it.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitopsgen.errors import ConfigError, GitopsgenError, Problem

if TYPE_CHECKING:
    from gitopsgen.allocation import Allocation
    from gitopsgen.diff import DiffResult

__all__ = [
    "FORMATS",
    "Finding",
    "HostsList",
    "Paths",
    "Rendered",
    "Report",
    "check_report",
    "consistency_report",
    "error_report",
    "invalid_report",
    "render",
    "render_github",
    "render_json",
    "render_text",
    "resolve_format",
    "shown",
    "validate_report",
]

JSON_VERSION = 1

# The formats each command offers; `--format` takes these names (and `auto`) everywhere.
FORMATS: Mapping[str, tuple[str, ...]] = {
    "check": ("text", "json", "github", "markdown"),
    "validate": ("text", "json", "github", "markdown"),
    "diff": ("text", "json", "github", "markdown"),
    "ips": ("text", "json", "markdown"),
    "hosts": ("text", "json"),
    "rebalance": ("text", "json"),
    "secrets": ("text", "json"),
}


def resolve_format(fmt: str, command: str, env: Mapping[str, str] | None = None) -> str:
    """``auto`` -> ``github`` under GitHub Actions (when the command has it), else ``text``."""
    if fmt != "auto":
        return fmt
    env = os.environ if env is None else env
    if env.get("GITHUB_ACTIONS") == "true" and "github" in FORMATS[command]:
        return "github"
    return "text"


@dataclass(frozen=True)
class Paths:
    """How paths are shown: relative to the repository root ``root`` when inside it
    (absolute otherwise), or always absolute. Without a root: relative to the working
    directory when inside it."""

    root: str | None = None
    absolute: bool = False

    def show(self, path: Path | str) -> str:
        text = os.fspath(path)
        if self.absolute:
            return os.path.abspath(text)
        if self.root is None:
            return shown(text)
        full = os.path.abspath(text)
        rel = os.path.relpath(full, os.path.abspath(self.root))
        if rel == ".." or rel.startswith(".." + os.sep):
            return full
        return rel


def repository_root(path: Path | str) -> str:
    """The Git work tree that contains ``path`` (a file or directory), else the directory
    of ``path``: the root that paths in reports are relative to before a project loads."""
    full = os.path.abspath(os.fspath(path))
    start = full if os.path.isdir(full) else os.path.dirname(full)
    top = start
    while True:
        if os.path.exists(os.path.join(top, ".git")):
            return top
        parent = os.path.dirname(top)
        if parent == top:
            return start
        top = parent


def printable(text: str) -> str:
    """``text`` with newlines and control characters (quoted from an input) escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


_DRIFT_WORDS = {
    "missing": "missing: gitopsgen build would create this file; run `gitopsgen build`",
    "changed": "changed: differs from what gitopsgen build writes; generated files are not "
    "edited by hand: change {config} and run `gitopsgen build`",
    "stale": "stale: gitopsgen no longer generates this file; run `gitopsgen build` to remove it",
    "foreign": "foreign: not written by gitopsgen, but stands where build must write; "
    "move it away, then run `gitopsgen build`",
}


@dataclass(frozen=True)
class Finding:
    """One thing a command found. ``file`` is shown as :class:`Paths` says (relative to
    the repository root); ``rel`` is the path inside the output directory (drift)."""

    kind: str  # invalid | missing | changed | stale | foreign | wiring | repository | ...
    # inconsistent | note
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    key_path: str | None = None
    severity: str = "error"  # error | warning
    add: str | None = None  # wiring: the exact line to add
    diff: tuple[str, ...] = ()  # changed: a short unified diff, disk -> planned
    rel: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "keyPath": self.key_path,
            "message": self.message,
            "add": self.add,
            "diff": list(self.diff),
        }


@dataclass
class Report:
    command: str  # check | validate | build | diff | ips | hosts
    config: str
    status: str  # ok | drift | invalid | inconsistent
    exit_code: int
    summary: str
    output: str | None = None
    files: int | None = None  # planned files (check)
    tenants: int | None = None
    findings: list[Finding] = field(default_factory=list)


def shown(path: Path | str) -> str:
    """``path`` as the user sees it: relative to the working directory when inside it."""
    text = str(path)
    if not os.path.isabs(text):
        return os.path.normpath(text)
    try:
        rel = os.path.relpath(text)
    except ValueError:
        return text
    return text if rel == ".." or rel.startswith(".." + os.sep) else rel


def short_diff(old: bytes, new: bytes, path: str, limit: int = 20) -> list[str]:
    lines = list(
        difflib.unified_diff(
            old.decode(errors="replace").splitlines(),
            new.decode(errors="replace").splitlines(),
            f"a/{path}",
            f"b/{path}",
            n=1,
            lineterm="",
        )
    )
    if len(lines) > limit:
        lines = [*lines[:limit], f"... ({len(lines) - limit} more diff lines)"]
    return lines


# --- building reports -------------------------------------------------------------------


def _problem(p: Problem, paths: Paths) -> Finding:
    return Finding(
        "invalid",
        p.message,
        file=paths.show(p.path),
        line=p.line,
        column=p.column,
        key_path=p.key_path or None,
    )


def invalid_report(
    command: str, config: str, exc: ConfigError, paths: Paths | None = None
) -> Report:
    """tenants.yaml (or its location) is invalid: exit 2."""
    paths = paths or Paths(repository_root(config))
    count = len(exc.problems)
    label = paths.show(config)
    return Report(
        command,
        label,
        "invalid",
        2,
        f"{label}: {count} problem(s); nothing was checked",
        findings=[_problem(p, paths) for p in exc.problems],
    )


def error_report(command: str, config: str, exc: GitopsgenError) -> Report:
    """An error that is not located in a file (no tenants.yaml found, a git problem):
    one finding with the error's message, exit ``exc.exit_code``."""
    lines = exc.lines()
    findings = [Finding("error", line) for line in lines]
    return Report(command, config, "error", exc.exit_code, lines[0], findings=findings)


def consistency_report(
    command: str,
    config: str,
    output: str,
    problems: Iterable[Any],
    head: str,
    paths: Paths | None = None,
) -> Report:
    """The planned tree contradicts itself (a ConsistencyError): exit 2."""
    paths = paths or Paths()
    findings = [
        Finding(
            "inconsistent", p.message, file=paths.show(os.path.join(output, p.path)), rel=p.path
        )
        for p in problems
    ]
    return Report(
        command, config, "inconsistent", 2, head, output=paths.show(output), findings=findings
    )


def validate_report(config: str, tenants: int) -> Report:
    summary = f"{config}: valid ({tenants} tenants)"
    return Report("validate", config, "ok", 0, summary, tenants=tenants)


def check_report(
    *,
    config: str,
    output: Path,
    files: int,
    tenants: int,
    comparison: Any,
    planned: dict[str, bytes],
    wiring: Sequence[Any] = (),
    repository: Sequence[Any] = (),
    paths: Paths | None = None,
) -> Report:
    """The report of ``check`` from a :class:`gitopsgen.tree.Comparison` and the
    wiring findings of :func:`gitopsgen.wiring.check_wiring`."""
    paths = paths or Paths()
    out = paths.show(output)
    findings: list[Finding] = []
    for kind, rels in (
        ("missing", comparison.missing),
        ("changed", comparison.changed),
        ("stale", comparison.stale),
        ("foreign", comparison.conflicts),
    ):
        for rel in rels:
            diff: tuple[str, ...] = ()
            if kind == "changed":
                diff = tuple(short_diff(comparison.old[rel], planned[rel], rel))
            findings.append(
                Finding(
                    kind,
                    _DRIFT_WORDS[kind].format(config=config),
                    file=paths.show(output / rel),
                    diff=diff,
                    rel=rel,
                )
            )
    for rel in comparison.links:
        # A symbolic link is not a file "not written by gitopsgen": it is never followed.
        message = f"{shown(output / rel)}: a symbolic link; gitopsgen never follows it (left alone)"
        findings.append(Finding("note", message, severity="warning"))
    for rel in comparison.foreign:
        findings.append(
            Finding(
                "note",
                "not written by gitopsgen (left alone)",
                file=paths.show(output / rel),
                severity="warning",
                rel=rel,
            )
        )
    for w in wiring:
        findings.append(
            Finding(
                "wiring" if w.severity == "error" else "note",
                w.message,
                file=paths.show(w.file),
                line=w.line,
                severity=w.severity,
                add=w.add,
            )
        )
    for r in repository:
        findings.append(
            Finding(
                "repository",
                (f"document {r.doc}: " if r.doc is not None else "") + r.message,
                file=paths.show(r.file),
                line=r.line,
                severity=r.severity,
                key_path=r.rule,
            )
        )
    drift = [f for f in findings if f.kind in _DRIFT_WORDS]
    links = [f for f in findings if f.kind == "wiring"]
    repo = [f for f in findings if f.kind == "repository"]
    if drift:
        summary = f"{out}: {len(drift)} file(s) out of sync with {config}; run `gitopsgen build`"
    elif links:
        summary = (
            f"{out}: in sync with {config}, but {len(links)} wiring line(s) are missing: "
            "Flux does not reach the generated tree"
        )
    elif repo:
        summary = (
            f"{out}: in sync with {config}, but the repository has {len(repo)} problem(s) "
            "Flux would meet"
        )
    else:
        summary = f"{out}: in sync with {config} ({files} files)"
    status = "drift" if drift or links or repo else "ok"
    return Report(
        "check",
        config,
        status,
        1 if status == "drift" else 0,
        summary,
        output=out,
        files=files,
        tenants=tenants,
        findings=findings,
    )


@dataclass(frozen=True)
class HostsList:
    """What ``hosts`` prints: every tenant hostname and the ingress address."""

    address: str
    hostnames: list[str]  # in tenant name order

    @property
    def lines(self) -> list[str]:
        return [f"{self.address} {name}" for name in self.hostnames]


# --- reporters --------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    """A rendered result: what goes to standard output and to standard error, and the
    exit code."""

    out: str
    err: str
    exit_code: int = 0


def _lines(lines: Iterable[str]) -> str:
    return "".join(line + "\n" for line in lines)


def render_json(report: Report) -> str:
    data = {
        "version": JSON_VERSION,
        "command": report.command,
        "status": report.status,
        "exitCode": report.exit_code,
        "summary": report.summary,
        "config": report.config,
        "output": report.output,
        "files": report.files,
        "tenants": report.tenants,
        "findings": [f.as_json() for f in report.findings],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _github_message(f: Finding) -> str:
    if f.kind == "invalid" and f.key_path:
        return f"{f.key_path}: {f.message}"
    return f.message


def github_command(level: str, message: str, **props: str | int | None) -> str:
    """One GitHub Actions workflow command, ``::level k=v,...::message``, escaped as
    the runner expects (actions/toolkit packages/core/src/command.ts, escapeData and
    escapeProperty)."""
    given = [f"{k}={_escape_property(str(v))}" for k, v in props.items() if v is not None]
    head = f"::{level} {','.join(given)}" if given else f"::{level}"
    return f"{head}::{_escape_data(message)}"


def render_github(report: Report) -> list[str]:
    """One workflow command per finding, then the summary as a plain line."""
    lines: list[str] = []
    for f in report.findings:
        if f.kind == "note" and f.rel is not None and f.add is None:
            continue  # a foreign file left alone is no news for a pull request
        level = "error" if f.severity == "error" else "warning"
        lines.append(
            github_command(level, _github_message(f), file=f.file, line=f.line, col=f.column)
        )
    lines.append(report.summary)
    return lines


def _located(f: Finding) -> str:
    if f.file is None:
        return printable(f.message)
    if f.line is None:
        return printable(f"{f.file}: {f.message}")
    problem = Problem(f.line, f.column or 1, f.key_path or "", f.message, f.file)
    return printable(problem.format())


def render_text(report: Report, *, quiet: bool = False) -> tuple[list[str], list[str]]:
    """(standard output lines, standard error lines) for people: the report on
    standard output, diagnostics (invalid input, notes) on standard error."""
    out: list[str] = []
    err: list[str] = []
    if report.status in ("invalid", "error"):
        err.extend(_located(f) for f in report.findings)
        return out, err
    if report.status == "inconsistent":
        err.append(report.summary)
        err.extend(f"  {f.file}: {f.message}" for f in report.findings)
        return out, err
    if report.command == "validate":
        if not quiet:
            out.append(report.summary)
        return out, err
    foreign = [f for f in report.findings if f.kind == "note" and f.rel is not None]
    notes = [f for f in report.findings if f.kind == "note" and f.rel is None]
    if foreign and not quiet:
        n, out_dir = len(foreign), report.output
        err.append(f"note: {n} file(s) in {out_dir} not written by gitopsgen (left alone):")
        err.extend(f"  {f.file}" for f in foreign)
    if not quiet:
        err.extend(f"note: {f.message}" for f in notes)
    if report.status == "ok":
        if not quiet:
            out.append(report.summary)
        return out, err
    out.append(report.summary)
    if quiet:
        return out, err
    labels = {kind: f"{kind:<8}" for kind in _DRIFT_WORDS}
    for f in report.findings:
        if f.kind in labels:
            suffix = (
                " (not written by gitopsgen, stands where build must write)"
                if f.kind == "foreign"
                else ""
            )
            out.append(f"  {labels[f.kind]} {f.file}{suffix}")
            out.extend(f"           {line}" for line in f.diff)
    links = [f for f in report.findings if f.kind == "wiring"]
    if links:
        if any(f.kind in labels for f in report.findings):
            out.append(f"{len(links)} wiring line(s) missing: Flux does not reach the tree")
        for f in links:
            where = f"{f.file}:{f.line}" if f.line is not None else f"{f.file}"
            out.append(f"  {where}: {f.message}")
    repo = [f for f in report.findings if f.kind == "repository"]
    if repo:
        if any(f.kind in labels or f.kind == "wiring" for f in report.findings):
            out.append(f"{len(repo)} repository problem(s) Flux would meet:")
        for f in repo:
            where = f"{f.file}:{f.line}" if f.line is not None else f"{f.file}"
            out.append(f"  {where}: {f.message}")
    return out, err


def render_markdown(report: Report) -> str:
    """A short markdown report (a job summary or pull-request comment)."""
    from gitopsgen.diffreport import md_escape as _md_escape

    icon = {"ok": "✅", "drift": "❌", "invalid": "❌", "inconsistent": "❌", "error": "❌"}
    lines = [f"### gitopsgen {report.command}: {report.status}", ""]
    lines.append(f"{icon.get(report.status, '')} {_md_escape(report.summary)}".strip())
    shown_findings = [f for f in report.findings if not (f.kind == "note" and f.rel is not None)]
    if shown_findings:
        lines += ["", "| | File | Finding |", "|---|---|---|"]
        for f in shown_findings:
            where = f.file or ""
            if f.line is not None:
                where += f":{f.line}" + (f":{f.column}" if f.column is not None else "")
            message = _github_message(f) + (f" (add `{f.add}`)" if f.add else "")
            lines.append(f"| {f.kind} | `{_md_escape(where)}` | {_md_escape(message)} |")
    return _lines(lines)


Style = Callable[[str, str], str]


def _render_report(report: Report, fmt: str, quiet: bool) -> Rendered:
    if fmt == "json":
        return Rendered(render_json(report), "", report.exit_code)
    if fmt == "github":
        return Rendered(_lines(render_github(report)), "", report.exit_code)
    if fmt == "markdown":
        return Rendered(render_markdown(report), "", report.exit_code)
    out, err = render_text(report, quiet=quiet)
    return Rendered(_lines(out), _lines(err), report.exit_code)


# ``ips --format json`` lists single addresses only for pools up to this size.
MAX_LISTED_ADDRESSES = 65_536


def _render_allocation(a: Allocation, fmt: str) -> Rendered:
    from gitopsgen.allocation import label

    pool = ", ".join(a.pool)
    if fmt == "json":
        doc = {
            "pool": a.pool,
            "size": a.size,
            "reserved": a.reserved,
            "tenants": a.tenants,
            "free": a.free,
            "ranges": [
                {
                    "first": str(r.first),
                    "last": str(r.last),
                    "count": r.count,
                    "kind": r.kind,
                    "holder": r.holder,
                }
                for r in a.rows
            ],
        }
        if a.size <= MAX_LISTED_ADDRESSES:  # a /8 has 16 million: ranges only
            doc["addresses"] = a.addresses()
        return Rendered(json.dumps(doc, indent=2) + "\n", "")
    if fmt == "markdown":
        lines = [f"The MetalLB pool is `{pool}`. Current allocations:", ""]
        lines += ["| Service | IP |", "|---------|-----|"]
        lines += [f"| {label(r)} | {r.first} |" for r in a.rows if r.kind != "free"]
        free_text = ", ".join(r.span for r in a.rows if r.kind == "free")
        lines += ["", f"Free: {free_text or 'none'} ({a.free} of {a.size} addresses)."]
        return Rendered(_lines(lines), "")
    width = max((len(r.span) for r in a.rows), default=0)
    lines = [f"pool {pool}: {a.size} addresses, {a.held} held, {a.free} free"]
    for row in a.rows:
        if row.kind == "free":
            what = "free" if row.count == 1 else f"free ({row.count} addresses)"
        elif row.kind == "reserved":
            what = f"reserved: {row.holder}"
        else:
            what = f"tenant {row.holder} ({label(row)})"
        lines.append(f"{row.span.ljust(width)}  {what}")
    return Rendered(_lines(lines), "")


def _render_hosts(h: HostsList, fmt: str) -> Rendered:
    if fmt == "json":
        doc = {"address": h.address, "hostnames": h.hostnames}
        return Rendered(json.dumps(doc, indent=2) + "\n", "")
    return Rendered(_lines(h.lines), "")


def _render_diff(
    result: DiffResult, fmt: str, max_bytes: int | None, style: Style | None
) -> Rendered:
    from gitopsgen import diffreport

    if fmt == "json":
        return Rendered(diffreport.to_json(result), "")
    if fmt == "markdown":
        limit = diffreport.DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
        return Rendered(diffreport.to_markdown(result, limit), "")
    if fmt == "github":
        return Rendered(diffreport.to_github(result), "")
    return Rendered(diffreport.to_text(result, style or diffreport.plain_style), "")


def render(
    result: Any,
    fmt: str,
    *,
    quiet: bool = False,
    max_bytes: int | None = None,
    style: Style | None = None,
) -> Rendered:
    """``result`` (a :class:`Report`, :class:`~gitopsgen.diff.DiffResult`,
    :class:`~gitopsgen.allocation.Allocation` or :class:`HostsList`) in format ``fmt``
    (already resolved: not ``auto``)."""
    if isinstance(result, Report):
        return _render_report(result, fmt, quiet)
    # Only now: check and validate (served from gitopsgen.cache) must not import
    # the model, the renderers and diff to print a report.
    from gitopsgen.allocation import Allocation
    from gitopsgen.diff import DiffResult

    if isinstance(result, DiffResult):
        return _render_diff(result, fmt, max_bytes, style)
    if isinstance(result, Allocation):
        return _render_allocation(result, fmt)
    if isinstance(result, HostsList):
        return _render_hosts(result, fmt)
    raise TypeError(f"no reporter for {type(result).__name__}")
