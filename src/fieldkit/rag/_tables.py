"""The chunk tables in a database: list them, describe one, drop one with its side tables.

A chunk table is any table with an ``embedding`` and a ``text`` column (what ``Pipeline``
creates). Sizes are Postgres's own (``pg_total_relation_size``: heap, indexes and TOAST) summed
over the table and its side tables. Dropping goes through ``Pipeline.drop_table`` so every side
table the pipeline keeps goes with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from fieldkit.rag._sources import side_table
from fieldkit.rag._sql import TableName, parse_table_name, table_exists
from fieldkit.rag._store import first_line
from fieldkit.rag._types import RAGError

__all__ = ["TableInfo", "drop_table", "list_tables", "resolve_dsn", "table_stats"]

# every side table the chunk table owns (file records, spans, BM25 postings and statistics)
SIDE_SUFFIXES = ("files", "spans", "lex", "lexstats")

_FIND = (
    "SELECT n.nspname, c.relname, format_type(a.atttypid, a.atttypmod) "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'embedding' "
    "AND NOT a.attisdropped "
    "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg_toast%%' AND EXISTS (SELECT 1 FROM pg_attribute b "
    "WHERE b.attrelid = c.oid AND b.attname = 'text' AND NOT b.attisdropped) "
)


@dataclass(frozen=True, slots=True)
class TableInfo:
    """One chunk table: name, chunks, files (0 when not filled from files), embedder ("" when
    unrecorded), vector type (``vector(384)``), bytes on disk; ``stats`` only from
    ``table_stats`` (labels, last ingest, mean chunk characters, indexes)."""

    name: str
    chunks: int
    files: int
    embedder: str
    vector_type: str
    bytes: int
    stats: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        out: dict[str, Any] = {
            "table": self.name,
            "chunks": self.chunks,
            "files": self.files,
            "embedder": self.embedder,
            "vector_type": self.vector_type,
            "bytes": self.bytes,
        }
        out.update(self.stats)
        return out


def resolve_dsn(dsn: str | None) -> str:
    """``dsn``, or the embedded Postgres's (started if needed)."""
    if dsn is not None:
        return dsn
    from fieldkit._embedded_pg import EmbeddedPostgresError, embedded_dsn

    try:
        return embedded_dsn()
    except EmbeddedPostgresError as exc:
        raise RAGError(str(exc)) from exc


def _connect(dsn: str) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(dsn, autocommit=True, connect_timeout=30)
    except psycopg.Error as exc:
        raise RAGError(f"cannot connect to Postgres: {first_line(exc)}") from exc


def _qualified(schema: str, name: str) -> TableName:
    return TableName(schema=None if schema == "public" else schema, name=name)


def _exists(conn: psycopg.Connection[Any], t: TableName) -> bool:
    row = conn.execute(table_exists(t)).fetchone()
    return bool(row and row[0])


def _info(conn: psycopg.Connection[Any], t: TableName, vector_type: str) -> TableInfo:
    row = conn.execute(
        sql.SQL("SELECT count(*), pg_total_relation_size({r}) FROM {t}").format(
            r=t.regclass, t=t.ident
        )
    ).fetchone()
    chunks, size = (int(row[0]), int(row[1])) if row else (0, 0)
    files, embedder = 0, ""
    for suffix in SIDE_SUFFIXES:
        side = side_table(t, suffix)
        if not _exists(conn, side):
            continue
        got = conn.execute(
            sql.SQL("SELECT pg_total_relation_size({r})").format(r=side.regclass)
        ).fetchone()
        size += int(got[0]) if got else 0
        if suffix == "files":
            rec = conn.execute(
                sql.SQL("SELECT count(*), min(embedder) FROM {f}").format(f=side.ident)
            ).fetchone()
            if rec:
                files, embedder = int(rec[0]), rec[1] or ""
    return TableInfo(t.qualified, chunks, files, embedder, vector_type, size)


def list_tables(dsn: str | None = None) -> list[TableInfo]:
    """Every chunk table in the database, by name."""
    try:
        with _connect(resolve_dsn(dsn)) as conn:
            found = conn.execute(_FIND + "ORDER BY 1, 2").fetchall()
            return [_info(conn, _qualified(s, n), vt) for s, n, vt in found]
    except psycopg.Error as exc:
        raise RAGError(f"listing chunk tables: {first_line(exc)}") from exc


def _find(conn: psycopg.Connection[Any], table: str) -> tuple[TableName, str]:
    t = parse_table_name(table)
    schema = t.schema or "public"
    row = conn.execute(_FIND + "AND n.nspname = %s AND c.relname = %s", (schema, t.name)).fetchone()
    if row is None:
        raise RAGError(f"no chunk table {t.qualified} (see `fieldkit rag list`)")
    return t, str(row[2])


def table_stats(table: str, dsn: str | None = None) -> TableInfo:
    """``TableInfo`` of ``table`` with ``stats``: chunks per label (10 largest), mean chunk
    characters, last file ingest (ISO 8601, or None) and index names. RAGError if absent."""
    try:
        with _connect(resolve_dsn(dsn)) as conn:
            t, vector_type = _find(conn, table)
            info = _info(conn, t, vector_type)
            labels = conn.execute(
                sql.SQL(
                    "SELECT label, count(*) FROM {t} GROUP BY label ORDER BY 2 DESC, 1 LIMIT 10"
                ).format(t=t.ident)
            ).fetchall()
            mean = conn.execute(
                sql.SQL("SELECT avg(length(text)) FROM {t}").format(t=t.ident)
            ).fetchone()
            indexes = conn.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = %s "
                "ORDER BY 1",
                (t.schema or "public", t.name),
            ).fetchall()
            files = side_table(t, "files")
            last = None
            if _exists(conn, files):
                got = conn.execute(
                    sql.SQL("SELECT max(ingested_at) FROM {f}").format(f=files.ident)
                ).fetchone()
                last = got[0].isoformat() if got and got[0] is not None else None
    except psycopg.Error as exc:
        raise RAGError(f"reading {table}: {first_line(exc)}") from exc
    stats = {
        "labels": {str(label): int(n) for label, n in labels},
        "mean_chunk_chars": round(float(mean[0]), 1) if mean and mean[0] is not None else 0.0,
        "last_ingest": last,
        "indexes": [str(r[0]) for r in indexes],
    }
    return TableInfo(
        info.name, info.chunks, info.files, info.embedder, info.vector_type, info.bytes, stats
    )


class _DimOnly:
    """An embedder that only knows its dimension: enough to open a pipeline to drop a table."""

    name = "none"

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def embed(self, texts: Sequence[str], *, input_type: str = "passage") -> np.ndarray[Any, Any]:
        raise RAGError("this pipeline only drops tables; it embeds nothing")

    def close(self) -> None:
        pass


def drop_table(table: str, dsn: str | None = None) -> TableInfo:
    """Drop chunk table ``table`` and its side tables; return what it held. RAGError if absent."""
    from fieldkit.rag._pipeline import Pipeline

    info = table_stats(table, dsn)
    dim = int(info.vector_type.partition("(")[2].rstrip(")") or 0)
    if dim <= 0:
        raise RAGError(f"cannot read the vector dimension of {table} ({info.vector_type})")
    with Pipeline(
        pgvector_dsn=resolve_dsn(dsn), table=table, embedder=_DimOnly(dim), embed_dim=dim
    ) as pipe:
        pipe.drop_table()
    return info
