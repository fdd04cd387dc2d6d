"""Listing, describing and dropping chunk tables on the embedded Postgres."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from fieldkit.rag import Document, Pipeline, RAGError
from fieldkit.rag._ingest_paths import IngestSummary, slow_rate_advice
from fieldkit.rag._tables import drop_table, list_tables, table_stats

from .test_server import _HashEmbedder


def test_list_stats_drop(pg_dsn: str, pg_table: str, tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A\n\nalpha text\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("beta text\n", encoding="utf-8")
    other = pg_table + "_docs"
    with Pipeline(pgvector_dsn=pg_dsn, table=pg_table, embedder=_HashEmbedder()) as pipe:
        pipe.ingest_paths([tmp_path], label="notes", progress=False)
    with Pipeline(pgvector_dsn=pg_dsn, table=other, embedder=_HashEmbedder()) as pipe:
        pipe.ensure_schema()
        pipe.ingest([Document(1, "gamma"), Document(2, "delta")], progress=False)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:  # not a chunk table: not listed
        conn.execute(f"CREATE TABLE {pg_table}_plain (id int)")

    tables = {t.name: t for t in list_tables(pg_dsn)}
    assert pg_table + "_plain" not in tables
    mine = tables[pg_table]
    assert (mine.chunks, mine.files, mine.embedder) == (2, 2, "test:hash-32")
    assert mine.vector_type == "vector(32)" and mine.bytes > 0
    assert (tables[other].chunks, tables[other].files, tables[other].embedder) == (2, 0, "")

    stats = table_stats(pg_table, pg_dsn)
    assert stats.stats["labels"] == {"notes": 2} and stats.stats["last_ingest"]
    assert stats.stats["mean_chunk_chars"] > 0 and stats.stats["indexes"]
    assert stats.to_dict()["table"] == pg_table

    dropped = drop_table(pg_table, pg_dsn)
    assert dropped.chunks == 2
    names = {t.name for t in list_tables(pg_dsn)}
    assert pg_table not in names and other in names
    with psycopg.connect(pg_dsn, autocommit=True) as conn:  # the side tables went too
        row = conn.execute("SELECT to_regclass(%s), to_regclass(%s)",
                           (f"{pg_table}_files", f"{pg_table}_spans")).fetchone()  # fmt: skip
    assert row == (None, None)
    with pytest.raises(RAGError, match="no chunk table"):
        table_stats(pg_table, pg_dsn)
    with pytest.raises(RAGError, match="invalid table name"):
        drop_table("x; drop", pg_dsn)
    drop_table(other, pg_dsn)


def test_size_counts_every_side_table_including_the_lexical_postings(
    pg_dsn: str, pg_table: str, tmp_path: Path
) -> None:
    (tmp_path / "a.md").write_text("# A\n\nalpha text\n", encoding="utf-8")
    with Pipeline(pgvector_dsn=pg_dsn, table=pg_table, embedder=_HashEmbedder()) as pipe:
        pipe.ingest_paths([tmp_path], progress=False)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        rels = [pg_table] + [f"{pg_table}_{s}" for s in ("files", "spans", "lex", "lexstats")]
        sizes = [
            conn.execute("SELECT pg_total_relation_size(to_regclass(%s))", (r,)).fetchone()
            for r in rels
        ]
    assert all(row is not None and row[0] > 0 for row in sizes), sizes
    want = sum(int(row[0]) for row in sizes if row is not None)
    assert {t.name: t.bytes for t in list_tables(pg_dsn)}[pg_table] == want
    assert table_stats(pg_table, pg_dsn).bytes == want


def test_slow_rate_advice_names_the_faster_options() -> None:
    slow = IngestSummary(chunks=500, embed_seconds=100.0)
    lines = slow_rate_advice(slow, "torch", "cpu")
    text = "\n".join(lines)
    assert "5.0 chunks/s" in lines[0]
    assert "fieldkit[onnx]" in text and "--device cuda" in text and "--embeddings" in text
    assert "onnx" not in "\n".join(slow_rate_advice(slow, "onnx", "cpu")[1:2])
    assert slow_rate_advice(IngestSummary(chunks=500, embed_seconds=5.0), "torch", "cpu") == []
    assert slow_rate_advice(IngestSummary(chunks=10, embed_seconds=100.0), "torch", "cpu") == []


def test_time_left_counts_only_the_bytes_worked_on() -> None:
    from fieldkit.rag._ingest_paths import time_left

    assert time_left(1000, 0, 0, 5.0) is None
    assert time_left(1000, 500, 500, 5.0) is None  # only skipped files so far
    assert time_left(1000, 600, 400, 10.0) == 20.0  # 200 bytes in 10 s, 400 to go
    assert time_left(1000, 1000, 0, 10.0) == 0.0
