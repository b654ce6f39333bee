"""What every command shares: the config option, error handling and exit codes."""

from __future__ import annotations

import contextlib
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
        type=click.Path(dir_okay=True, readable=False, path_type=str),  # load() says why
        help="Path of tenants.yaml.",
    )(f)


def err(message: str) -> None:
    click.echo(message, err=True)


def _printable(text: str) -> str:
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def run_cli(group: click.Group, argv: list[str] | None) -> Any:
    """Run the group; turn gitopsgen errors into messages and exit codes."""
    from gitopsgen.errors import ConfigError, GitopsgenError

    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    for stream in (sys.stdout, sys.stderr):
        # A path may hold bytes that are not UTF-8 (surrogates): print them escaped.
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(Exception):
                reconfigure(errors="backslashreplace")
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
            # One line per problem: a newline or control character quoted from
            # tenants.yaml (a key, a value) is printed escaped, never raw.
            parts = [line] if isinstance(exc, ConfigError) else line.split("\n")
            err("\n".join(_printable(part) for part in parts))
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
