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
from fieldkit._status import STATUS_KEY

__all__ = [
    "app",
    "bench_app",
    "command_group",
    "detail",
    "echo_json",
    "fail",
    "note_done",
    "setup_logging",
    "status",
    "version_line",
]


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

        _plain_help(self)
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

    def invoke(self, ctx: Any) -> Any:
        """Ctrl-C in any command: its cleanup runs (``finally``), then one line saying what
        was done, and exit 130 (the shell convention for SIGINT)."""
        words = _command_words(self, [*ctx._protected_args, *ctx.args])
        _DONE.clear()
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            done = f"; {_DONE[-1]}" if _DONE else ""
            typer.echo(f"interrupted: fieldkit {' '.join(words)} stopped{done}", err=True)
            raise typer.Exit(130) from None


#: What the running command has finished so far, for the line Ctrl-C prints (``note_done``).
_DONE: list[str] = []


def note_done(what: str) -> None:
    """Record what the running command has done so far (e.g. "ingested 3 of 10 files"); Ctrl-C
    prints the latest note."""
    _DONE.append(what)


def _command_words(group: Any, args: Sequence[str]) -> list[str]:
    """The command words at the start of *args* (``["rag", "ingest"]``)."""
    words: list[str] = []
    cmd = group
    for arg in args:
        sub = getattr(cmd, "commands", {}).get(arg)
        if sub is None:
            break
        words.append(arg)
        cmd = sub
    return words


def _plain_help(group: Any) -> None:
    """Help without ``<bool>``/``<int>`` tags: flags show nothing, value options the classic
    upper-case placeholder (INTEGER, FLOAT, PATH, TEXT) or their choices."""
    stack = [group]
    while stack:
        cmd = stack.pop()
        for param in cmd.params:
            _plain_param(param)
        if not getattr(cmd, "_fieldkit_plain_help", False):
            cmd.get_help_option = _plain_help_option(cmd.get_help_option)
            cmd._fieldkit_plain_help = True
        stack.extend(getattr(cmd, "commands", {}).values())


def _plain_param(param: Any) -> None:
    if getattr(param, "metavar", None) is None:
        label = _placeholder(param)
        param.display_type_rich = lambda ctx, label=label: label


def _plain_help_option(make: Any) -> Any:
    def get_help_option(ctx: Any) -> Any:
        option = make(ctx)
        if option is not None:
            _plain_param(option)
        return option

    return get_help_option


def _placeholder(param: Any) -> str | None:
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    desc = getattr(param, "type_descriptor", None)
    if desc is None:
        return None
    if desc.is_choice:
        return "|".join(str(c) for c in desc.choices or ())
    if desc.is_path:
        return "PATH"
    kind = {int: "INTEGER", float: "FLOAT"}.get(desc.annotation, "TEXT")
    return f"{kind}..." if getattr(param, "nargs", 1) != 1 else kind


#: What ``fieldkit --help`` says fieldkit is.
TAGLINE = (
    "fieldkit: tools for LLM experiments on one local GPU box - serve a model, RAG over your "
    "files, benchmark, evaluate, and track trial lineage."
)

# -h as well as --help, inherited by every subcommand through Click's context.
CONTEXT = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    cls=_FieldkitGroup,
    name="fieldkit",
    help=TAGLINE,
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion [bash|zsh|fish|powershell]
    pretty_exceptions_enable=False,
    context_settings=CONTEXT,
)


def command_group(name: str, help: str) -> typer.Typer:
    """``fieldkit NAME ...``: a group of subcommands; without one it prints its help."""
    group = typer.Typer(help=help, no_args_is_help=True, add_completion=False)
    app.add_typer(group, name=name)
    return group


bench_app = command_group(
    "bench", "Benchmarks: RAG on your corpus (bench rag) and serving load (bench serve)."
)


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


class _Verbosity(logging.Filter):
    """What reaches stderr: warnings and errors always; at the default level, status lines
    only (the CLI's own, and library lines marked ``extra=STATUS``); -v every INFO line."""

    def __init__(self, verbosity: int) -> None:
        super().__init__()
        self.verbosity = verbosity

    def filter(self, record: logging.LogRecord) -> bool:
        if self.verbosity >= 1 or record.levelno >= logging.WARNING:
            return True
        return record.name == "fieldkit.cli" or bool(getattr(record, STATUS_KEY, False))


def setup_logging(verbosity: int) -> None:
    """Route the ``fieldkit.*`` loggers to stderr: -1 (``-q``) errors only, 0 warnings and
    status lines, 1 (``-v``) every INFO line, 2+ (``-vv``) DEBUG. Idempotent (one handler)."""
    root = logging.getLogger("fieldkit")
    level = {-1: logging.ERROR, 0: logging.INFO, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    root.setLevel(level)
    handler = next((h for h in root.handlers if isinstance(h, _StderrHandler)), None)
    if handler is None:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
    for old in [f for f in handler.filters if isinstance(f, _Verbosity)]:
        handler.removeFilter(old)
    handler.addFilter(_Verbosity(verbosity))


def status(message: str) -> None:
    """A status line on stderr, through the ``fieldkit.cli`` logger: ``-q`` hides it."""
    logging.getLogger("fieldkit.cli").info(message)


def detail(message: str) -> None:
    """A detail line on stderr, shown with ``-v`` only."""
    logging.getLogger("fieldkit.cli.detail").info(message)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(version_line())
        raise typer.Exit(0)


@app.callback()
def _root(
    verbose: int = typer.Option(
        0, "--verbose", "-v", count=True, help="More log lines: -v info, -vv debug."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Errors only: no status lines."),
    _version: bool = typer.Option(
        False,
        "--version",
        "-V",
        callback=_show_version,
        is_eager=True,
        help="Print the version and the API level, then exit.",
    ),
) -> None:
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
