"""The ``fieldkit`` command line (Typer). ``app`` is the console-script entry point."""

from __future__ import annotations

# Importing the command modules registers their commands on ``app``.
from fieldkit.cli import (  # noqa: F401
    _bench_serve,
    _capabilities,
    _eval,
    _lineage,
    _lineage_view,
    _nim,
    _pg,
    _rag,
    _rag_docs,
    _rag_serve,
    _research,
    _serve,
)
from fieldkit.cli._app import app, bench_app

__all__ = ["app", "bench_app", "main"]


def main() -> None:
    """Run the command line."""
    app()
