"""The Typer application objects shared by every command module, and the CLI error convention."""

from __future__ import annotations

from typing import NoReturn

import typer

from fieldkit import __version__

__all__ = ["app", "bench_app", "fail"]

app = typer.Typer(
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
