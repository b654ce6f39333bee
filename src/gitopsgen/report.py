"""What ``check`` and ``validate`` found, and three ways to print it.

A :class:`Report` is plain data: a status, an exit code, a one-line summary and a
list of :class:`Finding` (a located input problem, a file out of sync, a missing
wiring line, an internal inconsistency, or a note). The command builds one report
and hands it to a reporter:

- ``text``: for people (the default; drift and problems on standard error);
- ``json``: one JSON object for tools (structure in the README, stable keys);
- ``github``: GitHub Actions workflow commands, one ``::error`` (or ``::warning``)
  annotation per finding, placed on the file (and line) it concerns.

No click here: reporters return lines, the CLI prints them.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitopsgen.errors import ConfigError, Problem

__all__ = [
    "FORMATS",
    "Finding",
    "Report",
    "check_report",
    "consistency_report",
    "invalid_report",
    "render",
    "render_github",
    "render_json",
    "render_text",
    "shown",
    "validate_report",
]

FORMATS = ("text", "json", "github")
JSON_VERSION = 1

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
    """One thing a command found. ``file`` is shown relative to the working directory
    when it is inside it; ``rel`` is the path inside the output directory (drift)."""

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
    command: str  # check | validate
    config: str
    status: str  # ok | drift | invalid | inconsistent
    exit_code: int
    summary: str
    output: str | None = None
    files: int | None = None  # planned files (check)
    tenants: int | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]


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


def _problem(p: Problem) -> Finding:
    return Finding(
        "invalid",
        p.message,
        file=p.path,
        line=p.line,
        column=p.column,
        key_path=p.key_path or None,
    )


def invalid_report(command: str, config: str, exc: ConfigError) -> Report:
    """tenants.yaml (or its location) is invalid: exit 2."""
    count = len(exc.problems)
    return Report(
        command,
        config,
        "invalid",
        2,
        f"{config}: {count} problem(s); nothing was checked",
        findings=[_problem(p) for p in exc.problems],
    )


def consistency_report(
    command: str, config: str, output: str, problems: Iterable[Any], head: str
) -> Report:
    """The planned tree contradicts itself (a ConsistencyError): exit 2."""
    findings = [
        Finding("inconsistent", p.message, file=shown(os.path.join(output, p.path)), rel=p.path)
        for p in problems
    ]
    return Report(command, config, "inconsistent", 2, head, output=output, findings=findings)


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
) -> Report:
    """The report of ``check`` from a :class:`gitopsgen.tree.Comparison` and the
    wiring findings of :func:`gitopsgen.wiring.check_wiring`."""
    out = str(output)
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
                    file=shown(output / rel),
                    diff=diff,
                    rel=rel,
                )
            )
    for rel in comparison.foreign:
        findings.append(
            Finding(
                "note",
                "not written by gitopsgen (left alone)",
                file=shown(output / rel),
                severity="warning",
                rel=rel,
            )
        )
    for w in wiring:
        findings.append(
            Finding(
                "wiring" if w.severity == "error" else "note",
                w.message,
                file=shown(w.file),
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
                file=shown(r.file),
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


# --- reporters --------------------------------------------------------------------------


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


def render_github(report: Report) -> list[str]:
    """One workflow command per finding, then the summary as a plain line."""
    lines: list[str] = []
    for f in report.findings:
        if f.kind == "note" and f.rel is not None and f.add is None:
            continue  # a foreign file left alone is no news for a pull request
        level = "error" if f.severity == "error" else "warning"
        props = []
        if f.file is not None:
            props.append(f"file={_escape_property(f.file)}")
        if f.line is not None:
            props.append(f"line={f.line}")
        if f.column is not None:
            props.append(f"col={f.column}")
        head = f"::{level} {','.join(props)}" if props else f"::{level}"
        lines.append(f"{head}::{_escape_data(_github_message(f))}")
    lines.append(report.summary)
    return lines


def render_text(report: Report, *, quiet: bool = False) -> tuple[list[str], list[str]]:
    """(standard output lines, standard error lines) for people."""
    out: list[str] = []
    err: list[str] = []
    if report.status == "invalid":
        err.extend(
            Problem(f.line or 1, f.column or 1, f.key_path or "", f.message, f.file or "").format()
            for f in report.findings
        )
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
        err.extend(f"  {f.rel}" for f in foreign)
    if not quiet:
        err.extend(f"note: {f.message}" for f in notes)
    if report.status == "ok":
        if not quiet:
            out.append(report.summary)
        return out, err
    err.append(report.summary)
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
            err.append(f"  {labels[f.kind]} {f.rel}{suffix}")
            err.extend(f"           {line}" for line in f.diff)
    links = [f for f in report.findings if f.kind == "wiring"]
    if links:
        if any(f.kind in labels for f in report.findings):
            err.append(f"{len(links)} wiring line(s) missing: Flux does not reach the tree")
        for f in links:
            where = f"{f.file}:{f.line}" if f.line is not None else f"{f.file}"
            err.append(f"  {where}: {f.message}")
    repo = [f for f in report.findings if f.kind == "repository"]
    if repo:
        if any(f.kind in labels or f.kind == "wiring" for f in report.findings):
            err.append(f"{len(repo)} repository problem(s) Flux would meet:")
        for f in repo:
            where = f"{f.file}:{f.line}" if f.line is not None else f"{f.file}"
            err.append(f"  {where}: {f.message}")
    return out, err


def render(report: Report, fmt: str, *, quiet: bool = False) -> tuple[list[str], list[str]]:
    """(stdout lines, stderr lines) of ``report`` in format ``fmt``."""
    if fmt == "json":
        return [render_json(report).rstrip("\n")], []
    if fmt == "github":
        return render_github(report), []
    return render_text(report, quiet=quiet)
