"""build, check, validate and schema."""

from __future__ import annotations

import sys

import click

from gitopsgen.cli.common import EXIT_DRIFT, config_option, err

_ALLOW_OUTSIDE = click.option(
    "--allow-outside",
    is_flag=True,
    help="Permit an output directory outside the repository root.",
)


@click.command()
@config_option
@_ALLOW_OUTSIDE
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on success.")
def build(config: str, allow_outside: bool, quiet: bool) -> None:
    """Validate tenants.yaml, then write the generated tree.

    Files are written atomically; unchanged files are not touched; files that
    gitopsgen wrote before and no longer produces are removed. A file gitopsgen
    did not write is never overwritten or deleted: build stops, writing nothing.
    """
    run_build(config, allow_outside=allow_outside, quiet=quiet)


def run_build(config: str, *, allow_outside: bool = False, quiet: bool = False) -> None:
    """What ``build`` does; add-tenant and remove-tenant call it after editing."""
    from gitopsgen.config import load
    from gitopsgen.plan import plan_project
    from gitopsgen.tree import write

    project = load(config, allow_outside=allow_outside)
    plan = plan_project(project)
    result = write(plan, project.output_dir)
    if not quiet:
        click.echo(
            f"{project.output_dir}: {len(result.written)} written, "
            f"{len(result.unchanged)} unchanged, {len(result.removed)} removed "
            f"({len(plan) - 1} files, {len(project.config.tenants)} tenants)"
        )
        if result.foreign:
            click.echo(f"{len(result.foreign)} file(s) not written by gitopsgen left alone")


def _short_diff(old: bytes, new: bytes, path: str, limit: int = 20) -> list[str]:
    import difflib

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


@click.command()
@config_option
@_ALLOW_OUTSIDE
@click.option("-q", "--quiet", is_flag=True, help="Only the exit code and a one-line summary.")
def check(config: str, allow_outside: bool, quiet: bool) -> None:
    """Compare the tree on disk with what build would write. Writes nothing.

    Exit 0 when in sync, 1 on drift (missing, changed or stale files, or a
    foreign file where build must write), 2 on invalid input.
    """
    from gitopsgen.config import load
    from gitopsgen.plan import plan_project
    from gitopsgen.tree import compare

    project = load(config, allow_outside=allow_outside)
    plan = plan_project(project)
    result = compare(plan, project.output_dir)
    out = project.output_dir
    if result.foreign and not quiet:
        err(f"note: {len(result.foreign)} file(s) in {out} not written by gitopsgen (left alone):")
        for rel in result.foreign:
            err(f"  {rel}")
    if result.in_sync:
        if not quiet:
            click.echo(f"{out}: in sync with {project.config_path} ({len(plan) - 1} files)")
        return
    count = len(result.missing) + len(result.changed) + len(result.stale) + len(result.conflicts)
    err(f"{out}: {count} file(s) out of sync with {project.config_path}; run `gitopsgen build`")
    if not quiet:
        for rel in result.missing:
            err(f"  missing  {rel}")
        for rel in result.changed:
            err(f"  changed  {rel}")
            for line in _short_diff(result.old[rel], plan[rel].data, rel):
                err(f"           {line}")
        for rel in result.stale:
            err(f"  stale    {rel}")
        for rel in result.conflicts:
            err(f"  foreign  {rel} (not written by gitopsgen, stands where build must write)")
    sys.exit(EXIT_DRIFT)


@click.command()
@config_option
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on success.")
def validate(config: str, quiet: bool) -> None:
    """Validate tenants.yaml only; every problem is reported as FILE:LINE:COL."""
    from gitopsgen.config import load

    project = load(config, allow_outside=True)
    if not quiet:
        click.echo(f"{config}: valid ({len(project.config.tenants)} tenants)")


@click.command()
def schema() -> None:
    """Print the JSON Schema of tenants.yaml (committed as schema/tenants.schema.json)."""
    from gitopsgen.schema import schema_text

    click.echo(schema_text(), nl=False)
