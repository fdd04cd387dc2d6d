"""The BM25 index kept in Postgres: same scores as the in-memory reference, and in agreement
with the chunks after every kind of write (replace, delete, files removed, SIGKILL mid-COPY,
concurrent ingests, a table built before the index existed)."""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psycopg
import pytest

from fieldkit.rag import RETRIEVAL_MODES, Document, Pipeline, RAGError, _lexsql
from fieldkit.rag._lexical import Bm25Index, identifier_terms, with_identifiers
from fieldkit.rag._retrievers import RETRIEVERS

from ._hash import Hash16 as _Hash

_VOCAB = (
    "postgres vector index chunk query ranking lexical dense hybrid fusion table embed "
    "stemming running runs runner pg_stat_activity shared_buffers work_mem vacuum analyze"
)
WORDS = _VOCAB.split()


def _docs(n: int, seed: int = 3, start: int = 1) -> list[Document]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        words = rng.choice(WORDS, size=int(rng.integers(3, 25)))
        out.append(Document(start + i, " ".join(words), "even" if i % 2 == 0 else "odd"))
    return out


def _reference(pipe: Pipeline) -> Bm25Index:
    """The in-memory BM25 over the same rows (the ranking the SQL must reproduce)."""
    t = pipe.store.table.ident
    with pipe.store.connection(vector=False) as conn:
        rows = conn.execute(
            psycopg.sql.SQL(
                "SELECT id, doc_id, label, "
                "coalesce((SELECT array_agg(l.lexeme) FROM unnest(tsv) l), '{{}}'), "
                "coalesce((SELECT array_agg(coalesce(array_length(l.positions, 1), 1)) "
                "FROM unnest(tsv) l), '{{}}'), text FROM {t}"
            ).format(t=t)
        ).fetchall()
        return Bm25Index.build([with_identifiers(r) for r in rows])


def _query_terms(pipe: Pipeline, text: str) -> list[str]:
    with pipe.store.connection(vector=False) as conn:
        row = conn.execute(
            "SELECT coalesce(array_agg(lexeme), '{}') FROM unnest(to_tsvector('english', %s))",
            (text,),
        ).fetchone()
    assert row is not None
    return [*row[0], *identifier_terms(text)]


def _agrees(pipe: Pipeline) -> None:
    assert pipe.store.lexical_mismatches() == 0


@pytest.fixture
def hpipe(make_pipe: Callable[..., Pipeline]) -> Pipeline:
    p = make_pipe(embedder=_Hash(), write_batch=16)
    p.ensure_schema()
    return p


@pytest.mark.parametrize(
    "query",
    ["postgres vector", "running runner", "pg_stat_activity vacuum", "work_mem", "analyze"],
)
def test_sql_bm25_ranks_as_the_in_memory_reference(hpipe: Pipeline, query: str) -> None:
    hpipe.ingest(_docs(120))
    ref = _reference(hpipe)
    want = ref.search(_query_terms(hpipe, query), 10)
    got = [c.id for c in hpipe.retrieve(query, top_k=10, mode="lexical")]
    assert len(got) == len(want) > 0
    scores = dict(want)
    # same order wherever the reference's scores differ (ties may fall either way in float32)
    for a, b in itertools.pairwise(got):
        assert scores[a] >= scores[b] - 1e-4
    assert {cid for cid, s in want if s > want[-1][1] + 1e-4} <= set(got)


def test_label_filter_and_distances(hpipe: Pipeline) -> None:
    hpipe.ingest(_docs(60))
    odd = hpipe.retrieve("vector index", top_k=5, mode="lexical", label="odd")
    assert odd and all(c.label == "odd" and c.distance is None for c in odd)
    hybrid = hpipe.retrieve("vector index", top_k=5, mode="hybrid")
    assert hybrid and all(c.distance is not None for c in hybrid)


def test_index_agrees_after_replace_delete_update_and_truncate(hpipe: Pipeline) -> None:
    hpipe.ingest(_docs(50))
    _agrees(hpipe)
    hpipe.ingest([Document(3, "a replaced text about pg_stat_activity")])  # replaces doc 3
    _agrees(hpipe)
    assert hpipe.retrieve("replaced", top_k=3, mode="lexical")[0].doc_id == 3
    t = hpipe.store.table.ident
    with hpipe.store.connection(vector=False) as conn:
        conn.execute(psycopg.sql.SQL("DELETE FROM {t} WHERE doc_id < 10").format(t=t))
        conn.execute(
            psycopg.sql.SQL("UPDATE {t} SET text = 'updated zebra words' WHERE doc_id = 20").format(
                t=t
            )
        )
    _agrees(hpipe)
    assert [c.doc_id for c in hpipe.retrieve("zebra", top_k=3, mode="lexical")] == [20]
    with hpipe.store.connection(vector=False) as conn:
        conn.execute(psycopg.sql.SQL("TRUNCATE {t}").format(t=t))
    _agrees(hpipe)
    assert hpipe.retrieve("zebra", top_k=3, mode="lexical") == []


def test_deleted_files_leave_no_postings(
    make_pipe: Callable[..., Pipeline], tmp_path: Path
) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    for i in range(12):
        (folder / f"n{i:02d}.txt").write_text(f"note {i} mentions quokka{i} and shared words")
    pipe = make_pipe(embedder=_Hash(), write_batch=4)
    pipe.ingest_paths([folder], progress=False)
    for i in (2, 5, 7):
        (folder / f"n{i:02d}.txt").unlink()
    s = pipe.ingest_paths([folder], progress=False)
    assert s.removed == 3
    _agrees(pipe)
    assert pipe.retrieve("quokka5", top_k=5, mode="lexical") == []
    assert pipe.retrieve("quokka6", top_k=1, mode="lexical")[0].text.endswith(
        "note 6 mentions quokka6 and shared words"
    )


_ROOT = Path(__file__).resolve().parents[2]  # the child imports tests.rag._hash from here
_KILLED_CHILD = """
import os, signal, sys
import psycopg
from fieldkit.rag import Document, Pipeline
from tests.rag._hash import Hash16 as Hash

rows = []
real = psycopg.Copy.write_row
def write_row(self, row):
    rows.append(1)
    if len(rows) == 2 * 8 + 5:  # mid-COPY of the 3rd batch: its transaction is open
        os.kill(os.getpid(), signal.SIGKILL)
    return real(self, row)
psycopg.Copy.write_row = write_row
pipe = Pipeline(pgvector_dsn=sys.argv[1], table=sys.argv[2], embedder=Hash(), write_batch=8)
pipe.ensure_schema()
pipe.ingest(Document(i, f"document {i} about walrus{i} and common words") for i in range(1, 60))
"""


def test_sigkill_mid_copy_keeps_the_index_in_agreement(
    make_pipe: Callable[..., Pipeline], pg_dsn: str, pg_table: str
) -> None:
    """A real SIGKILL while a batch's COPY (and its trigger's postings) is in flight: the
    committed batches and their postings stay, the open one leaves neither."""
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_CHILD, pg_dsn, pg_table],
        cwd=_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -9, proc.stderr
    pipe = make_pipe(embedder=_Hash(), write_batch=8)
    assert pipe.count() == 16
    _agrees(pipe)
    assert [c.doc_id for c in pipe.retrieve("walrus9", top_k=3, mode="lexical")] == [9]
    assert pipe.retrieve("walrus20", top_k=3, mode="lexical") == []
    pipe.ingest(Document(i, f"document {i} about walrus{i}") for i in range(1, 60))
    _agrees(pipe)


def test_concurrent_ingests_keep_the_index_in_agreement(
    make_pipe: Callable[..., Pipeline],
) -> None:
    first = make_pipe(embedder=_Hash(), write_batch=8)
    first.ensure_schema()
    others = [make_pipe(embedder=_Hash(), write_batch=8) for _ in range(3)]
    errors: list[BaseException] = []

    def load(p: Pipeline, start: int) -> None:
        try:
            p.ingest(_docs(80, seed=start, start=start))
            p.ingest(_docs(20, seed=start + 1, start=start))  # replace some while others write
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=load, args=(p, 1000 * (i + 1))) for i, p in enumerate(others)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert first.count() == 3 * 80
    _agrees(first)


def test_a_table_built_before_the_index_gets_it_on_first_use(hpipe: Pipeline) -> None:
    hpipe.ingest(_docs(40))
    with hpipe.store.connection(vector=False) as conn:
        for stmt in _lexsql.drop(hpipe.store.table):
            conn.execute(stmt)
    legacy = Pipeline(
        pgvector_dsn=hpipe.pgvector_dsn, table=hpipe.table, embedder=_Hash()
    )  # a fresh process's pipeline
    try:
        hits = legacy.retrieve("vector index", top_k=5, mode="lexical")
        assert hits
        assert legacy.store.lexical_mismatches() == 0
        legacy.ingest([Document(999, "platypus")])  # the triggers are back too
        assert [c.id for c in legacy.retrieve("platypus", top_k=2, mode="lexical")] == [
            legacy.retrieve("platypus", top_k=1, mode="lexical")[0].id
        ]
        assert legacy.store.lexical_mismatches() == 0
    finally:
        legacy.close()


def test_rebuild_lexical_repairs_a_damaged_index(hpipe: Pipeline) -> None:
    hpipe.ingest(_docs(30))
    lex = _lexsql.lex_tables(hpipe.store.table)[0]
    with hpipe.store.connection(vector=False) as conn:
        conn.execute(psycopg.sql.SQL("DELETE FROM {l} WHERE id % 2 = 0").format(l=lex.ident))
    assert hpipe.store.lexical_mismatches() > 0
    hpipe.store.rebuild_lexical()
    _agrees(hpipe)


def test_drop_table_drops_the_index(hpipe: Pipeline) -> None:
    hpipe.ingest(_docs(5))
    hpipe.drop_table()
    lex, stats, _ = _lexsql.lex_tables(hpipe.store.table)
    with hpipe.store.connection(vector=False) as conn:
        row = conn.execute(
            "SELECT to_regclass(%s), to_regclass(%s)",
            (lex.ident.as_string(None), stats.ident.as_string(None)),
        ).fetchone()
    assert row == (None, None)


# -- the configuration and the retriever registry ----------------------------------------------


def test_settings_are_validated_when_assigned(make_pipe: Callable[..., Pipeline]) -> None:
    p = make_pipe(embedder=_Hash())
    with pytest.raises(ValueError, match="fusion must be one of document, chunk; got 'typo'"):
        p.fusion = "typo"
    assert p.fusion == "document" and p.config.fusion == "document"
    p.fusion = "chunk"
    assert p.config.fusion == "chunk"
    with pytest.raises(ValueError, match="weights"):
        p.fusion_weights = (1.0,)  # type: ignore[assignment]
    with pytest.raises(ValueError, match="lexical must be one of"):
        p.lexical = "bm26"
    with pytest.raises(ValueError, match="fusion_k"):
        p.fusion_k = -1


@pytest.mark.parametrize(
    ("name", "value"),
    [("embed_url", "http://x"), ("embed_dim", 8), ("timeout", 1.0), ("embedder", None)],
)
def test_construction_bound_settings_are_refused(
    make_pipe: Callable[..., Pipeline], name: str, value: object
) -> None:
    p = make_pipe(embedder=_Hash())
    with pytest.raises(AttributeError, match=f"Pipeline.{name} is fixed at construction"):
        setattr(p, name, value)


def test_assigning_table_or_dsn_moves_the_pipeline_there(
    make_pipe: Callable[..., Pipeline], pg_dsn: str, pg_table: str
) -> None:
    """As in 0.3.0, which read both at every call: the next call uses the new table."""
    p = make_pipe(embedder=_Hash())
    p.ensure_schema()
    p.ingest([Document(1, "first table words")])
    p.table = pg_table + "_b"
    assert p.table_name == pg_table + "_b" and p.config.table == pg_table + "_b"
    try:
        p.ensure_schema()
        assert p.count() == 0
        p.ingest([Document(2, "second table words")])
        assert [c.doc_id for c in p.retrieve("words", top_k=5, mode="lexical")] == [2]
        p.pgvector_dsn = pg_dsn
        p.table = pg_table
        assert [c.doc_id for c in p.retrieve("words", top_k=5, mode="lexical")] == [1]
    finally:
        p.table = pg_table + "_b"
        p.drop_table()
    with pytest.raises(RAGError, match="table name"):
        p.table = "bad name"
    assert p.table == pg_table + "_b"


def test_invalid_construction_names_the_setting() -> None:
    with pytest.raises(ValueError, match="fusion must be one of"):
        Pipeline(embedder=_Hash(), fusion="typo")  # type: ignore[arg-type]
    with pytest.raises(RAGError, match="table name"):
        Pipeline(embedder=_Hash(), table="bad name")  # type: ignore[arg-type]


def test_every_mode_has_one_registered_retriever() -> None:
    assert set(RETRIEVERS) == set(RETRIEVAL_MODES)
