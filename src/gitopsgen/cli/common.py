"""What every command shares: the config, format, path and colour options, printing
results, error handling and exit codes."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from gitopsgen.report import Rendered

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_DRIFT, EXIT_INVALID, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C
EXIT_BROKEN_PIPE = 128 + int(getattr(signal, "SIGPIPE", 13))  # 141, as `yes | head` reports

FORMAT_NAMES = ("auto", "text", "json", "github", "markdown")


def config_option(f: F) -> F:
    from gitopsgen.cli.complete import complete_config

    return click.option(
        "-c",
        "--config",
        "config",
        default=None,
        metavar="PATH",
        type=click.Path(dir_okay=True, readable=False, path_type=str),  # load() says why
        shell_complete=complete_config,
        help="Path of tenants.yaml.  [default: the nearest tenants.yaml from the current "
        "directory up to the repository root]",
    )(f)


def format_option(command: str, help_text: str) -> Callable[[F], F]:
    """``--format`` with the names of :data:`gitopsgen.report.FORMATS` for ``command``,
    plus ``auto`` (github under GitHub Actions when the command has it, else text)."""
    from gitopsgen.report import FORMATS

    names = ("auto", *FORMATS[command])

    def decorate(f: F) -> F:
        return click.option(
            "--format",
            "fmt",
            type=click.Choice(names),
            default="auto",
            show_default=True,
            help=help_text + " auto: github when GITHUB_ACTIONS=true, else text.",
        )(f)

    return decorate


# Settings of this process that options set and the error path reads.
SETTINGS: dict[str, bool] = {"absolute": False}


def _set_absolute(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        SETTINGS["absolute"] = True
    return value


def absolute_option(f: F) -> F:
    return click.option(
        "--absolute",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_set_absolute,
        help="Show absolute paths (default: relative to the repository root).",
    )(f)


def resolve_config(config: str | None) -> str:
    """The tenants.yaml a command reads: -c PATH, else the nearest one up to the
    repository root (:func:`gitopsgen.api.find_config`), shown relative to the
    working directory when inside it."""
    from gitopsgen.api import config_path
    from gitopsgen.report import shown

    return config if config is not None else shown(config_path(None))


def err(message: str) -> None:
    click.echo(message, err=True)


def emit(rendered: Rendered) -> None:
    """Print a rendered result (report on standard output, diagnostics on standard
    error) and exit with its code."""
    try:
        for chunk in _chunks(rendered.out):
            click.echo(chunk, nl=False)
    except BrokenPipeError:
        sys.exit(_quiet_broken_pipe())
    if rendered.err:
        click.echo(rendered.err, nl=False, err=True)
    if rendered.exit_code:
        sys.exit(rendered.exit_code)


def _chunks(text: str, size: int = 1 << 16) -> list[str]:
    """``text`` in pieces of whole lines of about ``size`` characters. CPython's buffered
    stdout takes one large write that a closed pipe cuts short as if it had succeeded
    (the rest is dropped, no error); written in pieces, the next piece raises EPIPE."""
    if len(text) <= size:
        return [text] if text else []
    pieces: list[str] = []
    start = 0
    while start < len(text):
        end = text.find("\n", start + size)
        end = len(text) if end < 0 else end + 1
        pieces.append(text[start:end])
        start = end
    return pieces


def colour_wanted(choice: str, env: dict[str, str] | os._Environ[str] | None = None) -> bool | None:
    """--color always/never win; then NO_COLOR (https://no-color.org: set and not
    empty) turns colour off; else None: click colours only a terminal."""
    env = os.environ if env is None else env
    if choice == "always":
        return True
    if choice == "never" or env.get("NO_COLOR"):
        return False
    return None


def _quiet_broken_pipe() -> int:
    """Standard output's reader went away (``gitopsgen ips | head -3``): stop quietly.
    Point stdout at /dev/null so that the interpreter's final flush does not fail
    again (https://docs.python.org/3/library/signal.html#note-on-sigpipe)."""
    with contextlib.suppress(Exception):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return EXIT_BROKEN_PIPE


def _print_invalid(exc: Any) -> None:
    """Invalid input of any command, through the one reporter: one line per problem
    (a newline or control character quoted from tenants.yaml printed escaped), paths
    relative to the repository root."""
    from gitopsgen.report import Paths, invalid_report, render, repository_root

    problems = exc.problems
    label = problems[0].path if problems else "tenants.yaml"
    paths = Paths(repository_root(label), SETTINGS["absolute"])
    rendered = render(invalid_report("", label, exc, paths), "text")
    click.echo(rendered.err, nl=False, err=True)


def run_cli(group: click.Group, argv: list[str] | None) -> Any:
    """Run the group; turn gitopsgen errors into messages and exit codes."""
    from gitopsgen.errors import ConfigError, GitopsgenError
    from gitopsgen.report import printable

    SETTINGS["absolute"] = False
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    for stream in (sys.stdout, sys.stderr):
        # A path may hold bytes that are not UTF-8 (surrogates): print them escaped.
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(Exception):
                reconfigure(errors="backslashreplace")
    try:
        try:
            result = group.main(args=argv, prog_name="gitopsgen", standalone_mode=False)
            if type(sys.stdout).__name__ == "_PacifyFlushWrapper":
                # click met EPIPE outside emit() and silenced the stream; the exit
                # status must still say that the output was cut short.
                sys.exit(_quiet_broken_pipe())
            sys.stdout.flush()
            return result
        except SystemExit:
            sys.stdout.flush()
            raise
    except BrokenPipeError:
        sys.exit(_quiet_broken_pipe())
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_INVALID)
    except click.Abort as exc:
        # click turns Ctrl-C inside a command into Abort (from KeyboardInterrupt).
        err("Interrupted." if isinstance(exc.__cause__, KeyboardInterrupt) else "Aborted.")
        sys.exit(EXIT_INTERRUPTED)
    except ConfigError as exc:
        _print_invalid(exc)
        sys.exit(exc.exit_code)
    except GitopsgenError as exc:
        for line in exc.lines():
            # One line per problem: a newline or control character quoted from
            # tenants.yaml (a key, a value) is printed escaped, never raw.
            err("\n".join(printable(part) for part in line.split("\n")))
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err("Interrupted.")
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:
        if debug:
            raise
        err(f"gitopsgen: internal error: {type(exc).__name__}: {exc}")
        err("This is a bug; rerun with --debug for a traceback and report it.")
        sys.exit(EXIT_INTERNAL)
