"""The Typer application objects shared by every command module, and the CLI error convention."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import typer
from typer._click import exceptions as click_errors  # Typer vendors Click
from typer.core import TyperGroup

from fieldkit import __version__

__all__ = ["app", "bench_app", "fail"]


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


app = typer.Typer(
    cls=_FieldkitGroup,
    name="fieldkit",
    help="Verified-on-Spark patterns from the ai-field-notes blog.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

bench_app = typer.Typer(
    help="Run small benchmarks against Spark services.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(bench_app, name="bench")


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: <message>`` to stderr and exit with *code* (2 = user error)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.command()
def version() -> None:
    """Print the fieldkit version."""
    typer.echo(__version__)
