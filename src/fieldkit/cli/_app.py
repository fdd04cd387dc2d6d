"""The Typer application objects shared by every command module, and the CLI error convention."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from typing import Any, NoReturn
from urllib.parse import urlsplit

import typer
from typer._click import exceptions as click_errors  # Typer vendors Click
from typer.core import TyperGroup

from fieldkit import API_LEVEL, __version__

__all__ = ["app", "bench_app", "echo_json", "fail", "setup_logging", "status", "version_line"]


class _FieldkitGroup(TyperGroup):
    """The root group: usage errors follow the CLI convention (``error: ...`` on stderr, exit 2).

    Typer would print Click's usage errors in a rich box; scripts and people both read a plain
    ``error:`` line more easily, and every fieldkit command already reports its own errors so.
    """

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        def run() -> Any:
            return super(_FieldkitGroup, self).main(
                args, prog_name, complete_var, False, windows_expand_args, **extra
            )

        if not standalone_mode:
            return run()
        try:
            rv = run()
        except click_errors.NoArgsIsHelpError as exc:
            exc.show()  # the help screen, as Typer/Click print it
            sys.exit(exc.exit_code)
        except click_errors.UsageError as exc:
            typer.echo(f"error: {exc.format_message()}", err=True)
            if exc.ctx is not None:
                typer.echo(f"Try '{exc.ctx.command_path} --help' for help.", err=True)
            sys.exit(exc.exit_code)
        except click_errors.ClickException as exc:
            typer.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            typer.echo("error: aborted", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


# -h as well as --help, inherited by every subcommand through Click's context.
CONTEXT = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    cls=_FieldkitGroup,
    name="fieldkit",
    help="Verified-on-Spark patterns from the ai-field-notes blog.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion [bash|zsh|fish|powershell]
    pretty_exceptions_enable=False,
    context_settings=CONTEXT,
)

bench_app = typer.Typer(
    help="Run small benchmarks against Spark services.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(bench_app, name="bench")


def version_line() -> str:
    """``fieldkit <version> (API level <level>)``."""
    return f"fieldkit {__version__} (API level {API_LEVEL})"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of each record."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def setup_logging(verbosity: int) -> None:
    """Route the ``fieldkit.*`` loggers to stderr: -1 errors only, 0 warnings and status
    (INFO of long steps), 1+ debug. Idempotent (one handler)."""
    root = logging.getLogger("fieldkit")
    root.setLevel({-1: logging.ERROR, 0: logging.INFO}.get(verbosity, logging.DEBUG))
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)


def status(message: str) -> None:
    """A status line on stderr, through the ``fieldkit.cli`` logger: ``-q`` hides it."""
    logging.getLogger("fieldkit.cli").info(message)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(version_line())
        raise typer.Exit(0)


@app.callback()
def _root(
    verbose: int = typer.Option(
        0, "--verbose", "-v", count=True, help="More log output (-v: debug)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Errors only: no status lines."),
    _version: bool = typer.Option(
        False,
        "--version",
        callback=_show_version,
        is_eager=True,
        help="Print the version and the API level, then exit.",
    ),
) -> None:
    """Verified-on-Spark patterns from the ai-field-notes blog."""
    if quiet and verbose:
        raise typer.BadParameter("--quiet and --verbose exclude each other", param_hint="-q/-v")
    setup_logging(-1 if quiet else verbose)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: <message>`` to stderr and exit with *code* (2 = user error)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def check_url(option: str, url: str | None) -> None:
    """A service URL must be http(s)://host[...]: fail now (exit 2), not after a warm-up wait."""
    if not url:
        return
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port raises for a bad one
    except ValueError as exc:
        fail(f"{option} is not a valid URL ({exc}): {url!r}")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        fail(f"{option} must be an http(s) URL such as http://localhost:8000/v1, got {url!r}")


def check_seconds(option: str, value: float) -> None:
    """A duration must be a positive finite number of seconds (``nan`` and ``inf`` refused)."""
    if not 0 < value < float("inf"):
        fail(f"{option} must be a positive number of seconds, got {value}")


@app.command()
def version(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object."),
) -> None:
    """Print the fieldkit version and the fieldkit API level it implements."""
    if as_json:
        echo_json({"version": __version__, "api_level": API_LEVEL})
    else:
        typer.echo(version_line())


def echo_json(value: object) -> None:
    """Every ``--json`` output: pretty-printed (indent 2), UTF-8 kept, one trailing newline."""
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def echo_json_line(value: object) -> None:
    """One JSON value on one line, flushed (JSON-lines streams and outputs a script reads with one
    readline); UTF-8 kept, like :func:`echo_json`."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()
