"""What every command shares: the config option, error handling and exit codes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_DRIFT, EXIT_INVALID, EXIT_INTERNAL = 0, 1, 2, 3


def config_option(f: F) -> F:
    return click.option(
        "-c",
        "--config",
        "config",
        default="tenants.yaml",
        show_default=True,
        type=click.Path(dir_okay=True, path_type=str),
        help="Path of tenants.yaml.",
    )(f)


def err(message: str) -> None:
    click.echo(message, err=True)


def run_cli(group: click.Group, argv: list[str] | None) -> Any:
    """Run the group; turn gitopsgen errors into messages and exit codes."""
    from gitopsgen.errors import GitopsgenError

    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        return group.main(args=argv, prog_name="gitopsgen", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_INVALID)
    except click.Abort:
        err("Aborted.")
        sys.exit(130)
    except GitopsgenError as exc:
        for line in exc.lines():
            err(line)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err("Interrupted.")
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(EXIT_OK)
    except Exception as exc:
        if debug:
            raise
        err(f"gitopsgen: internal error: {type(exc).__name__}: {exc}")
        err("This is a bug; rerun with --debug for a traceback and report it.")
        sys.exit(EXIT_INTERNAL)
