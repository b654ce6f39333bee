"""migrate: rewrite a version 1 tenants.yaml as version 2 (gitopsgen.migrate)."""

from __future__ import annotations

from pathlib import Path

import click

from gitopsgen.cli.common import config_option, err, resolve_config


@click.command("migrate")
@config_option
@click.option("--dry-run", is_flag=True, help="Print the version 2 file; write nothing.")
@click.option(
    "--repository",
    metavar="URL",
    help="The platform repository (defaults.flux.repository.url): each tenant's workload "
    "then reads a GitRepository in its own namespace (lockdown-ready).",
)
@click.option(
    "--output",
    "output",
    metavar="DIR",
    help="Write the version 2 tree to DIR (relative to tenants.yaml); the old tree stays.",
)
@click.option(
    "--move-output",
    is_flag=True,
    help="With --output: move the old tree to DIR first, so that build updates it in place.",
)
def migrate(
    config: str | None, dry_run: bool, repository: str | None, output: str | None, move_output: bool
) -> None:
    """Rewrite tenants.yaml (version 1) as version 2, in place.

    Comments and layout stay. pool and reserved move under one cluster named
    host-cluster (the old host-cluster directory); every tenant is pinned to
    vcluster.distro: k3s, which a running vcluster can never change. Nothing is
    built and the generated tree is not touched (unless --move-output): run
    `gitopsgen diff` to review what the cluster will see, then `gitopsgen build`.
    """
    from gitopsgen.cli.tenants import _read
    from gitopsgen.edit import EditError, locked, write_atomic
    from gitopsgen.migrate import migrate_text

    if move_output and output is None:
        raise click.UsageError("--move-output needs --output DIR")
    config = resolve_config(config)
    path = Path(config)
    with locked(path):
        result = migrate_text(_read(config), config, repository=repository, output=output)
        if dry_run:
            click.echo(result.text, nl=False)
            return
        if move_output and output is not None:
            from gitopsgen.config import load
            from gitopsgen.fsio import move_tree

            old = load(config, allow_outside=True).output_dir
            new = path.parent / output
            if new.exists():
                raise EditError(f"{new}: already exists; nothing was written")
            if old.is_dir():
                move_tree(old, new)
                click.echo(f"moved {old} to {new}")
        write_atomic(path, result.text)
    click.echo(
        f"{config}: version 2, one cluster {result.cluster}; "
        f"pinned to k3s: {', '.join(result.pinned) or 'no tenants'}"
    )
    for note in result.notes:
        err(f"note: {note}")
    click.echo("next: `gitopsgen diff` to review, then `gitopsgen build`")
