"""The two side tables of a chunk table that was filled from files, and their SQL.

``<table>_files``: one row per ingested file (path, document id, content hash, title, chunk
count, embedder and dimension); ``<table>_spans``: per chunk id, the heading path, the character
span in the source, and the source line, HTML anchor and PDF page. A file's row is written
after its chunks, so a run interrupted in between re-ingests that
file next time (chunk ids derive from the document id, so this replaces, never duplicates).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, LiteralString

import psycopg
from psycopg import sql

from fieldkit.rag._lexsql import side_table
from fieldkit.rag._sql import table_exists
from fieldkit.rag._store import Store, db_error
from fieldkit.rag._types import Source

__all__ = ["FileRecord", "SourceTables", "side_table"]

_SEP = "\x1f"  # heading-path separator inside the TEXT column (unit separator)


@dataclass(frozen=True, slots=True)
class FileRecord:
    path: str
    doc_id: int
    sha256: str
    chunks: int
    embedder: str
    dim: int


class SourceTables:
    """Reads and writes the ``_files`` and ``_spans`` tables of one chunk table."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.files = side_table(store.table, "files")
        self.spans = side_table(store.table, "spans")

    def _read_files(self, query: LiteralString) -> list[tuple[Any, ...]]:
        """The rows of ``query`` over the files table (``{f}``); none when it does not exist."""
        try:
            with self.store.connection(vector=False) as conn:
                found = conn.execute(table_exists(self.files)).fetchone()
                if not found or not found[0]:
                    return []
                return conn.execute(sql.SQL(query).format(f=self.files.ident)).fetchall()
        except psycopg.Error as exc:
            raise db_error(f"reading {self.files.qualified}", exc) from exc

    def exists(self) -> bool:
        with self.store.connection(vector=False) as conn:
            row = conn.execute(table_exists(self.spans)).fetchone()
        return bool(row and row[0])

    def ensure(self) -> None:
        stmts = [
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {f} (path TEXT PRIMARY KEY, doc_id BIGINT NOT NULL "
                "UNIQUE, sha256 TEXT NOT NULL, bytes BIGINT, title TEXT, chunks INTEGER, "
                "embedder TEXT NOT NULL, dim INTEGER NOT NULL, "
                "ingested_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            ).format(f=self.files.ident),
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {s} (id BIGINT PRIMARY KEY, doc_id BIGINT NOT NULL, "
                "heading TEXT, char_start INTEGER, char_end INTEGER)"
            ).format(s=self.spans.ident),
            sql.SQL(
                "ALTER TABLE {s} ADD COLUMN IF NOT EXISTS line INTEGER, "
                "ADD COLUMN IF NOT EXISTS anchor TEXT, ADD COLUMN IF NOT EXISTS page INTEGER"
            ).format(s=self.spans.ident),
            sql.SQL("CREATE INDEX IF NOT EXISTS {i} ON {s} (doc_id)").format(
                i=sql.Identifier(f"{self.spans.name[:50]}_doc"), s=self.spans.ident
            ),
        ]
        try:
            with self.store.connection(vector=False) as conn:
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.files.qualified,))
                for stmt in stmts:
                    conn.execute(stmt)
        except psycopg.Error as exc:
            raise db_error(f"creating {self.files.qualified}", exc) from exc

    def drop(self) -> None:
        """Drop both side tables (if they exist)."""
        try:
            with self.store.connection(vector=False) as conn:
                for t in (self.spans, self.files):
                    conn.execute(sql.SQL("DROP TABLE IF EXISTS {t}").format(t=t.ident))
        except psycopg.Error as exc:
            raise db_error(f"dropping {self.files.qualified}", exc) from exc

    def embedders(self) -> list[tuple[str, int]]:
        """The distinct (embedder, dim) pairs recorded (none when the table does not exist)."""
        rows = self._read_files("SELECT DISTINCT embedder, dim FROM {f} LIMIT 5")
        return [(str(r[0]), int(r[1])) for r in rows]

    def records(self) -> dict[str, FileRecord]:
        rows = self._read_files("SELECT path, doc_id, sha256, chunks, embedder, dim FROM {f}")
        return {
            r[0]: FileRecord(r[0], int(r[1]), r[2], int(r[3] or 0), r[4], int(r[5])) for r in rows
        }

    def record(
        self,
        files: Sequence[tuple[str, int, str, int, str, int]],
        spans: Sequence[tuple[int, int, tuple[str, ...], int, int, int, str, int]] | None,
        *,
        embedder: str,
        dim: int,
    ) -> None:
        """In one transaction: replace the spans of these documents and upsert their file rows.

        ``files``: (path, doc_id, sha256, bytes, title, chunks); ``spans``: (chunk id, doc_id,
        heading path, start, end, line, anchor, page), or None to keep the stored spans.
        """
        doc_ids = [f[1] for f in files]
        try:
            with self.store.connection(vector=False) as conn, conn.cursor() as cur:
                if spans is not None:
                    cur.execute(
                        sql.SQL("DELETE FROM {s} WHERE doc_id = ANY(%s)").format(
                            s=self.spans.ident
                        ),
                        (doc_ids,),
                    )
                if spans:
                    with cur.copy(
                        sql.SQL(
                            "COPY {s} (id, doc_id, heading, char_start, char_end, line, anchor, "
                            "page) FROM STDIN"
                        ).format(s=self.spans.ident)
                    ) as copy:
                        for cid, did, heading, start, end, line, anchor, page in spans:
                            copy.write_row(
                                (cid, did, _SEP.join(heading), start, end, line, anchor, page)
                            )
                cur.executemany(
                    sql.SQL(
                        "INSERT INTO {f} (path, doc_id, sha256, bytes, title, chunks, embedder, "
                        "dim) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (path) DO "
                        "UPDATE SET doc_id = EXCLUDED.doc_id, sha256 = EXCLUDED.sha256, "
                        "bytes = EXCLUDED.bytes, title = EXCLUDED.title, chunks = "
                        "EXCLUDED.chunks, embedder = EXCLUDED.embedder, dim = EXCLUDED.dim, "
                        "ingested_at = now()"
                    ).format(f=self.files.ident),
                    [(*f, embedder, dim) for f in files],
                )
        except psycopg.Error as exc:
            raise db_error(f"recording sources in {self.files.qualified}", exc) from exc

    def remove(self, paths: Sequence[str]) -> int:
        """Delete the chunks, spans and file rows of ``paths``; the number of chunks removed."""
        if not paths:
            return 0
        try:
            with self.store.connection(vector=False) as conn, conn.cursor() as cur:
                cur.execute(
                    sql.SQL("SELECT doc_id FROM {f} WHERE path = ANY(%s)").format(
                        f=self.files.ident
                    ),
                    (list(paths),),
                )
                doc_ids = [int(r[0]) for r in cur.fetchall()]
                cur.execute(
                    sql.SQL("DELETE FROM {t} WHERE doc_id = ANY(%s)").format(
                        t=self.store.table.ident
                    ),
                    (doc_ids,),
                )
                removed = cur.rowcount
                cur.execute(
                    sql.SQL("DELETE FROM {s} WHERE doc_id = ANY(%s)").format(s=self.spans.ident),
                    (doc_ids,),
                )
                cur.execute(
                    sql.SQL("DELETE FROM {f} WHERE path = ANY(%s)").format(f=self.files.ident),
                    (list(paths),),
                )
        except psycopg.Error as exc:
            raise db_error(f"removing files from {self.store.table.qualified}", exc) from exc
        return max(removed, 0)

    def sources(self, ids: Sequence[int]) -> dict[int, Source]:
        """Chunk id → Source for the ids that came from files."""
        if not ids:
            return {}
        try:
            with self.store.connection(vector=False) as conn:
                rows = conn.execute(
                    sql.SQL(
                        "SELECT s.id, f.path, f.title, s.heading, s.char_start, s.char_end, "
                        "s.line, s.anchor, s.page "
                        "FROM {s} s JOIN {f} f ON f.doc_id = s.doc_id WHERE s.id = ANY(%s)"
                    ).format(s=self.spans.ident, f=self.files.ident),
                    (list(ids),),
                ).fetchall()
        except psycopg.Error as exc:
            raise db_error(f"reading sources of {self.store.table.qualified}", exc) from exc
        return {
            int(r[0]): Source(
                path=r[1],
                title=r[2] or "",
                heading=tuple(h for h in (r[3] or "").split(_SEP) if h),
                start=int(r[4] or 0),
                end=int(r[5] or 0),
                line=int(r[6] or 0),
                anchor=r[7] or "",
                page=int(r[8] or 0),
            )
            for r in rows
        }
