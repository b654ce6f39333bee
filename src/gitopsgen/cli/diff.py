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
    "--base-ref",
    metavar="REF",
    help="Git revision to compare with (a branch, tag or commit); never read as a path.",
)
@click.option(
    "--base-file",
    metavar="PATH",
    type=click.Path(dir_okay=False),
    help="Another tenants.yaml to compare with; never read as a revision.",
)
@click.option(
    "--base-tree",
    metavar="REF:PATH",
    help="Compare with the objects of a hand-made tree (directory PATH at revision REF), "
    "e.g. the seed repository before a migration to gitopsgen. Used by default when "
    "tenants.yaml does not exist at the base but the tree there holds generated kinds.",
)
@click.option(
    "--fail-on",
    metavar="RISK[,RISK]",
    help="Exit 1 when a change carries one of these risk flags: "
    "destroys, moves, access, address, distro (or 'any').",
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
    base_ref: str | None,
    base_file: str | None,
    base_tree: str | None,
    fail_on: str | None,
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

    The summary starts with the flagged risks (destroys, moves, access, address,
    distro), then the keys of tenants.yaml that changed with their line and how
    many tenants and objects each touches, then every distinct change once (the
    same change of many tenants is one group), then each tenant.

    \b
    Exit codes: 0 (no changes, or changes without --exit-code / --fail-on), 1
    changes with --exit-code or a flagged risk named by --fail-on, 2 invalid
    tenants.yaml on either side or a git problem.
    """
    from gitopsgen import api
    from gitopsgen.diff import RISKS
    from gitopsgen.report import render, resolve_format

    fmt = resolve_format(fmt, "diff")
    named = [
        opt
        for opt, value in (
            ("--base", base),
            ("--base-ref", base_ref),
            ("--base-file", base_file),
            ("--base-tree", base_tree),
            ("--against-disk", against_disk or None),
        )
        if value is not None
    ]
    if len(named) > 1:
        raise click.UsageError(f"{' and '.join(named)} exclude each other: name one base")
    if max_bytes is not None and fmt != "markdown":
        raise click.UsageError("--max-bytes applies to --format markdown only")
    gate = _risks(fail_on, RISKS) if fail_on is not None else set()
    if base is not None and _is_path(base):
        result = api.diff(config, base_file=base, option="--base")
    elif base is not None:
        result = api.diff(config, base_ref=base, option="--base")
    else:
        result = api.diff(
            config,
            base_ref=base_ref,
            base_file=base_file,
            base_tree=base_tree,
            against_disk=against_disk,
        )
    # Styled always; click strips the colours unless --color, NO_COLOR and the
    # terminal say otherwise (the context's color, set by the group).
    emit(render(result, fmt, max_bytes=max_bytes, style=_style))
    if gate & set(result.risk_flags()):
        sys.exit(EXIT_DRIFT)
    if exit_code and result.changed:
        sys.exit(EXIT_DRIFT)


def _risks(text: str, known: tuple[str, ...]) -> set[str]:
    wanted = {w.strip() for w in text.split(",") if w.strip()}
    if "any" in wanted:
        return set(known)
    unknown = sorted(wanted - set(known))
    if unknown or not wanted:
        raise click.BadParameter(
            f"unknown risk {', '.join(unknown) or repr(text)}; choose from {', '.join(known)}, any",
            param_hint="--fail-on",
        )
    return wanted
