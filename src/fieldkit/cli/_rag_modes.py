"""The ``--mode`` option of the rag commands, typed by the retrieval modes the library accepts."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

__all__ = ["ModeOpt", "RetrievalModeName"]

#: ``fieldkit.rag.RetrievalMode``, spelled here so the CLI starts without importing
#: ``fieldkit.rag`` (psycopg, numpy); tests/cli/test_rag_docs_cli.py holds the two equal.
RetrievalModeName = Literal["dense", "lexical", "hybrid"]

ModeOpt = Annotated[
    RetrievalModeName,
    typer.Option("--mode", help="Retrieval mode: dense (vectors), lexical (words), or both fused."),
]
