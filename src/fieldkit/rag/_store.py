"""The pgvector store: a psycopg 3 connection pool, schema, COPY ingest and retrieval queries.

Every write batch is one transaction: COPY (binary, vectors through pgvector's adapter) into a
temporary staging table, refuse chunk-id clashes with other documents, delete the batch's
documents' old chunks, then move the staged rows in. A failure rolls back that batch only.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import numpy as np
import psycopg
from numpy.typing import NDArray
from psycopg import sql

from fieldkit.rag import _lexsql, _sql
from fieldkit.rag._build_memory import build_memory_bytes, build_memory_ceiling, pg_memory
from fieldkit.rag._ids import collision_message
from fieldkit.rag._sql import STORAGE_TYPES, TableName
from fieldkit.rag._types import Chunk, RAGError

__all__ = ["DimensionMismatchError", "Row", "Store", "mask_dsn"]

# (id, doc_id, chunk_index, label, text, embedding)
Row = tuple[int, int, int, str, str, NDArray[np.float32]]

APPLICATION_NAME = "fieldkit-rag"  # shows in pg_stat_activity
_SCHEMA_LOCK = 0x6669656C646B6974  # "fieldkit": serialises concurrent ensure_schema calls
_EF_SEARCH_MAX = 1000
_PROBE_S = 2.0  # how long a pool wait may last before the server itself is probed

log = logging.getLogger("fieldkit.rag")

POOL_NAME = "fieldkit-rag"  # the Store's connection pools and their worker threads


class _LexicalQuery(Protocol):
    """A lexical query builder of ``_sql``/``_lexsql`` (``lexical_query``, ``bm25_query``)."""

    def __call__(
        self, t: TableName, *, labels: bool, with_distance: bool, storage: str = ...
    ) -> sql.Composed: ...


class _OwnPoolNoise(logging.Filter):
    """psycopg_pool warns once per failed reconnect of a pool; for the Store's pools those
    lines would bury its own error (it notices a dead server and says so), so they go to
    ``fieldkit.rag`` at DEBUG instead (``fieldkit -v``). Other pools are untouched."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        ours = (record.threadName or "").startswith(POOL_NAME) or any(
            isinstance(a, str) and a.startswith(POOL_NAME) for a in args
        )
        if ours:
            log.debug("connection pool: %s", record.getMessage())
        return not ours


logging.getLogger("psycopg.pool").addFilter(_OwnPoolNoise())

_PASSWORD_URI = re.compile(r"(://[^:/@]*:)([^@]*)(@)")
_PASSWORD_KV = re.compile(r"(password\s*=\s*)(\S+)", re.IGNORECASE)


class DimensionMismatchError(RAGError):
    """The table exists with another vector dimension than the pipeline's embedder."""


def mask_dsn(dsn: str) -> str:
    """The DSN with any password replaced by ``***`` (for messages and repr)."""
    return _PASSWORD_KV.sub(r"\1***", _PASSWORD_URI.sub(r"\1***\3", dsn))


def db_error(what: str, exc: psycopg.Error) -> RAGError:
    """A one-line RAGError for a failed database operation (with a hint for a missing table):
    the server's primary message, without its multi-line query excerpt."""
    hint = ""
    if isinstance(exc, psycopg.errors.UndefinedTable):
        hint = "; call ensure_schema() first, or ingest (fieldkit rag ingest PATH --table NAME)"
    return RAGError(f"{what} failed: {first_line(exc)}{hint}")


def first_line(exc: BaseException) -> str:
    """The error's first line (libpq's message without its hint lines or query excerpt), so a
    CLI error stays one line."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


@contextmanager
def _guard(what: str) -> Iterator[None]:
    try:
        yield
    except psycopg.Error as exc:
        raise db_error(what, exc) from exc


class Store:
    """Pooled access to one chunk table. The pool opens on first use and closes in ``close``.

    A server that stops answering is noticed within seconds (a pool wait longer than
    ``_PROBE_S`` probes the server directly): with ``revive`` (the embedded Postgres) it is
    restarted and the call goes on; otherwise RAGError says the server is gone.
    """

    def __init__(
        self,
        dsn: str,
        table: TableName,
        dim: int,
        *,
        max_connections: int = 4,
        connect_timeout: float = 10.0,
        ef_search: int = 100,
        revive: Callable[[], str] | None = None,
        storage: str = "vector",
    ) -> None:
        if storage not in STORAGE_TYPES:
            raise ValueError(f"storage must be one of {', '.join(STORAGE_TYPES)}; got {storage!r}")
        self.dsn = dsn
        self.revive = revive
        self.storage = storage
        self.table = table
        self.dim = dim
        self.max_connections = max_connections
        self.connect_timeout = connect_timeout
        self.ef_search = ef_search
        self.build_memory: str | None = None  # None: sized to the table (see _build_memory)
        self.last_index_build: dict[str, Any] = {}
        self._pool: Any = None
        self._lock = threading.Lock()
        self._closed = False
        self._ann_checked = False
        self._iterative: bool | None = None
        self._lex_ready = False
        self.last_dense_scan = ""

    # -- connections -------------------------------------------------------------------------

    def _get_pool(self) -> Any:
        with self._lock:
            if self._closed:
                raise RAGError("pipeline closed")
            if self._pool is None:
                from psycopg_pool import ConnectionPool

                # One direct attempt first: a refused or misconfigured server fails at once
                # with libpq's message instead of after the pool's retry window.
                try:
                    psycopg.connect(
                        self.dsn, connect_timeout=max(1, int(self.connect_timeout))
                    ).close()
                except psycopg.Error as exc:
                    raise RAGError(
                        f"cannot connect to Postgres at {mask_dsn(self.dsn)}: {first_line(exc)}"
                    ) from exc
                pool = ConnectionPool(
                    self.dsn,
                    min_size=1,
                    max_size=max(1, self.max_connections),
                    kwargs={
                        "connect_timeout": max(1, int(self.connect_timeout)),
                        "application_name": APPLICATION_NAME,
                    },
                    open=False,
                    timeout=max(self.connect_timeout, 1.0) * 3,
                    name=POOL_NAME,
                    check=ConnectionPool.check_connection,  # survive a server restart
                )
                try:
                    pool.open(wait=True, timeout=max(self.connect_timeout, 1.0))
                except Exception as exc:
                    pool.close()
                    raise RAGError(
                        f"cannot connect to Postgres at {mask_dsn(self.dsn)}: {first_line(exc)}"
                    ) from exc
                self._pool = pool
            return self._pool

    def _probe(self) -> str | None:
        """None if the server accepts a connection now, else libpq's reason."""
        try:
            psycopg.connect(self.dsn, connect_timeout=max(1, int(_PROBE_S))).close()
        except psycopg.Error as exc:
            return str(exc).strip() or type(exc).__name__
        return None

    def _reset_pool(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close(timeout=0)

    def _getconn(self) -> tuple[Any, psycopg.Connection[Any]]:
        """(pool, connection): a short wait, then a probe of the server, then the full wait."""
        from psycopg_pool import PoolTimeout

        try:
            pool = self._get_pool()
        except RAGError:
            if self.revive is None or self._closed:
                raise
            # the embedded server may have died after the pool was dropped: restart, retry once
            try:
                self.dsn = self.revive()
            except Exception as exc:
                raise RAGError(str(exc)) from exc
            pool = self._get_pool()
        try:
            return pool, pool.getconn(timeout=_PROBE_S)
        except PoolTimeout:
            pass
        reason = self._probe()
        if reason is None:  # alive, just busy: wait the pool's own timeout
            try:
                return pool, pool.getconn()
            except PoolTimeout as exc:
                raise RAGError(
                    f"no free connection to {mask_dsn(self.dsn)} within {pool.timeout:.0f} s "
                    f"(max_connections={self.max_connections}): {exc}"
                ) from exc
        if self.revive is None:
            raise RAGError(
                f"Postgres at {mask_dsn(self.dsn)} stopped answering ({reason}); it may have "
                "been stopped, killed or run out of disk. Start it again and retry."
            )
        try:
            self.dsn = self.revive()
        except Exception as exc:
            raise RAGError(str(exc)) from exc
        self._reset_pool()
        pool = self._get_pool()
        return pool, pool.getconn()

    @contextmanager
    def connection(self, *, vector: bool = True) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection inside one transaction (committed on success)."""
        pool, conn = self._getconn()
        try:
            with conn:
                if vector and conn.adapters.types.get("vector") is None:
                    from pgvector.psycopg import register_vector

                    try:
                        register_vector(conn)
                    except psycopg.ProgrammingError as exc:
                        raise RAGError(
                            "the pgvector extension is not installed in this database; "
                            "call ensure_schema() first"
                        ) from exc
                yield conn
        finally:
            pool.putconn(conn)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    # -- schema ------------------------------------------------------------------------------

    def exists(self) -> bool:
        """Whether the chunk table exists."""
        with _guard(f"reading {self.table.qualified}"), self.connection(vector=False) as conn:
            row = conn.execute(_sql.table_exists(self.table)).fetchone()
        return bool(row and row[0])

    def ensure_schema(self, *, probe: Callable[[], int]) -> None:
        """Create the extension, table, new columns and indexes; refuse a dimension mismatch.

        A new table takes its vector size from ``dim``, so ``probe()`` (the size the embedder
        really returns) is asked first: another size raises DimensionMismatchError, nothing
        created."""
        if not self.exists():
            got = probe()
            if got != self.dim:
                raise DimensionMismatchError(
                    f"the embedder returns vectors of dimension {got}, not the configured "
                    f"dimension {self.dim}; set the embedding dimension to {got} "
                    f"(table {self.table.qualified} was not created)"
                )
        with (
            _guard(f"ensure_schema on {self.table.qualified}"),
            self.connection(vector=False) as conn,
        ):
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            if not conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone():
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            columns = {r[0]: (r[1], r[2]) for r in conn.execute(_sql.columns(self.table))}
            dim, storage = columns.get("embedding", (None, None))
            if dim is not None and int(dim) not in (-1, self.dim):
                raise DimensionMismatchError(
                    f"table {self.table.qualified} stores vectors of dimension {dim} but "
                    f"this pipeline embeds with dimension {self.dim}; drop the table or use "
                    "another table name"
                )
            if storage in STORAGE_TYPES and storage != self.storage:
                log.info(
                    "table %s stores %s embeddings; using that (asked for %s)",
                    self.table.qualified,
                    storage,
                    self.storage,
                )
                self.storage = str(storage)
            # Only the DDL that is missing: on an up-to-date table nothing is altered, so no
            # exclusive lock is taken and a non-owner can call this.
            if not columns:
                conn.execute(_sql.create_table(self.table, self.dim, self.storage))
            for name, stmt in _sql.add_columns(self.table).items():
                if name not in columns:
                    conn.execute(stmt)
            indexes = {r[0] for r in conn.execute(_sql.existing_indexes(self.table))}
            for name, stmt in _sql.create_indexes(self.table, self.storage).items():
                if name not in indexes:
                    if name == self.table.index_name("hnsw") and columns:
                        log.warning(
                            "table %s had no HNSW index (an interrupted bulk load?); rebuilding",
                            self.table.qualified,
                        )
                        self._create_hnsw(conn)  # sized like every other build
                        continue
                    conn.execute(stmt)
            self._create_lexical(conn)
            self._ann_checked = True

    def drop(self) -> None:
        """Drop the table, its indexes and its lexical index (if they exist)."""
        with _guard(f"dropping {self.table.qualified}"), self.connection(vector=False) as conn:
            conn.execute(_sql.drop_table(self.table))
            for stmt in _lexsql.drop(self.table):
                conn.execute(stmt)
        self._lex_ready = False

    # -- lexical index -----------------------------------------------------------------------

    def _create_lexical(self, conn: psycopg.Connection[Any]) -> bool:
        """Create and fill the BM25 postings of an existing table when missing, inside the
        caller's transaction, holding the table's write lock (concurrent writers wait, so the
        backfill sees every committed chunk and misses no later one). False: no table."""
        row = conn.execute(_lexsql.exists(self.table)).fetchone()
        if row and row[0]:
            self._lex_ready = True
            return True
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.table.qualified,))
        if not {r[0] for r in conn.execute(_sql.columns(self.table))} >= {"tsv", "text"}:
            return False
        row = conn.execute(_lexsql.exists(self.table)).fetchone()
        if not (row and row[0]):
            log.info("building the lexical index of %s (once)", self.table.qualified)
            for stmt in [*_lexsql.create(self.table), *_lexsql.backfill(self.table)]:
                conn.execute(stmt)
        self._lex_ready = True
        return True

    def ensure_lexical(self) -> None:
        """Give a table built before the lexical index its postings (once, in one transaction;
        later writes keep them current). A missing table is left to the query to report."""
        if self._lex_ready:
            return
        with _guard(f"indexing {self.table.qualified}"), self.connection(vector=False) as conn:
            self._create_lexical(conn)

    def rebuild_lexical(self) -> None:
        """Recompute the lexical index from the stored chunks (for repair; never needed after
        normal writes)."""
        with (
            _guard(f"re-indexing {self.table.qualified}"),
            self.connection(vector=False) as conn,
        ):
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.table.qualified,))
            for stmt in [*_lexsql.drop(self.table), *_lexsql.create(self.table)]:
                conn.execute(stmt)
            for stmt in _lexsql.backfill(self.table):
                conn.execute(stmt)
        self._lex_ready = True

    def vacuum(self) -> None:
        """VACUUM ANALYZE the table and its postings after a bulk load: fresh planner
        statistics, and a visibility map that lets BM25 read postings from the index alone.
        Skipped with a log line when the role may not (it is only an optimisation)."""
        lex, _, _ = _lexsql.lex_tables(self.table)
        try:
            with psycopg.connect(
                self.dsn, autocommit=True, connect_timeout=max(1, int(self.connect_timeout))
            ) as conn:
                for t in (self.table, lex):
                    conn.execute(sql.SQL("VACUUM (ANALYZE) {t}").format(t=t.ident))
        except psycopg.Error as exc:
            log.info("VACUUM ANALYZE of %s skipped: %s", self.table.qualified, exc)

    def lexical_mismatches(self) -> int:
        """How many postings (plus 1 for wrong statistics) differ from a fresh computation
        over the stored chunks: 0 when the lexical index agrees with the table."""
        self.ensure_lexical()
        with _guard(f"checking {self.table.qualified}"), self.connection(vector=False) as conn:
            row = conn.execute(_lexsql.mismatches(self.table)).fetchone()
        assert row is not None
        return int(row[0]) + (1 if row[1] is not False else 0)

    def count(self) -> int:
        """Number of stored chunks."""
        with _guard(f"counting {self.table.qualified}"), self.connection(vector=False) as conn:
            row = conn.execute(_sql.count_rows(self.table)).fetchone()
        return int(row[0]) if row else 0

    def is_empty(self) -> bool:
        """Whether the table holds no chunk."""
        with _guard(f"reading {self.table.qualified}"), self.connection(vector=False) as conn:
            row = conn.execute(_sql.is_empty(self.table)).fetchone()
        return bool(row and row[0])

    def drop_ann_index(self) -> None:
        """Drop the HNSW index (a bulk load into an empty table rebuilds it once at the end:
        building it after the load is many times faster than maintaining it per row)."""
        with (
            _guard(f"dropping the index of {self.table.qualified}"),
            self.connection(vector=False) as conn,
        ):
            # index DDL is serialised: concurrent loads may each drop and rebuild it
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            conn.execute(_sql.drop_hnsw(self.table))

    def build_ann_index(self) -> None:
        """(Re)create the HNSW index with maintenance memory for the whole graph.

        ``build_memory`` (a Postgres size such as ``"4GB"``) fixes it; None sizes it to the
        table's rows and vector size, capped by this machine's memory when the server is local
        (1 GiB for a remote one). When the graph still outgrows it, pgvector finishes on disk,
        several times slower: that is logged as a warning and kept in ``last_index_build``.
        """
        with (
            _guard(f"building the index of {self.table.qualified}"),
            self.connection(vector=False) as conn,
        ):
            # CREATE INDEX IF NOT EXISTS races with itself (a duplicate pg_class name) when two
            # loads finish at once; under the DDL lock the second finds the index and does nothing
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            self._create_hnsw(conn)
        self._ann_checked = True

    def _create_hnsw(self, conn: psycopg.Connection[Any]) -> None:
        """Create the HNSW index inside the caller's transaction with the build memory of
        ``build_ann_index`` (one count of the rows), recording it in ``last_index_build``."""
        outgrew: list[str] = []

        def notice(diag: psycopg.errors.Diagnostic) -> None:
            if "no longer fits" in (diag.message_primary or ""):
                outgrew.append(diag.message_primary or "")

        rows = _count(conn.execute(_sql.count_rows(self.table)).fetchone())
        memory = self.build_memory or pg_memory(
            build_memory_bytes(rows, self.dim, self.storage, _ceiling(self.dsn))
        )
        conn.execute("SELECT set_config('maintenance_work_mem', %s, true)", (memory,))
        conn.add_notice_handler(notice)
        try:
            conn.execute(_sql.create_hnsw(self.table, self.storage))
        finally:
            conn.remove_notice_handler(notice)
        self.last_index_build = {"rows": rows, "build_memory": memory, "outgrew": outgrew[:1]}
        if outgrew:
            log.warning(
                "the HNSW index of %s did not fit its %s build memory (%s); the build finished "
                "on disk, several times slower. Free more memory or set a larger "
                "store.build_memory (e.g. '4GB') before the next build.",
                self.table.qualified,
                memory,
                outgrew[0],
            )

    def has_ann_index(self) -> bool | None:
        """Whether the table has its (valid) HNSW index; None when the table does not exist."""
        with _guard(f"reading {self.table.qualified}"), self.connection(vector=False) as conn:
            row = conn.execute(_sql.has_index(self.table, "hnsw")).fetchone()
        return None if row is None or row[0] is None else bool(row[0])

    # -- writes ------------------------------------------------------------------------------

    def write_batch(self, doc_ids: Sequence[int], rows: Sequence[Row]) -> None:
        """Replace the documents ``doc_ids`` by ``rows`` in one transaction.

        Raises RAGError (and writes nothing of this batch) if a row's id belongs to a document
        outside the batch.
        """
        if not doc_ids:
            return
        ids = list(doc_ids)
        types = _sql.copy_types(self.storage)
        if self.storage == "halfvec":
            from pgvector import HalfVector

            rows = [(*r[:5], HalfVector(r[5])) for r in rows]  # type: ignore[misc]
        # Fast path: delete the documents' old chunks and COPY straight into the table. A
        # primary-key clash (another document's id, or a legacy row without doc_id) rolls it
        # back and the checked path below finds out which.
        try:
            with self.connection() as conn, conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.table.qualified,))
                cur.execute(_sql.delete_docs_only(self.table), (ids,))
                if rows:
                    with cur.copy(_sql.copy_table(self.table)) as copy:
                        copy.set_types(types)
                        for row in rows:
                            copy.write_row(row)
            return
        except psycopg.errors.UniqueViolation:
            pass
        except psycopg.Error as exc:
            raise db_error(f"writing to {self.table.qualified}", exc) from exc
        try:
            with self.connection() as conn, conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.table.qualified,))
                cur.execute(_sql.create_stage(self.dim, self.storage))
                if rows:
                    with cur.copy(_sql.COPY_STAGE) as copy:
                        copy.set_types(types)
                        for row in rows:
                            copy.write_row(row)
                    cur.execute(_sql.find_collision(self.table), (ids,))
                    hit = cur.fetchone()
                    if hit is not None:
                        raise RAGError(collision_message(int(hit[0]), int(hit[1]), int(hit[2])))
                cur.execute(_sql.delete_docs(self.table), (ids,))
                if rows:
                    cur.execute(_sql.merge_stage(self.table))
        except psycopg.Error as exc:
            raise db_error(f"writing to {self.table.qualified}", exc) from exc

    # -- reads -------------------------------------------------------------------------------

    def _set_ef(self, cur: psycopg.Cursor[Any], k: int, ef_search: int | None) -> None:
        ef = min(max(self.ef_search if ef_search is None else ef_search, k), _EF_SEARCH_MAX)
        cur.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(ef),))

    def dense(
        self,
        qvec: NDArray[np.float32],
        k: int,
        labels: Sequence[str] | None = None,
        *,
        ef_search: int | None = None,
    ) -> list[Chunk]:
        """The ``k`` nearest chunks by cosine distance, nearest first (HNSW with ``ef_search``,
        default the store's, raised to ``k``, capped at 1000; above that an exact scan).

        With a label filter, pgvector ≥ 0.8's iterative index scan (``strict_order``) keeps
        walking the graph until ``k`` matching rows are found, so the result has ``k`` rows
        whenever that many match; if the scan still stops short (``hnsw.max_scan_tuples``, or
        an older pgvector), the query is repeated as an exact scan. ``last_dense_scan`` says
        which ran: ``"hnsw"``, ``"hnsw-iterative"`` or ``"exact"``.
        """
        params: dict[str, Any] = {"q": qvec, "k": int(k)}
        if labels is not None:
            params["labels"] = list(labels)
        query = _sql.dense_query(self.table, labels=labels is not None, storage=self.storage)
        try:
            with self.connection() as conn, conn.cursor() as cur:
                if not self._ann_checked:
                    self._warn_if_no_index(cur)
                exact = k > _EF_SEARCH_MAX
                scan = "exact"
                if exact:
                    cur.execute("SELECT set_config('enable_indexscan', 'off', true)")
                else:
                    self._set_ef(cur, k, ef_search)
                    scan = "hnsw"
                    if labels is not None and self._iterative_scans(cur):
                        cur.execute(
                            "SELECT set_config('hnsw.iterative_scan', 'strict_order', true)"
                        )
                        scan = "hnsw-iterative"
                rows = cur.execute(query, params).fetchall()
                if labels is not None and len(rows) < k and not exact:
                    cur.execute("SELECT set_config('enable_indexscan', 'off', true)")
                    rows = cur.execute(query, params).fetchall()
                    scan = "exact"
        except psycopg.Error as exc:
            raise db_error(f"dense retrieval from {self.table.qualified}", exc) from exc
        self.last_dense_scan = scan
        return [_chunk(r) for r in rows]

    def _iterative_scans(self, cur: psycopg.Cursor[Any]) -> bool:
        """Whether the server's pgvector has iterative index scans (0.8.0 and later)."""
        if self._iterative is None:
            row = cur.execute(
                "SELECT string_to_array(extversion, '.')::int[] >= '{0,8,0}' "
                "FROM pg_extension WHERE extname = 'vector'"
            ).fetchone()
            self._iterative = bool(row and row[0])
        return self._iterative

    def _warn_if_no_index(self, cur: psycopg.Cursor[Any]) -> None:
        row = cur.execute(_sql.has_index(self.table, "hnsw")).fetchone()
        self._ann_checked = True
        if row is not None and row[0] is False:  # None: no table (the query says so itself)
            log.warning(
                "table %s has no HNSW index (an interrupted bulk load?): dense search scans "
                "every row; ensure_schema() or the next ingest rebuilds it",
                self.table.qualified,
            )

    def lexical(
        self,
        text: str,
        k: int,
        labels: Sequence[str] | None = None,
        qvec: NDArray[np.float32] | None = None,
        *,
        scoring: str = "bm25",
    ) -> list[Chunk]:
        """The ``k`` chunks best matching ``text``, best first: ``scoring="bm25"`` by BM25 over
        the table's postings (ties by id, one query), ``"postgres"`` by ``ts_rank_cd`` over
        Postgres full text (GIN index). With ``qvec`` they also carry their cosine distance."""
        params: dict[str, Any] = {"text": text, "k": int(k)}
        build: _LexicalQuery
        if scoring == "bm25":
            from fieldkit.rag._lexical import identifier_terms

            self.ensure_lexical()
            params["idents"] = sorted(identifier_terms(text))
            build = _lexsql.bm25_query
        elif scoring == "postgres":
            build = _sql.lexical_query
        else:
            raise ValueError(f"scoring must be 'bm25' or 'postgres'; got {scoring!r}")
        if labels is not None:
            params["labels"] = list(labels)
        if qvec is not None:
            params["q"] = qvec
        query = build(
            self.table,
            labels=labels is not None,
            with_distance=qvec is not None,
            storage=self.storage,
        )
        try:
            with self.connection(vector=qvec is not None) as conn:
                rows = conn.execute(query, params).fetchall()
        except psycopg.Error as exc:
            raise db_error(f"lexical retrieval from {self.table.qualified}", exc) from exc
        return [_chunk(r) for r in rows]


def _chunk(row: Sequence[Any]) -> Chunk:
    rid, label, text, dist, doc_id, idx = row
    return Chunk(
        id=int(rid),
        text=text,
        label=label or "",
        distance=None if dist is None else float(dist),
        rerank_score=None,
        doc_id=None if doc_id is None else int(doc_id),
        chunk_index=None if idx is None else int(idx),
    )


def _count(row: tuple[Any, ...] | None) -> int:
    return int(row[0]) if row and row[0] is not None else 0


def _server_is_local(dsn: str) -> bool:
    """Whether every host of *dsn* is this machine (a socket folder, loopback, or unset)."""
    try:
        hosts = str(psycopg.conninfo.conninfo_to_dict(dsn).get("host") or "")
    except psycopg.ProgrammingError:
        return False
    local = {"", "localhost", "127.0.0.1", "::1"}
    return all(h in local or h.startswith("/") for h in hosts.split(","))


def _ceiling(dsn: str) -> int:
    """The build-memory ceiling for a server at *dsn*: this machine's RAM and free ``/dev/shm``
    when it is local; unknown (1 GiB) otherwise."""
    if not _server_is_local(dsn):
        return build_memory_ceiling(None, None)
    try:
        ram: int | None = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        ram = None
    try:
        shm: int | None = shutil.disk_usage("/dev/shm").free
    except OSError:
        shm = None
    return build_memory_ceiling(ram, shm)
