"""add-tenant, remove-tenant, ips, hosts and import: the seed's bash workflow as
commands that edit the one source of truth, tenants.yaml, and rebuild the tree."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gitopsgen.cli.common import (
    absolute_option,
    config_option,
    emit,
    err,
    format_option,
    resolve_config,
)
from gitopsgen.cli.complete import complete_clusters, complete_shards, complete_tenants

if TYPE_CHECKING:
    from gitopsgen.edit import Edit

_NO_BUILD = click.option(
    "--no-build", is_flag=True, help="Only edit tenants.yaml; do not rebuild the tree."
)
_FORCE = click.option("--force", is_flag=True, help="Edit tenants.yaml even if it is read-only.")


def _read(config: str) -> str:
    """The text of tenants.yaml, line endings untouched; the edit validates it."""
    from gitopsgen.config import load
    from gitopsgen.fsio import read_limited
    from gitopsgen.reader import MAX_BYTES

    try:
        return read_limited(Path(config), MAX_BYTES).decode("utf-8")
    except (OSError, UnicodeDecodeError, ValueError):
        load(config, allow_outside=True)  # reports the problem as every command does
        raise


def _edit(
    config: str | None, change: Callable[[str, str], Edit], no_build: bool, force: bool
) -> None:
    """Read, change, validate and write tenants.yaml under a lock, then build."""
    from gitopsgen.edit import locked, refuse_read_only, write_atomic

    config = resolve_config(config)
    refuse_read_only(Path(config), force)
    with locked(Path(config)):
        result = change(_read(config), config)
        write_atomic(Path(config), result.text)
    click.echo(f"{config}: {result.message}")
    if not no_build:
        from gitopsgen.cli.core import run_build
        from gitopsgen.errors import GitopsgenError

        try:
            # Incremental: the edited tenant's files and the cluster-level files,
            # from the model the edit validated.
            run_build(config, tenants=[result.name], edit=result)
        except GitopsgenError:
            err(f"{config} is changed, but the build failed; fix this and run `gitopsgen build`:")
            raise


@click.command("add-tenant")
@config_option
@absolute_option
@click.argument("name")
@click.option(
    "--ip",
    metavar="IP",
    help="The tenant's vcluster LoadBalancer address (default: the lowest free address of "
    "its cluster's pool).",
)
@click.option(
    "--cluster",
    metavar="NAME",
    shell_complete=complete_clusters,
    help="Version 2: the host cluster (default: chosen by rendezvous hashing of NAME over "
    "the clusters with room, by their weight).",
)
@click.option(
    "--shard",
    metavar="SHARD",
    shell_complete=complete_shards,
    help="Version 2: the Flux shard of the cluster (default: chosen by rendezvous hashing).",
)
@click.option(
    "--hostname",
    metavar="HOST",
    help="The tenant's route hostname (default: tenant-NAME.<ingress domain>).",
)
@click.option(
    "--quota",
    metavar="PROFILE",
    help="A quota profile of defaults.quotas (version 2 files).",
)
@_NO_BUILD
@_FORCE
def add_tenant(
    config: str | None,
    name: str,
    ip: str | None,
    cluster: str | None,
    shard: str | None,
    hostname: str | None,
    quota: str | None,
    no_build: bool,
    force: bool,
) -> None:
    """Add tenant NAME to tenants.yaml, then build.

    Without --ip the tenant gets the lowest pool address that is neither reserved
    nor used. In a version 2 file the cluster and shard not given are chosen by
    weighted rendezvous hashing of NAME (stable: adding a cluster or shard moves no
    tenant), and all three are written into the file, so that build never places a
    tenant. The entry is appended in the file's own indentation; every comment,
    blank line, key order and quote of the file stays. The edited file is
    validated before anything is written, and written atomically.
    """
    from gitopsgen import edit

    _edit(
        config,
        lambda text, path: edit.add_tenant(
            text, name, ip, path, cluster=cluster, shard=shard, hostname=hostname, quota=quota
        ),
        no_build,
        force,
    )


@click.command("remove-tenant")
@config_option
@absolute_option
@click.argument("name", shell_complete=complete_tenants)
@_NO_BUILD
@_FORCE
def remove_tenant(config: str | None, name: str, no_build: bool, force: bool) -> None:
    """Remove tenant NAME from tenants.yaml, then build (which prunes its files).

    Only the tenant's lines go, with the comments above and inside it; a
    comment heading the next tenant stays.
    """
    from gitopsgen import edit

    _edit(config, lambda text, path: edit.remove_tenant(text, name, path), no_build, force)


# ---------------------------------------------------------------- ips


_CLUSTER = click.option(
    "--cluster",
    "cluster_name",
    metavar="NAME",
    shell_complete=complete_clusters,
    help="The host cluster (when there are several).",
)


@click.command()
@config_option
@absolute_option
@format_option(
    "ips",
    "text: one line per address, free runs compressed; json: runs, and every address "
    "of a pool of at most 65,536; "
    "markdown: the README's IP allocation table.",
)
@_CLUSTER
def ips(config: str | None, fmt: str, cluster_name: str | None) -> None:
    """Show a cluster's address pool: who holds each address and what is free."""
    from gitopsgen import api
    from gitopsgen.report import render, resolve_format

    emit(render(api.ips(config, cluster=cluster_name), resolve_format(fmt, "ips")))


# ---------------------------------------------------------------- rebalance


@click.command()
@config_option
@format_option("rebalance", "text: one line per tenant; json: a list of moves.")
def rebalance(config: str | None, fmt: str) -> None:
    """List the tenants that rendezvous hashing would place elsewhere today (read-only).

    add-tenant places a new tenant by hashing its name over the clusters and
    shards with room; build never moves one. After clusters or shards were added,
    or placements were given by hand, this lists where each tenant would go now and
    what moving it would destroy. Nothing is changed: move a tenant by editing its
    cluster, shard and ip in tenants.yaml, and review the `gitopsgen diff`.
    """
    from gitopsgen.config import load
    from gitopsgen.placement import rebalance as moves_of
    from gitopsgen.platform import resolve
    from gitopsgen.report import resolve_format

    project = load(resolve_config(config), allow_outside=True)
    moves = moves_of(resolve(project.config, project.flux_root))
    if resolve_format(fmt, "rebalance") == "json":
        click.echo(
            json.dumps(
                [
                    {
                        "tenant": m.tenant,
                        "from": {"cluster": m.cluster, "shard": m.shard},
                        "to": {"cluster": m.to_cluster, "shard": m.to_shard},
                        "consequence": m.consequence,
                    }
                    for m in moves
                ],
                indent=2,
            )
        )
        return
    if not moves:
        click.echo("every tenant is where rendezvous hashing places it")
        return
    for m in moves:
        here = m.cluster + (f"/{m.shard}" if m.shard else "")
        there = m.to_cluster + (f"/{m.to_shard}" if m.to_shard else "")
        click.echo(f"{m.tenant}: {here} -> {there}: {m.consequence}")


# ---------------------------------------------------------------- hosts


@click.command()
@config_option
@absolute_option
@format_option("hosts", "text: /etc/hosts lines; json: the address and the hostnames.")
@click.option(
    "--write",
    "target",
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Keep the lines in a '# BEGIN gitopsgen' ... '# END gitopsgen' block of FILE "
    "(e.g. /etc/hosts); other lines are never touched; FILE~ is the backup.",
)
@_CLUSTER
def hosts(config: str | None, fmt: str, target: Path | None, cluster_name: str | None) -> None:
    """Print /etc/hosts lines: every tenant hostname -> the ingress address.

    The ingress address is the reserved address of the Gateway's service
    (reserved.<defaults.ingress.gateway.name>, `traefik` by default).
    """
    from gitopsgen import api, hostsfile
    from gitopsgen.report import render, resolve_format

    listed = api.hosts(config, cluster=cluster_name)
    if target is None:
        emit(render(listed, resolve_format(fmt, "hosts")))
        return
    lines = listed.lines
    old = hostsfile.read(target)
    result = hostsfile.update(old, lines, str(target))
    if not result.changed:
        click.echo(f"{target}: up to date ({len(lines)} hostnames)")
        return
    backup = hostsfile.write(target, result.text)
    summary = f"{len(result.added)} added, {len(result.removed)} removed"
    click.echo(f"{target}: updated ({summary})" + (f"; backup {backup}" if backup else ""))


# ---------------------------------------------------------------- import


@click.command("import")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    "output",
    default="tenants.yaml",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the tenants.yaml ('-' for standard output).",
)
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
@click.option(
    "--prune-replaced",
    is_flag=True,
    help="Do not import: list the hand-kept files and documents that the tree built "
    "from OUTPUT replaces (a dry run); with --apply, remove them.",
)
@click.option("--apply", is_flag=True, help="With --prune-replaced: really remove them.")
def import_repo(
    directory: Path, output: Path, force: bool, prune_replaced: bool, apply: bool
) -> None:
    """Write the tenants.yaml that reproduces an existing repository DIRECTORY laid
    out like the seed (clusters/vcluster-*, tenant/tenant-*, infrastructure/...).

    The pool comes from the MetalLB IPAddressPool, reserved addresses from the
    loadBalancerIPs annotations of the other HelmReleases, and each tenant's
    differences from the generated objects become its options. What has no
    tenants.yaml option is listed by file on standard error, never dropped silently.
    It reads no tenants.yaml (it writes one), so it takes no -c.
    """
    from gitopsgen.errors import GitopsgenError
    from gitopsgen.importer import REPLACED_FILE, find_replaced, import_tree, replaced_text

    if apply and not prune_replaced:
        raise click.UsageError("--apply goes with --prune-replaced")
    if prune_replaced:
        _prune_replaced(directory, output, apply)
        return
    to_stdout = str(output) == "-"
    if not to_stdout and output.exists() and not force:
        raise GitopsgenError(f"{output}: exists; pass --force to overwrite it")
    schema = None
    if not to_stdout:
        candidate = output.parent / "schema" / "tenants.schema.json"
        if candidate.is_file():
            schema = "schema/tenants.schema.json"
    result = import_tree(directory, schema=schema)
    if to_stdout:
        click.echo(result.text, nl=False)
    else:
        from gitopsgen.edit import write_atomic

        write_atomic(output, result.text)
        cfg = result.config
        click.echo(
            f"{output}: {len(cfg.tenants)} tenants, pool {', '.join(cfg.pool)}, "
            f"{len(cfg.reserved)} reserved addresses"
        )
        if schema is None:
            click.echo(
                f"{output}: no schema/tenants.schema.json beside it, so no editor modeline "
                "(`gitopsgen schema > schema/tenants.schema.json` makes one)"
            )
        items = find_replaced(directory, cfg, cfg.output, keep=_wiring_files(cfg))
        listing = output.parent / REPLACED_FILE
        write_atomic(listing, replaced_text(items, output.name))
        click.echo(
            f"{listing}: {len(items)} hand-kept file(s), document(s) and entries the "
            f"generated tree replaces; after `gitopsgen build` and the wiring lines, "
            f"`gitopsgen import --prune-replaced {directory} -o {output}` shows them and "
            "`--apply` removes them"
        )
    if result.unmapped:
        err(f"{len(result.unmapped)} thing(s) in {directory} that tenants.yaml cannot express:")
        for note in result.unmapped:
            err(f"  {note}")


def _wiring_files(cfg: Any) -> tuple[str, ...]:
    import posixpath

    wiring = cfg.wiring
    return tuple(posixpath.normpath(f) for f in (wiring.host_cluster, wiring.traefik_config) if f)


def _prune_replaced(directory: Path, output: Path, apply: bool) -> None:
    """import --prune-replaced: the replaced hand-kept files of ``directory``, per the
    tenants.yaml ``output`` and its generated tree; removed with ``apply``."""
    import os

    from gitopsgen.config import load
    from gitopsgen.errors import GitopsgenError
    from gitopsgen.importer import REPLACED_FILE, find_replaced, prune, replaced_text

    project = load(output)
    root = directory.resolve()
    if root != project.repository_root.resolve():
        raise GitopsgenError(
            f"{directory}: is not the repository root of {output} "
            f"({project.repository_root}); pass the repository root"
        )
    out_rel = os.path.relpath(project.output_dir, project.repository_root).replace(os.sep, "/")
    if not (project.output_dir / ".gitopsgen-manifest").is_file():
        raise GitopsgenError(
            f"{project.output_dir}: not built yet; run `gitopsgen build -c {output}` first, "
            "so that the generated tree stands in for what is removed"
        )
    from gitopsgen.model import Config

    if not isinstance(project.config, Config):
        raise GitopsgenError(
            f"{output}: --prune-replaced works on a version 1 file (what import writes)"
        )
    items = find_replaced(root, project.config, out_rel, keep=_wiring_files(project.config))
    if not items:
        click.echo(f"{directory}: nothing hand-kept is replaced by the generated tree")
        return
    if not apply:
        click.echo(f"{len(items)} item(s) the generated tree replaces (dry run; --apply removes):")
        for item in items:
            click.echo(f"  {item.line()}")
        return
    for line in prune(root, items):
        click.echo(line)
    from gitopsgen.edit import write_atomic

    write_atomic(output.parent / REPLACED_FILE, replaced_text([], output.name))
