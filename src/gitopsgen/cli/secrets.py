"""secrets: the Secrets the generated tree references and never writes."""

from __future__ import annotations

import json

import click

from gitopsgen.cli.common import config_option


@click.command()
@config_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people, json for tools.",
)
def secrets(config: str, fmt: str) -> None:
    """List the Secrets the tree expects and never writes (tenants' source
    credentials and verification keys): create each in its namespace.

    \b
    One line per Secret: CLUSTER NAMESPACE/NAME TENANT USED-BY.
    """
    from gitopsgen.config import load
    from gitopsgen.platform import resolve
    from gitopsgen.render.workloads import platform_secrets

    project = load(config, allow_outside=True)
    needs = platform_secrets(resolve(project.config, project.flux_root))
    if fmt == "json":
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
        click.echo(f"{config}: the tree expects no Secrets beyond those it generates")
        return
    for cluster, n in needs:
        click.echo(f"{cluster}\t{n.namespace}/{n.name}\t{n.tenant}\t{n.used_by}")
