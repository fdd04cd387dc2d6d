"""fieldkit.lineage — the append-only trial log and the lineage prompt of autonomous research runs.

Pure standard library at import (``psycopg`` is imported only when a
``PostgresLineageStore`` is used). Drop-in compatible with the published fieldkit lineage surface.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fieldkit.lineage._base import RENDER_STYLES, RenderStyle, normalize_style
from fieldkit.lineage._labels import FailureLabel
from fieldkit.lineage._policy import MalformedRowWarning
from fieldkit.lineage._recipe import RecipeEdit
from fieldkit.lineage._snapshot import LineageSnapshot
from fieldkit.lineage._store import LineageStore
from fieldkit.lineage._trial import Trial

if TYPE_CHECKING:
    from fieldkit.lineage._pg_store import PostgresLineageStore

__all__ = [
    "RENDER_STYLES",
    "FailureLabel",
    "LineageSnapshot",
    "LineageStore",
    "MalformedRowWarning",
    "PostgresLineageStore",
    "RecipeEdit",
    "RenderStyle",
    "Trial",
    "normalize_style",
]


def __getattr__(name: str) -> Any:
    if name == "PostgresLineageStore":
        from fieldkit.lineage._pg_store import PostgresLineageStore

        return PostgresLineageStore
    raise AttributeError(f"module 'fieldkit.lineage' has no attribute {name!r}")
