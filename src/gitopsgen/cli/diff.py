"""diff: what a change to tenants.yaml does to the cluster, object by object."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from gitopsgen.cli.common import EXIT_DRIFT, config_option, emit, format_option

_STYLES = {
    "bold": {"bold": True},
    "red": {"fg": "red"},
    "green": {"fg": "green"},
    "yellow": {"fg": "yellow"},
}


def _style(text: str, colour: str) -> str:
    return click.style(text, **_STYLES.get(colour, {}))  # type: ignore[arg-type]


def _is_path(value: str) -> bool:
    """--base names a file when it is one and looks like a path, else a git revision."""
    looks = os.sep in value or "/" in value or value.endswith((".yaml", ".yml"))
    return looks and Path(value).is_file()


@click.command()
@config_option
@click.option(
    "--base",
    metavar="REF|PATH",
    help="Git revision to compare with (default: the merge base of HEAD with origin/HEAD, "
    "main or master), or the path of another tenants.yaml.",
)
@click.option(
    "--against-disk",
    is_flag=True,
    help="Compare the tree on disk with what build would write (a detailed `check`).",
)
@format_option(
    "diff",
    "text for a terminal, markdown for a pull-request comment, json for tools "
    "(schema/diff.schema.json), github for GitHub Actions notices.",
)
@click.option(
    "--exit-code", is_flag=True, help="Exit 1 when anything changes, 0 when nothing does."
)
@click.option(
    "--max-bytes",
    type=click.IntRange(min=200),
    default=None,
    help="markdown: size limit of the comment; the largest sections lose detail first, "
    "and the comment says so.  [default: 60000]",
)
def diff(
    config: str | None,
    base: str | None,
    against_disk: bool,
    fmt: str,
    exit_code: bool,
    max_bytes: int | None,
) -> None:
    """Show what a change to tenants.yaml changes in the cluster.

    Compiles tenants.yaml as it is at the base (read with git, nothing checked
    out or written) and as it is in the working tree, and compares the two
    trees object by object: tenants added or removed, objects added, removed
    (pruned by Flux) or changed, and each changed field with its old and new
    value. Objects are matched by cluster, kind, namespace and name, never by
    file; reordering tenants or named list items is not a change.

    \b
    Exit codes: 0 (no changes, or changes without --exit-code), 1 changes with
    --exit-code, 2 invalid tenants.yaml on either side or a git problem.
    """
    from gitopsgen import api
    from gitopsgen.report import render, resolve_format

    fmt = resolve_format(fmt, "diff")
    if against_disk and base:
        raise click.UsageError("--against-disk and --base exclude each other")
    if max_bytes is not None and fmt != "markdown":
        raise click.UsageError("--max-bytes applies to --format markdown only")
    if base is not None and _is_path(base):
        result = api.diff(config, base_file=base)
    else:
        result = api.diff(config, base=base, against_disk=against_disk)
    # Styled always; click strips the colours unless --color, NO_COLOR and the
    # terminal say otherwise (the context's color, set by the group).
    emit(render(result, fmt, max_bytes=max_bytes, style=_style))
    if exit_code and result.changed:
        sys.exit(EXIT_DRIFT)
