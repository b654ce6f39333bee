"""build, check, validate and schema: flags -> :mod:`gitopsgen.api` -> reporter."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

import click

from gitopsgen.cli.common import (
    SETTINGS,
    absolute_option,
    config_option,
    emit,
    format_option,
)

if TYPE_CHECKING:
    from gitopsgen.edit import Edit


def reporting(quiet: bool) -> AbstractContextManager[object]:
    """Progress on standard error while it is a terminal and not --quiet."""
    from gitopsgen.progress import reporting as progress_to

    stream = sys.stderr
    return progress_to(stream if not quiet and stream.isatty() else None)


_ALLOW_OUTSIDE = click.option(
    "--allow-outside",
    is_flag=True,
    help="Permit an output directory outside the repository root.",
)
_VALUES_SCHEMA = click.option(
    "--values-schema",
    "values_schema",
    default=None,
    type=click.Path(dir_okay=False, path_type=str),
    help="The vcluster chart's values.schema.json: validate every tenant's final Helm "
    "values against it (overrides defaults.vcluster.valuesSchema).",
)

_REPORT_FORMATS = (
    "text for people, json for tools, github for GitHub Actions annotations, "
    "markdown for a job summary or pull-request comment."
)


@click.command()
@config_option
@_ALLOW_OUTSIDE
@_VALUES_SCHEMA
@absolute_option
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on success.")
@click.option(
    "--tenant",
    "tenants",
    multiple=True,
    metavar="NAME",
    help="Only tenant NAME changed (repeatable): render, write and verify its files and "
    "the cluster-level files, and trust the manifest for every other file (check still "
    "reads them all).",
)
def build(
    config: str | None,
    allow_outside: bool,
    values_schema: str | None,
    quiet: bool,
    tenants: tuple[str, ...],
) -> None:
    """Validate tenants.yaml, then write the generated tree.

    Files are written atomically; unchanged files are not touched; files that
    gitopsgen wrote before and no longer produces are removed. A file gitopsgen
    did not write is never overwritten or deleted: build stops, writing nothing.
    Nothing is renamed into place before every file was checked and the whole
    tree found consistent.

    When tenants.yaml, the options and gitopsgen are those of the last
    successful build, every file of the tree is read and hashed against that
    build's record instead of being rendered again (under ~/.cache/gitopsgen;
    GITOPSGEN_NO_CACHE=1 turns that off); any difference runs the full build.
    """
    run_build(
        config,
        allow_outside=allow_outside,
        quiet=quiet,
        values_schema=values_schema,
        tenants=tenants,
    )


def run_build(
    config: str | None,
    *,
    allow_outside: bool = False,
    quiet: bool = False,
    values_schema: str | None = None,
    tenants: Sequence[str] = (),
    edit: Edit | None = None,
) -> None:
    """What ``build`` does; add-tenant and remove-tenant call it after editing (with
    the edited tenant, and the edit's validated model: no parse again)."""
    from gitopsgen import api
    from gitopsgen.consistency import ConsistencyError
    from gitopsgen.report import Paths, consistency_report, render, repository_root

    path = api.config_path(config)
    try:
        with reporting(quiet):
            result = api.build(
                path,
                allow_outside=allow_outside,
                values_schema=values_schema,
                tenants=tenants,
                edit=edit,
            )
    except ConsistencyError as exc:
        paths = Paths(repository_root(path), SETTINGS["absolute"])
        report = consistency_report(
            "build", str(path), exc.prefix, exc.problems, exc.lines()[0], paths
        )
        emit(render(report, "text"))
        return
    if not quiet:
        paths = Paths(repository_root(path), SETTINGS["absolute"])
        click.echo(
            f"{paths.show(result.output)}: {len(result.written)} written, "
            f"{len(result.unchanged)} unchanged, {len(result.removed)} removed "
            f"({result.files} files, {result.tenants} tenants)"
        )
        if result.foreign:
            click.echo(f"{len(result.foreign)} file(s) not written by gitopsgen left alone")


@click.command()
@config_option
@_ALLOW_OUTSIDE
@_VALUES_SCHEMA
@absolute_option
@click.option("-q", "--quiet", is_flag=True, help="Only the exit code and a one-line summary.")
@format_option("check", _REPORT_FORMATS)
def check(
    config: str | None, allow_outside: bool, values_schema: str | None, quiet: bool, fmt: str
) -> None:
    """Compare the tree on disk with what build would write, and check that the
    repository's kustomizations include it (see `wiring:`). Writes nothing in the
    repository (a successful run leaves a cache entry under ~/.cache/gitopsgen;
    GITOPSGEN_NO_CACHE=1 turns that off).

    Then build the repository as Flux does, from the entry point (wiring.hostCluster)
    through every Flux Kustomization's path, and report objects defined twice,
    hand-kept documents the generated tree replaces, paths that do not exist or do not
    build and dependsOn targets defined nowhere.

    Exit 0 when in sync, 1 on drift (missing, changed or stale files, a foreign
    file where build must write, a missing wiring line, or a repository problem),
    2 on invalid input or an inconsistent tree.
    """
    from gitopsgen import api
    from gitopsgen.report import render, resolve_format

    with reporting(quiet):
        report = api.check(
            config,
            allow_outside=allow_outside,
            absolute=SETTINGS["absolute"],
            values_schema=values_schema,
        )
    emit(render(report, resolve_format(fmt, "check"), quiet=quiet))


@click.command()
@config_option
@_ALLOW_OUTSIDE
@_VALUES_SCHEMA
@absolute_option
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on success.")
@format_option("validate", _REPORT_FORMATS)
def validate(
    config: str | None, allow_outside: bool, values_schema: str | None, quiet: bool, fmt: str
) -> None:
    """Validate tenants.yaml only; every problem is reported as FILE:LINE:COL.

    The same rules as build apply, including where the output directory may be.
    """
    from gitopsgen import api
    from gitopsgen.report import render, resolve_format

    report = api.validate(
        config,
        allow_outside=allow_outside,
        absolute=SETTINGS["absolute"],
        values_schema=values_schema,
    )
    emit(render(report, resolve_format(fmt, "validate"), quiet=quiet))


@click.command()
@click.argument("which", type=click.Choice(["tenants", "diff"]), default="tenants")
def schema(which: str) -> None:
    """Print a JSON Schema: of tenants.yaml (default; committed as
    schema/tenants.schema.json) or of `diff --format json` (schema/diff.schema.json).

    Reads no tenants.yaml, so it takes no -c.
    """
    if which == "diff":
        from importlib.resources import files

        click.echo(files("gitopsgen").joinpath("schemas/diff.schema.json").read_text(), nl=False)
        return
    from gitopsgen.cache import schema_text

    click.echo(schema_text(), nl=False)
