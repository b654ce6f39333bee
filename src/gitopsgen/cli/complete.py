"""Shell completion: ``gitopsgen completion bash|zsh|fish`` and the completers of
tenant, cluster and shard names (read from the tenants.yaml the command would use).

Completion runs on every <TAB>: a completer never fails, it completes nothing when
tenants.yaml is missing or unreadable. The file is read with the one YAML reader
(:func:`gitopsgen.reader.read_text`), without validation: half-edited files still
complete.
"""

from __future__ import annotations

from typing import Any

import click
from click.shell_completion import CompletionItem, get_completion_class

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_GITOPSGEN_COMPLETE"


def _document(ctx: click.Context) -> Any:
    from gitopsgen.api import config_path
    from gitopsgen.reader import read_text

    try:
        path = config_path(ctx.params.get("config"))
        return read_text(path.read_bytes(), str(path)).data
    except Exception:  # completion must never print a traceback into the shell
        return None


def _names(items: Any) -> list[str]:
    if isinstance(items, dict):
        return [str(k) for k in items]
    if isinstance(items, list):
        out = []
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                out.append(item["name"])
            elif isinstance(item, str):
                out.append(item)
        return out
    return []


def tenant_names(data: Any) -> list[str]:
    return _names(data.get("tenants")) if isinstance(data, dict) else []


def cluster_names(data: Any) -> list[str]:
    """Version 2 ``clusters:``; version 1 is the one cluster ``host-cluster``."""
    if not isinstance(data, dict):
        return []
    if "clusters" not in data:
        return ["host-cluster"]
    return _names(data.get("clusters"))


def shard_names(data: Any, cluster: str | None = None) -> list[str]:
    """The shards of ``cluster`` (every cluster's when None), each once."""
    if not isinstance(data, dict) or not isinstance(data.get("clusters"), list):
        return []
    out: list[str] = []
    for item in data["clusters"]:
        if not isinstance(item, dict) or (cluster is not None and item.get("name") != cluster):
            continue
        for shard in _names(item.get("shards")):
            if shard not in out:
                out.append(shard)
    return out


def _items(names: list[str], incomplete: str) -> list[CompletionItem]:
    return [CompletionItem(n) for n in names if n.startswith(incomplete)]


def complete_tenants(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    return _items(tenant_names(_document(ctx)), incomplete)


def complete_clusters(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    return _items(cluster_names(_document(ctx)), incomplete)


def complete_shards(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    cluster = ctx.params.get("cluster")
    data = _document(ctx)
    return _items(shard_names(data, cluster if isinstance(cluster, str) else None), incomplete)


def complete_config(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Files and directories, as the shell completes paths."""
    return [CompletionItem(incomplete, type="file")]


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the completion script of SHELL (bash, zsh or fish).

    \b
    bash:  eval "$(gitopsgen completion bash)"     (in ~/.bashrc)
    zsh:   eval "$(gitopsgen completion zsh)"      (in ~/.zshrc)
    fish:  gitopsgen completion fish > ~/.config/fish/completions/gitopsgen.fish

    Commands, options, and the tenant names of the nearest tenants.yaml (or the
    -c PATH typed before) complete.
    """
    from gitopsgen.cli import cli

    cls = get_completion_class(shell)
    assert cls is not None  # every name of SHELLS is one of click's
    click.echo(cls(cli, {}, "gitopsgen", COMPLETE_VAR).source(), nl=False)
