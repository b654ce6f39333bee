"""diff: what a change to tenants.yaml does to the cluster, object by object."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from gitopsgen.cli.common import EXIT_DRIFT, config_option

_STYLES = {
    "bold": {"bold": True},
    "red": {"fg": "red"},
    "green": {"fg": "green"},
    "yellow": {"fg": "yellow"},
}


def _colour_wanted() -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


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
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
    help="text for a terminal, markdown for a pull-request comment, json for tools "
    "(schema/diff.schema.json).",
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
    config: str,
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
    from gitopsgen import diff as core
    from gitopsgen import diffreport

    if against_disk and base:
        raise click.UsageError("--against-disk and --base exclude each other")
    if max_bytes is not None and fmt != "markdown":
        raise click.UsageError("--max-bytes applies to --format markdown only")
    if against_disk:
        result = core.diff_against_disk(Path(config))
    elif base is not None and _is_path(base):
        result = core.diff_files(Path(base), Path(config))
    else:
        result = core.diff_git(Path(config), base)

    if fmt == "json":
        click.echo(diffreport.to_json(result), nl=False)
    elif fmt == "markdown":
        limit = diffreport.DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
        click.echo(diffreport.to_markdown(result, limit), nl=False)
    else:
        colour = _colour_wanted()
        text = diffreport.to_text(result, _style if colour else diffreport.plain_style)
        click.echo(text, nl=False, color=colour)
    if exit_code and result.changed:
        sys.exit(EXIT_DRIFT)
