"""``PostgresLineageStore``: the same trial log and queries, in one Postgres table.

For a harness whose specialists run on several machines. Appends serialise on a per-table
advisory lock held to commit, so ``seq`` order is commit order and an incremental reader
(``WHERE seq > last_seen``) can never skip a row. ``psycopg`` is imported on first use only.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fieldkit._managed import Closes
from fieldkit.lineage._base import LineageBase
from fieldkit.lineage._index import LineageIndex
from fieldkit.lineage._policy import (
    FloatFormat,
    choose_metric_field,
    default_metric_field,
    report_malformed,
)
from fieldkit.lineage._trial import CANONICAL_HEADER, Trial

__all__ = ["PostgresLineageStore"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def _split_table(name: str) -> tuple[str, ...]:
    parts = tuple(name.split("."))
    if not 1 <= len(parts) <= 2 or not all(_IDENT.match(p) for p in parts):
        raise ValueError(
            f"invalid table name {name!r}: use [schema.]name with letters, digits and _ "
            "(max 63 characters each, not starting with a digit)"
        )
    return parts


def _cell_text(value: object) -> str:
    """A stored cell as text (rows written by other tools may hold JSON numbers or null)."""
    if isinstance(value, str):
        return value
    return "" if value is None else json.dumps(value)


class PostgresLineageStore(LineageBase, Closes):
    """Trial log in table *table* of the database at *dsn* (embedded Postgres if None).

    Same read API, rendering and row policy as ``LineageStore``: the metric column defaults
    to ``core_metric`` (else ``val_bpb``) and must exist when named; a malformed row is skipped
    with a ``MalformedRowWarning`` and counted in ``skipped_rows``/``malformed_rows`` (by its
    ``seq``), or raises ``ValueError`` with ``strict=True``; ``float_format`` picks how float
    cells are written. The DSN never appears in ``repr``.
    """

    def __init__(
        self,
        dsn: str | None = None,
        *,
        table: str = "fieldkit_lineage",
        lower_is_better: bool = True,
        metric_field: str | None = None,
        strict: bool = False,
        float_format: FloatFormat = "repr",
    ) -> None:
        super().__init__(lower_is_better, metric_field, strict, float_format)
        self._table_parts = _split_table(table)
        self.table = table
        self._dsn = dsn
        self._conn: Any = None
        self._last_seq = 0
        self._metric_checked = False
        self._schema_ready = False

    def __repr__(self) -> str:
        return f"PostgresLineageStore(table={self.table!r}, lower_is_better={self.lower_is_better})"

    def _where(self) -> str:
        return f"table {self.table}"

    # -- connection -----------------------------------------------------------------------
    def _connect(self) -> Any:
        if self._conn is None or self._conn.closed:
            import psycopg

            dsn = self._dsn
            if dsn is None:  # embedded: asked every time, so a dead server gets restarted
                from fieldkit._embedded_pg import EmbeddedPostgresError, embedded_dsn

                try:
                    dsn = embedded_dsn()
                except EmbeddedPostgresError as exc:  # one exception type for "server gone"
                    raise ConnectionError(f"Postgres lineage store {self.table}: {exc}") from exc
            self._conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10)
            self._schema_ready = False
        if not self._schema_ready:
            self._ensure_schema(self._conn)
        return self._conn

    def _live_connection(self) -> Any:
        """A connection that just answered ``SELECT 1``: a broken one (server restarted,
        killed) is replaced once; a server that stays down raises ConnectionError at once."""
        import psycopg

        for attempt in (0, 1):
            try:
                conn = self._connect()
                conn.execute("SELECT 1")
                return conn
            except psycopg.OperationalError as exc:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
                if attempt:
                    raise ConnectionError(
                        f"Postgres lineage store {self.table}: the server is not reachable "
                        f"({str(exc).strip()}); it may have been stopped, killed or run out of "
                        "disk. Start it again and retry."
                    ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _ident(self) -> Any:
        from psycopg import sql

        return sql.Identifier(*self._table_parts)

    def _ensure_schema(self, conn: Any) -> None:
        from psycopg import sql

        with conn.transaction(), conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"fieldkit:{self.table}",))
            cur.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} ("
                    " seq bigserial PRIMARY KEY,"
                    " exp_id text NOT NULL,"
                    " cells jsonb NOT NULL,"
                    " written_at timestamptz NOT NULL DEFAULT now())"
                ).format(self._ident())
            )
        self._schema_ready = True

    def close(self) -> None:
        """Close the connection (the store reconnects on next use)."""
        with self._mu:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # -- storage hooks --------------------------------------------------------------------
    def _sync(self) -> LineageIndex:
        from psycopg import sql

        conn = self._live_connection()
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("SELECT seq, cells FROM {} WHERE seq > %s ORDER BY seq").format(
                    self._ident()
                ),
                (self._last_seq,),
            )
            rows = cur.fetchall()
        idx = self._index
        bad: list[tuple[int, str]] = []
        for seq, cells in rows:
            doc = cells if isinstance(cells, dict) else json.loads(cells)
            header = tuple(doc)
            if not idx.trials and not self._metric_checked:
                field = choose_metric_field(self._metric_field_arg, header, self._where())
                if field != idx.metric_field:
                    idx = self._index = LineageIndex(
                        metric_field=field, lower_is_better=self.lower_is_better
                    )
                self._metric_checked = True
            try:
                values = [_cell_text(doc[k]) for k in header]
                idx.add(Trial.from_cells(header, values, metric_field=idx.metric_field))
            except ValueError as exc:
                bad.append((seq, str(exc)))
                if self.strict:
                    break
            self._last_seq = seq
        if bad:
            if not self.strict:
                self.malformed_rows.extend(bad)
                self.skipped_rows += len(bad)
            report_malformed(self._where(), bad, strict=self.strict, unit="seq")
        return idx

    def append(self, trial: Trial) -> None:
        """Insert one trial; concurrent appenders are serialised until commit."""
        from psycopg import sql
        from psycopg.types.json import Jsonb

        if not isinstance(trial, Trial):
            raise TypeError(f"append() takes a Trial, got {type(trial).__name__}")
        columns = (*CANONICAL_HEADER, *trial.extras)
        field = default_metric_field(columns)
        if self._metric_field_arg is not None and self._metric_field_arg in columns:
            field = self._metric_field_arg
        fmt = self.float_format
        doc = {col: trial.file_cell(col, field, float_format=fmt) for col in CANONICAL_HEADER}
        for k, v in trial.extras.items():
            doc.setdefault(k, v)
        nul = [k for k, v in doc.items() if "\x00" in v]
        if nul:  # jsonb/text cannot hold U+0000; fail clearly rather than with a server error
            raise ValueError(f"Postgres cannot store NUL characters; found in column(s) {nul}")
        with self._mu:
            conn = self._live_connection()  # the insert itself is never retried
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"fieldkit:{self.table}",)
                )
                cur.execute(
                    sql.SQL("INSERT INTO {} (exp_id, cells) VALUES (%s, %s)").format(self._ident()),
                    (trial.exp_id, Jsonb(doc)),
                )
