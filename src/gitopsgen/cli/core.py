"""build, check, validate and schema."""

from __future__ import annotations

import os
import sys
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

import click

from gitopsgen.cli.common import config_option, err

if TYPE_CHECKING:
    from gitopsgen.cache import Entry
    from gitopsgen.config import Project
    from gitopsgen.report import Report


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


@click.command()
@config_option
@_ALLOW_OUTSIDE
@_VALUES_SCHEMA
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on success.")
def build(config: str, allow_outside: bool, values_schema: str | None, quiet: bool) -> None:
    """Validate tenants.yaml, then write the generated tree.

    Files are written atomically; unchanged files are not touched; files that
    gitopsgen wrote before and no longer produces are removed. A file gitopsgen
    did not write is never overwritten or deleted: build stops, writing nothing.
    """
    run_build(config, allow_outside=allow_outside, quiet=quiet, values_schema=values_schema)


def run_build(
    config: str,
    *,
    allow_outside: bool = False,
    quiet: bool = False,
    values_schema: str | None = None,
) -> None:
    """What ``build`` does; add-tenant and remove-tenant call it after editing."""
    from gitopsgen import cache
    from gitopsgen.config import load
    from gitopsgen.consistency import verify
    from gitopsgen.plan import plan_project
    from gitopsgen.tree import write

    probe = cache.lookup(config, allow_outside, values_schema)
    project = load(config, allow_outside=allow_outside, values_schema=values_schema)
    with reporting(quiet):
        plan = plan_project(project, lean=True)
        verify(plan, project)
        if probe.entry is None or probe.entry.digests is None:
            cache.remember(probe, project, plan)
        result = write(plan, project.output_dir)
    if not quiet:
        click.echo(
            f"{project.output_dir}: {len(result.written)} written, "
            f"{len(result.unchanged)} unchanged, {len(result.removed)} removed "
            f"({len(plan) - 1} files, {len(project.config.tenants)} tenants)"
        )
        if result.foreign:
            click.echo(f"{len(result.foreign)} file(s) not written by gitopsgen left alone")


_FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="text for people, json for tools, github for GitHub Actions annotations.",
)


def _emit(report: Report, fmt: str, quiet: bool) -> None:
    from gitopsgen.report import render

    out, errs = render(report, fmt, quiet=quiet)
    for line in out:
        click.echo(line)
    for line in errs:
        err(line)
    if report.exit_code:
        sys.exit(report.exit_code)


def _load_or_report(
    command: str,
    config: str,
    allow_outside: bool,
    fmt: str,
    quiet: bool,
    values_schema: str | None = None,
) -> Project | None:
    """Load tenants.yaml; invalid input is raised for text (the one error path prints
    it) and reported in the chosen format otherwise, returning None."""
    from gitopsgen.config import load
    from gitopsgen.errors import ConfigError
    from gitopsgen.report import invalid_report

    try:
        return load(config, allow_outside=allow_outside, values_schema=values_schema)
    except ConfigError as exc:
        if fmt == "text":
            raise
        _emit(invalid_report(command, config, exc), fmt, quiet)
        return None


@click.command()
@config_option
@_ALLOW_OUTSIDE
@_VALUES_SCHEMA
@click.option("-q", "--quiet", is_flag=True, help="Only the exit code and a one-line summary.")
@_FORMAT
def check(
    config: str, allow_outside: bool, values_schema: str | None, quiet: bool, fmt: str
) -> None:
    """Compare the tree on disk with what build would write, and check that the
    repository's kustomizations include it (see `wiring:`). Writes nothing.

    Then build the repository as Flux does, from the entry point (wiring.hostCluster)
    through every Flux Kustomization's path, and report objects defined twice,
    hand-kept documents the generated tree replaces, paths that do not exist or do not
    build and dependsOn targets defined nowhere.

    Exit 0 when in sync, 1 on drift (missing, changed or stale files, a foreign
    file where build must write, a missing wiring line, or a repository problem),
    2 on invalid input or an inconsistent tree.
    """
    from gitopsgen import cache

    probe = cache.lookup(config, allow_outside, values_schema)
    if probe.entry is not None and _cached_check(probe.entry, fmt, quiet):
        return
    from gitopsgen.consistency import ConsistencyError, verify
    from gitopsgen.plan import plan_project
    from gitopsgen.repocheck import check_repository
    from gitopsgen.report import check_report, consistency_report
    from gitopsgen.tree import compare
    from gitopsgen.wiring import check_wiring

    project = _load_or_report("check", config, allow_outside, fmt, quiet, values_schema)
    if project is None:
        return
    with reporting(quiet):
        # A full plan (documents kept): the repository check reads them.
        plan = plan_project(project)
        try:
            verify(plan, project)
        except ConsistencyError as exc:
            if fmt == "text":
                raise
            head = exc.lines()[0]
            report = consistency_report("check", config, str(exc.prefix), exc.problems, head)
            _emit(report, fmt, quiet)
            return
        if probe.entry is None or probe.entry.digests is None:
            cache.remember(probe, project, plan)
        result = compare(plan, project.output_dir)
    report = check_report(
        config=str(project.config_path),
        output=project.output_dir,
        files=len(plan) - 1,
        tenants=len(project.config.tenants),
        comparison=result,
        planned={rel: plan[rel].data for rel in result.changed},
        wiring=check_wiring(project),
        repository=check_repository(project, plan),
    )
    _emit(report, fmt, quiet)


def _cached_check(entry: Entry, fmt: str, quiet: bool) -> bool:
    """``check`` from the cache (see gitopsgen.cache): True when it reported; False
    when the tree does not match the cached plan, and the full check must explain."""
    from pathlib import Path

    from gitopsgen import cache
    from gitopsgen.report import check_report
    from gitopsgen.wiring import check_links

    if entry.check_needs_model or entry.files is None:
        return False
    if entry.repo_entry is not None and os.path.lexists(entry.repo_entry):
        return False  # the repository check walks from it, with the plan's documents
    comparison = cache.compare_digests(entry)
    if comparison is None:
        return False
    report = check_report(
        config=entry.config_path,
        output=Path(entry.output_dir),
        files=entry.files,
        tenants=entry.tenants,
        comparison=comparison,
        planned={},
        wiring=check_links(cache.entry_links(entry), entry.source_name),
    )
    _emit(report, fmt, quiet)
    return True


@click.command()
@config_option
@_ALLOW_OUTSIDE
@_VALUES_SCHEMA
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on success.")
@_FORMAT
def validate(
    config: str, allow_outside: bool, values_schema: str | None, quiet: bool, fmt: str
) -> None:
    """Validate tenants.yaml only; every problem is reported as FILE:LINE:COL.

    The same rules as build apply, including where the output directory may be.
    """
    from gitopsgen import cache
    from gitopsgen.report import validate_report

    probe = cache.lookup(config, allow_outside, values_schema)
    if probe.entry is not None:
        _emit(validate_report(config, probe.entry.tenants), fmt, quiet)
        return
    project = _load_or_report("validate", config, allow_outside, fmt, quiet, values_schema)
    if project is None:
        return
    cache.remember(probe, project)
    _emit(validate_report(config, len(project.config.tenants)), fmt, quiet)


@click.command()
def schema() -> None:
    """Print the JSON Schema of tenants.yaml (committed as schema/tenants.schema.json)."""
    from gitopsgen.cache import schema_text

    click.echo(schema_text(), nl=False)
