"""fieldkit.rag store: COPY ingest + HNSW retrieval vs the 0.3.0 style, on one Postgres.

Data: ``N`` precomputed random unit vectors (dim 384, seeded) drawn around ``N/100`` random
centres, as real embeddings cluster by topic; queries are noisy copies of stored vectors.
(Uniformly random vectors on the 384-sphere have no neighbourhood structure: no ANN index
reaches high recall on them, and no embedding model produces them.)

- ingest: ``Pipeline.ingest`` (batched binary COPY; on an empty table the HNSW index is built
  once at the end, and its build time is included) vs 0.3.0's one ``execute`` per row with a
  6-decimal text literal and ``ON CONFLICT DO UPDATE``, measured on a subset as a rate.
- retrieve: ``Pipeline.retrieve`` (pooled connection, HNSW, ``ef_search`` 100) vs 0.3.0's new
  connection per call and an exact sequential scan of a 0.3.0-schema copy of the table.
- ``vector_storage="halfvec"`` vs the default ``vector`` on the same clustered data: HNSW build
  time, index size and recall@10 against exact (numpy) top-10.
- recall@10 of the index against the exact scan's results — on the CLUSTERED vectors above,
  where it is ~1.0 at the default ``ef_search`` 100; and, stated separately, on UNIFORM random
  unit vectors (10,000; 5,000 with ``--quick``) at ``ef_search`` 40 / 100 / 400, where it is much
  lower (~0.8 at 100): uniform points in 384-d have no near neighbours for a graph to follow.
  ``Pipeline(ef_search=...)`` (changeable between calls) is the knob.

Runs on ``$FIELDKIT_BENCH_DSN`` if set, else a throw-away embedded Postgres.
"""

from __future__ import annotations

import atexit
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from benchmarks._table import Row

DESCRIPTION = (
    "rag store: COPY ingest vs row-by-row upsert, HNSW retrieve vs exact scan with a "
    "connection per call, recall@10 (dim 384)"
)

DIM = 384
TOP_K = 10
UNIFORM_EF = (40, 100, 400)


class _Precomputed:
    """An ``Embedder`` that returns precomputed vectors: ``"chunk <i>"`` → X[i],
    ``"query <j>"`` → Q[j] (so the benchmark measures the store, not a model)."""

    def __init__(self, passages: np.ndarray, queries: np.ndarray) -> None:
        self._p = passages
        self._q = queries

    @property
    def dim(self) -> int:
        return DIM

    def embed(self, texts: Sequence[str], *, input_type: str = "passage") -> np.ndarray:
        rows = []
        for t in texts:
            kind, _, idx = t.partition(" ")
            if not idx.isdigit():  # ensure_schema's probe of the vector size
                rows.append(self._p[0])
                continue
            rows.append((self._q if kind == "query" else self._p)[int(idx)])
        return np.asarray(rows, dtype=np.float32)

    def close(self) -> None:
        pass


def _data(n: int, n_queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(n // 100, 10), DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    noise = 0.6 / np.sqrt(DIM)
    x = centres[rng.integers(0, len(centres), n)]
    x = x + rng.standard_normal((n, DIM)).astype(np.float32) * noise
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = x[rng.integers(0, n, n_queries)]
    q = q + rng.standard_normal((n_queries, DIM)).astype(np.float32) * noise
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return x.astype(np.float32), q.astype(np.float32)


def _dsn() -> str:
    env = os.environ.get("FIELDKIT_BENCH_DSN")
    if env:
        return env
    from fieldkit._embedded_pg import embedded_dsn

    home = Path(tempfile.mkdtemp(prefix="fk-bench-rag-"))
    home.chmod(0o755)  # pgserver may run the server as its own user
    # Registered before pgserver's own exit hook, so it runs after the server has stopped.
    atexit.register(shutil.rmtree, home, True)
    return embedded_dsn(home / "pgdata")


def _vec_literal(v: np.ndarray) -> str:
    """0.3.0's vector literal: 6 fixed decimals, no spaces."""
    return "[" + ",".join(f"{x:.6f}" for x in v.tolist()) + "]"


def _baseline_ingest(dsn: str, table: str, x: np.ndarray) -> float:
    """0.3.0 style: one connection, one execute per row (text literal), one commit. rows/s."""
    with psycopg.connect(dsn) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(
            f"CREATE TABLE {table} (id BIGINT PRIMARY KEY, label TEXT, text TEXT NOT NULL, "
            f"embedding vector({DIM}) NOT NULL)"
        )
        conn.commit()
        t0 = time.perf_counter()
        with conn.cursor() as cur:
            for i, v in enumerate(x):
                cur.execute(
                    f"INSERT INTO {table} (id, label, text, embedding) VALUES "
                    "(%s, %s, %s, %s::vector) ON CONFLICT (id) DO UPDATE SET "
                    "label = EXCLUDED.label, text = EXCLUDED.text, "
                    "embedding = EXCLUDED.embedding",
                    (i, "", f"chunk {i}", _vec_literal(v)),
                )
        conn.commit()
        elapsed = time.perf_counter() - t0
        conn.execute(f"DROP TABLE {table}")
    return len(x) / elapsed


def _baseline_retrieve(dsn: str, table: str, q: np.ndarray) -> tuple[list[float], list[list[int]]]:
    """0.3.0 style: a new connection per call, exact scan, vector literal sent twice."""
    lat: list[float] = []
    results: list[list[int]] = []
    for v in q:
        lit = _vec_literal(v)
        t0 = time.perf_counter()
        conn = psycopg.connect(dsn)
        try:
            rows = conn.execute(
                f"SELECT id, label, text, embedding <=> %s::vector AS distance FROM {table} "
                "ORDER BY embedding <=> %s::vector LIMIT %s",
                (lit, lit, TOP_K),
            ).fetchall()
        finally:
            conn.close()
        lat.append((time.perf_counter() - t0) * 1000)
        results.append([int(r[0]) for r in rows])
    return lat, results


def _uniform_recall(dsn: str, n: int, n_queries: int) -> dict[int, float]:
    """recall@10 of HNSW vs exact (numpy) on uniform random unit vectors, per ef_search."""
    from fieldkit.rag import Document, Pipeline

    rng = np.random.default_rng(1)
    v = rng.standard_normal((n + n_queries, DIM)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    x, q = v[:n], v[n:]
    exact = [set(np.argsort(-(x @ qv))[:TOP_K].tolist()) for qv in q]
    emb: Any = _Precomputed(x, q)
    out: dict[int, float] = {}
    with Pipeline(pgvector_dsn=dsn, table="fk_bench_rag_uniform", embedder=emb) as pipe:
        pipe.drop_table()
        pipe.ensure_schema()
        pipe.write_batch = 2048
        pipe.ingest((Document(i, f"chunk {i}") for i in range(n)), progress=False)
        for ef in UNIFORM_EF:
            pipe.ef_search = ef
            got = [{c.id for c in pipe.retrieve(f"query {j}", top_k=TOP_K)} for j in range(len(q))]
            out[ef] = statistics.fmean(len(g & e) / TOP_K for g, e in zip(got, exact, strict=True))
        pipe.drop_table()
    return out


def _p(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def run(quick: bool) -> list[Row]:
    from fieldkit.rag import Document, Pipeline

    n = 10_000 if quick else 100_000
    n_base_ingest = 2_000 if quick else 10_000
    n_queries = 50 if quick else 200
    x, q = _data(n, n_queries)
    dsn = _dsn()
    ours_t, base_t = "fk_bench_rag_ours", "fk_bench_rag_exact"
    emb: Any = _Precomputed(x, q)
    rows: list[Row] = []
    with Pipeline(pgvector_dsn=dsn, table=ours_t, embedder=emb, write_batch=2048) as pipe:
        pipe.drop_table()
        pipe.ensure_schema()
        docs = (Document(i, f"chunk {i}") for i in range(n))
        t0 = time.perf_counter()
        written = pipe.ingest(docs, progress=False)
        total_s = time.perf_counter() - t0
        index_s = pipe.last_ingest["index_build_seconds"]
        base_rate = _baseline_ingest(dsn, "fk_bench_rag_rowwise", x[:n_base_ingest])
        label = "0.3.0 row-by-row upsert, no index"
        note = f"baseline rate on {n_base_ingest:,} rows"
        rows.append(
            Row(
                f"ingest rate, {n:,} chunks (COPY)",
                written / (total_s - index_s),
                base_rate,
                "rows/s",
                better="higher",
                baseline_label=label,
                note=note,
            )
        )
        rows.append(
            Row(
                "ingest rate, total incl. HNSW index build",
                written / total_s,
                base_rate,
                "rows/s",
                better="higher",
                baseline_label=label,
                note=f"index build {index_s:.1f} s of {total_s:.1f} s; 0.3.0 builds none",
            )
        )

        with psycopg.connect(dsn) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {base_t}")
            conn.execute(
                f"CREATE TABLE {base_t} AS SELECT id, label, text, embedding FROM {ours_t}"
            )
            conn.execute(f"ALTER TABLE {base_t} ADD PRIMARY KEY (id)")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"VACUUM ANALYZE {ours_t}")
            conn.execute(f"VACUUM ANALYZE {base_t}")

        for j in range(min(10, n_queries)):  # warm the pool, caches and the plan
            pipe.retrieve(f"query {j}", top_k=TOP_K)
        ours_lat: list[float] = []
        ours_ids: list[list[int]] = []
        for j in range(n_queries):
            t0 = time.perf_counter()
            got = pipe.retrieve(f"query {j}", top_k=TOP_K)
            ours_lat.append((time.perf_counter() - t0) * 1000)
            ours_ids.append([c.id for c in got])
        _baseline_retrieve(dsn, base_t, q[: min(5, n_queries)])  # warm the OS cache
        base_lat, exact_ids = _baseline_retrieve(dsn, base_t, q)
        pipe.drop_table()
    with psycopg.connect(dsn) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {base_t}")

    recall = statistics.fmean(
        len(set(o) & set(e)) / TOP_K for o, e in zip(ours_ids, exact_ids, strict=True)
    )
    rows.append(
        Row(
            "retrieve p50 (top-10)",
            _p(ours_lat, 50),
            _p(base_lat, 50),
            "ms",
            baseline_label="0.3.0: connect per call + exact scan",
        )
    )
    rows.append(
        Row(
            "retrieve p95 (top-10)",
            _p(ours_lat, 95),
            _p(base_lat, 95),
            "ms",
            baseline_label="0.3.0: connect per call + exact scan",
        )
    )
    rows.append(
        Row(
            "recall@10 of HNSW vs exact, CLUSTERED vectors, ef_search 100",
            recall,
            1.0,
            "fraction",
            better="higher",
            baseline_label="exact scan (by definition)",
            note=f"{n_queries} queries on the {n:,}-chunk table",
        )
    )
    n_uniform = 5_000 if quick else 10_000
    for ef, value in _uniform_recall(dsn, n_uniform, n_queries).items():
        rows.append(
            Row(
                f"recall@10 of HNSW vs exact, UNIFORM random vectors, ef_search {ef}",
                value,
                1.0,
                "fraction",
                better="higher",
                baseline_label="exact (numpy)",
                note=f"{n_uniform:,} vectors, {n_queries} queries",
            )
        )
    rows += _storage_rows(dsn, x, q)
    return rows


def _storage_run(
    dsn: str, x: np.ndarray, q: np.ndarray, storage: str
) -> tuple[float, float, float]:
    """(HNSW build seconds, index MB, recall@10 vs exact numpy) for one ``vector_storage``."""
    from fieldkit.rag import Document, Pipeline

    exact = [set(np.argsort(-(x @ qv))[:TOP_K].tolist()) for qv in q]
    emb: Any = _Precomputed(x, q)
    table = f"fk_bench_rag_{storage}"
    with Pipeline(
        pgvector_dsn=dsn, table=table, embedder=emb, write_batch=2048, vector_storage=storage
    ) as pipe:
        pipe.drop_table()
        pipe.ensure_schema()
        pipe.ingest((Document(i, f"chunk {i}") for i in range(len(x))), progress=False)
        build_s = pipe.last_ingest["index_build_seconds"]
        with psycopg.connect(dsn) as conn:
            row = conn.execute(
                "SELECT pg_relation_size(indexrelid) FROM pg_index i JOIN pg_class c "
                "ON c.oid = i.indexrelid WHERE i.indrelid = %s::regclass AND c.relname LIKE %s",
                (table, "%hnsw"),
            ).fetchone()
        size_mb = (row[0] if row else 0) / 2**20
        got = [{c.id for c in pipe.retrieve(f"query {j}", top_k=TOP_K)} for j in range(len(q))]
        recall = statistics.fmean(len(g & e) / TOP_K for g, e in zip(got, exact, strict=True))
        pipe.drop_table()
    return build_s, size_mb, recall


def _storage_rows(dsn: str, x: np.ndarray, q: np.ndarray) -> list[Row]:
    """``vector_storage="halfvec"`` (2-byte floats) against the default ``vector``, same data."""
    hb, hs, hr = _storage_run(dsn, x, q, "halfvec")
    vb, vs, vr = _storage_run(dsn, x, q, "vector")
    label = "vector storage (4-byte floats)"
    note = f"{len(x):,} clustered chunks, ef_search 100"
    return [
        Row("HNSW build, halfvec storage", hb, vb, "s", baseline_label=label, note=note),
        Row("HNSW index size, halfvec storage", hs, vs, "MB", baseline_label=label, note=note),
        Row(
            "recall@10 vs exact, halfvec storage",
            hr,
            vr,
            "fraction",
            better="higher",
            baseline_label=label,
            note=note,
        ),
    ]
