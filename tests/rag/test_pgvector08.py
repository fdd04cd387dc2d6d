"""pgvector 0.8 features (iterative index scans, halfvec storage) and the store's self-repair:
a bulk load killed before its index build, and an embedded Postgres killed under a pipeline."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest

from fieldkit._embedded_pg import stop_embedded
from fieldkit.rag import Document, Pipeline, RAGError
from tests._pg import kill_postmaster
from tests.rag.test_store import _RandomVectors


def _exact_top(emb: _RandomVectors, q: int, ids: list[int], k: int) -> list[int]:
    scores = emb.x[ids] @ emb.q[q]
    return [ids[i] for i in np.argsort(-scores)[:k]]


def test_filtered_dense_returns_top_k_from_the_index(make_pipe: Callable[..., Pipeline]) -> None:
    """The label matches 30 of 3000 rows, far fewer than ef_search=40 neighbours would hold:
    the iterative index scan still returns the exact 10 best matching rows, without the
    exact-scan fallback."""
    emb = _RandomVectors(3000, 5)
    p = make_pipe(embedder=emb, write_batch=1000, ef_search=40)
    p.ensure_schema()
    rare = list(range(0, 3000, 100))
    p.ingest(Document(i, f"p {i}", "rare" if i in rare else "common") for i in range(3000))
    for q in range(5):
        got = p.retrieve(f"q {q}", top_k=10, label="rare")
        assert len(got) == 10 and {c.label for c in got} == {"rare"}
        assert p.store.last_dense_scan == "hnsw-iterative"
        assert [c.id for c in got] == _exact_top(emb, q, rare, 10)
        dists = [c.distance for c in got]
        assert dists == sorted(dists)  # strict order


def test_halfvec_storage_round_trip_and_recall(make_pipe: Callable[..., Pipeline]) -> None:
    emb = _RandomVectors(2000, 20)
    p = make_pipe(embedder=emb, write_batch=500, vector_storage="halfvec", ef_search=200)
    p.ensure_schema()
    assert p.ingest(Document(i, f"p {i} words", "a" if i % 2 else "b") for i in range(2000)) == 2000
    with psycopg.connect(p.store.dsn) as conn:
        row = conn.execute(
            "SELECT atttypid::regtype::text FROM pg_attribute WHERE attrelid = %s::regclass "
            "AND attname = 'embedding'",
            (p.table,),
        ).fetchone()
    assert row == ("halfvec",)
    exact = [set(np.argsort(-(emb.x @ q))[:10].tolist()) for q in emb.q]
    got = [{c.id for c in p.retrieve(f"q {j}", top_k=10)} for j in range(20)]
    recall = float(np.mean([len(g & e) / 10 for g, e in zip(got, exact, strict=True)]))
    assert recall >= 0.9, recall
    hybrid = p.retrieve("q 0", top_k=5, mode="hybrid", label="a")
    assert hybrid and {c.label for c in hybrid} == {"a"}
    # A second pipeline asking for vector storage adopts the table's halfvec.
    other = make_pipe(embedder=emb)
    other.ensure_schema()
    assert other.store.storage == "halfvec"
    assert len(other.retrieve("q 1", top_k=3)) == 3


def test_vector_storage_is_validated() -> None:
    with pytest.raises(ValueError, match="vector_storage must be one of vector, halfvec"):
        Pipeline(vector_storage="float8", embedder=_RandomVectors(1, 1))  # type: ignore[arg-type]


_KILLED_LOAD = """
import os, signal, sys
sys.path.insert(0, sys.argv[3])
from tests.rag.test_store import _RandomVectors
from fieldkit.rag import Document, Pipeline
p = Pipeline(pgvector_dsn=sys.argv[1], table=sys.argv[2], embedder=_RandomVectors(600, 1),
             write_batch=100)
p.ensure_schema()
def die(n):
    os.kill(os.getpid(), signal.SIGKILL)  # after the first committed batch of a bulk load
p.ingest((Document(i, f"p {i}") for i in range(600)), progress=die)
"""


def _has_hnsw(dsn: str, table: str) -> bool:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_indexes WHERE tablename = %s AND indexdef LIKE %s",
            (table, "%USING hnsw%"),
        ).fetchone()
    return bool(row and row[0])


def test_bulk_load_killed_before_index_build_heals(
    pg_dsn: str, pg_table: str, caplog: pytest.LogCaptureFixture
) -> None:
    root = str(Path(__file__).resolve().parents[2])
    run = subprocess.run(
        [sys.executable, "-c", _KILLED_LOAD, pg_dsn, pg_table, root], capture_output=True
    )
    assert run.returncode == -signal.SIGKILL
    assert not _has_hnsw(pg_dsn, pg_table)  # the state a SIGKILL mid-load leaves
    emb = _RandomVectors(600, 3)
    with Pipeline(pgvector_dsn=pg_dsn, table=pg_table, embedder=emb) as p:
        with caplog.at_level(logging.WARNING, logger="fieldkit.rag"):
            assert len(p.retrieve("q 0", top_k=3)) == 3  # still answers, and warns
        assert any("no HNSW index" in r.getMessage() for r in caplog.records)
        assert p.count() == 100
        p.ingest([Document(100, "p 100")])  # a small ingest rebuilds the index
        assert _has_hnsw(pg_dsn, pg_table)
    # ensure_schema heals too.
    with Pipeline(pgvector_dsn=pg_dsn, table=pg_table, embedder=emb) as p:
        p.store.drop_ann_index()
        assert not _has_hnsw(pg_dsn, pg_table)
        p.ensure_schema()
        assert _has_hnsw(pg_dsn, pg_table)


@pytest.fixture
def own_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A FIELDKIT_HOME with its own embedded Postgres (killed by these tests)."""
    root = Path(tempfile.mkdtemp(prefix="fieldkit-kill-test-"))
    monkeypatch.setenv("FIELDKIT_HOME", str(root))
    try:
        yield root
    finally:
        stop_embedded(root / "pgdata")
        shutil.rmtree(root, ignore_errors=True)


def test_killed_embedded_postgres_is_restarted(own_home: Path) -> None:
    emb = _RandomVectors(50, 2)
    with Pipeline(embedder=emb, table="kill_me") as p:
        p.ensure_schema()
        p.ingest(Document(i, f"p {i}") for i in range(50))
        kill_postmaster(own_home / "pgdata")
        # The first call may see its pooled connection die; the next ones restart the server.
        with contextlib.suppress(RAGError):
            p.retrieve("q 0", top_k=3)
        assert len(p.retrieve("q 0", top_k=3)) == 3
        assert p.count() == 50  # nothing lost
    kill_postmaster(own_home / "pgdata")
    with Pipeline(embedder=emb, table="kill_me") as fresh:  # a new Pipeline in this process
        assert fresh.count() == 50


def test_killed_external_postgres_fails_fast_with_a_clear_message(own_home: Path) -> None:
    from fieldkit._embedded_pg import embedded_dsn

    dsn = embedded_dsn(own_home / "pgdata")
    emb = _RandomVectors(10, 1)
    with Pipeline(pgvector_dsn=dsn, embedder=emb, table="ext") as p:  # a DSN: not restarted
        p.ensure_schema()
        kill_postmaster(own_home / "pgdata")
        with contextlib.suppress(RAGError):  # the first call may fail on its dead connection
            p.count()
        with pytest.raises(RAGError, match=r"(?s)stopped answering.*killed or run out of disk"):
            p.count()


_UNRESTARTABLE = """
import os, signal, sys, time
sys.path.insert(0, sys.argv[2])
from pathlib import Path
from tests.rag.test_store import _RandomVectors
from tests._pg import kill_postmaster
from fieldkit.rag import Document, Pipeline, RAGError
pgdata = Path(sys.argv[1]) / "pgdata"
p = Pipeline(embedder=_RandomVectors(20, 1), table="doomed")
p.ensure_schema()
p.ingest(Document(i, f"p {i}") for i in range(20))
kill_postmaster(pgdata)
with open(pgdata / "postgresql.conf", "a") as conf:  # the restart will fail
    conf.write("\\nshared_buffers = 'nonsense'\\n")
for _ in range(2):
    try:
        p.count()
    except RAGError as exc:
        print("RAGError:", exc)
"""


def test_embedded_postgres_that_cannot_restart_fails_with_one_clear_message(
    own_home: Path,
) -> None:
    """Killed and unable to start again: each call fails within seconds with what happened,
    what to do and the server log's tail; the package's own log dumps stay off stderr."""
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "FIELDKIT_HOME": str(own_home)}
    run = subprocess.run(
        [sys.executable, "-c", _UNRESTARTABLE, str(own_home), root],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert run.returncode == 0, run.stderr
    errors = [line for line in run.stdout.splitlines() if line.startswith("RAGError:")]
    assert len(errors) == 2
    assert "died and could not be restarted (pg_ctl exited with status 1)" in errors[-1]
    assert "Check free disk space and the server log" in run.stdout
    assert 'invalid value for parameter "shared_buffers"' in run.stdout  # the log's tail
    assert "Failed postgres command" not in run.stderr
    assert "Showing contents of postgres server log" not in run.stderr


def test_ingest_before_ensure_schema_reports_the_write_not_a_lost_index(
    make_pipe: Callable[..., Pipeline], caplog: pytest.LogCaptureFixture
) -> None:
    """No table yet is not "an interrupted bulk load": no index warning, and the error is the
    write's own (the index build at the end must not replace it)."""
    p = make_pipe(embedder=_RandomVectors(5, 1))
    assert p.store.has_ann_index() is None
    with (
        caplog.at_level(logging.WARNING, logger="fieldkit.rag"),
        pytest.raises(RAGError, match=r"(?s)^writing to .* failed: .*call ensure_schema\(\) first"),
    ):
        p.ingest([Document(1, "p 1")])
    assert not any("HNSW" in r.getMessage() for r in caplog.records)
    p.ensure_schema()
    assert p.store.has_ann_index() is True
    assert p.ingest([Document(1, "p 1")]) == 1


_KILLED_UNDER_A_PIPELINE = """
import os, signal, sys, time
sys.path.insert(0, sys.argv[2])
from pathlib import Path
from tests.rag.test_store import _RandomVectors
from tests._pg import kill_postmaster
from fieldkit.rag import Document, Pipeline
pgdata = Path(sys.argv[1]) / "pgdata"
with Pipeline(embedder=_RandomVectors(20, 1), table="noisy") as p:
    p.ensure_schema()
    p.ingest(Document(i, f"p {i}") for i in range(20))
    kill_postmaster(pgdata)
    for _ in range(2):
        try:
            print(len(p.retrieve("q 0", top_k=3)))
        except Exception as exc:
            print(type(exc).__name__)
"""


def test_recovery_from_a_killed_server_is_one_warning_not_pool_noise(own_home: Path) -> None:
    """A user without logging configured sees the restart warning on stderr, not one
    psycopg_pool warning per failed reconnect of our pool."""
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "FIELDKIT_HOME": str(own_home)}
    run = subprocess.run(
        [sys.executable, "-c", _KILLED_UNDER_A_PIPELINE, str(own_home), root],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == "3"  # recovered
    assert "is not running (killed or crashed); restarting" in run.stderr
    assert "fieldkit-rag" not in run.stderr, run.stderr
