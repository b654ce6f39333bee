"""The command line: flags -> options -> core call -> report -> exit code.

Commands live in submodules and are imported only when used, so ``--help`` and
pre-commit hooks start fast. No YAML or Kubernetes knowledge lives here.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from gitopsgen import __version__

# command name -> "module:attribute", in the order --help lists them
COMMANDS = {
    "build": "gitopsgen.cli.core:build",
    "check": "gitopsgen.cli.core:check",
    "diff": "gitopsgen.cli.diff:diff",
    "validate": "gitopsgen.cli.core:validate",
    "schema": "gitopsgen.cli.core:schema",
    "secrets": "gitopsgen.cli.secrets:secrets",
    "add-tenant": "gitopsgen.cli.tenants:add_tenant",
    "remove-tenant": "gitopsgen.cli.tenants:remove_tenant",
    "ips": "gitopsgen.cli.tenants:ips",
    "hosts": "gitopsgen.cli.tenants:hosts",
    "rebalance": "gitopsgen.cli.tenants:rebalance",
    "import": "gitopsgen.cli.tenants:import_repo",
    "migrate": "gitopsgen.cli.migrate:migrate",
    "completion": "gitopsgen.cli.complete:completion",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if self._load(name) is not None]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None
            raise
        command = getattr(module, attr, None)
        return command if isinstance(command, click.Command) else None


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="gitopsgen")
@click.option("--debug", is_flag=True, help="Show a traceback for internal errors.")
@click.option(
    "--color",
    "--colour",
    "colour",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    help="Colour the output: auto colours a terminal unless NO_COLOR is set.",
)
@click.pass_context
def cli(ctx: click.Context, debug: bool, colour: str) -> None:
    """Compile tenants.yaml into the Flux + vcluster GitOps tree of a multi-tenant
    Kubernetes platform, and check, diff and edit it.

    \b
    Exit codes: 0 success, 1 drift or changes (check, diff --exit-code),
    2 invalid input or an error the message explains, 3 internal error,
    130 interrupted, 141 standard output closed early (a pipe).

    
    Every command that reads tenants.yaml takes -c PATH; without it, the nearest
    tenants.yaml from the current directory up to the repository root is used.
    Reports go to standard output, diagnostics to standard error; paths are
    relative to the repository root (--absolute for absolute paths).
    """
    from gitopsgen.cli.common import colour_wanted

    # --debug is read by run_cli from the arguments (it must act before parsing).
    del debug
    # Subcommand contexts inherit this; click.echo strips colours when it is False
    # and, when None, unless the stream is a terminal.
    ctx.color = colour_wanted(colour)


def main(argv: list[str] | None = None) -> Any:
    import gc

    from gitopsgen.cli.common import run_cli

    # One short-lived process builds a few hundred thousand small, acyclic dicts
    # and lists (the rendered documents); the cyclic GC's default thresholds make
    # it rescan them over and over (~25% of `check` at 1000 tenants). Collect rarely.
    gc.set_threshold(100_000, 50, 100)
    return run_cli(cli, argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
