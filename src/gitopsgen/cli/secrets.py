"""secrets: the Secrets the generated tree references and never writes."""

from __future__ import annotations

import json

import click

from gitopsgen.cli.common import config_option, format_option, resolve_config


@click.command()
@config_option
@format_option("secrets", "text: one line per Secret; json: a list.")
def secrets(config: str | None, fmt: str) -> None:
    """List the Secrets the tree expects and never writes (tenants' source
    credentials and verification keys): create each in its namespace.

    \b
    One line per Secret: CLUSTER NAMESPACE/NAME TENANT USED-BY.
    """
    from gitopsgen.config import load
    from gitopsgen.platform import resolve
    from gitopsgen.render.workloads import platform_secrets
    from gitopsgen.report import resolve_format

    path = resolve_config(config)
    project = load(path, allow_outside=True)
    needs = platform_secrets(resolve(project.config, project.flux_root))
    if resolve_format(fmt, "secrets") == "json":
        rows = [
            {
                "cluster": cluster,
                "namespace": n.namespace,
                "name": n.name,
                "tenant": n.tenant,
                "usedBy": n.used_by,
            }
            for cluster, n in needs
        ]
        click.echo(json.dumps({"secrets": rows}, indent=2))
        return
    if not needs:
        click.echo(f"{path}: the tree expects no Secrets beyond those it generates")
        return
    for cluster, n in needs:
        click.echo(f"{cluster}\t{n.namespace}/{n.name}\t{n.tenant}\t{n.used_by}")
