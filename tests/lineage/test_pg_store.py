"""PostgresLineageStore against the session's embedded Postgres (real server, real sockets)."""

from __future__ import annotations

import multiprocessing as mp

import pytest

from fieldkit.lineage import FailureLabel, PostgresLineageStore, Trial
from tests._pg import kill_postmaster
from tests.lineage._workers import make_trial, pg_append_many


def test_same_rendering_as_file_store(
    pg_dsn: str, pg_table: str, five_trials: list[Trial], golden: str
) -> None:
    with PostgresLineageStore(pg_dsn, table=pg_table) as store:
        assert store.all_trials() == [] and store.best() is None
        for t in five_trials:
            store.append(t)
        snap = store.render_prompt(
            "tok", top_k=10, recent_n=10, last_m_full=3, session_timestamp="2026-05-11T11:00:00Z"
        )
        assert snap.rendered_prompt == golden
        assert store.all_trials() == five_trials
        assert [t.exp_id for t in store.chain_to("exp_030")] == ["000", "014", "030"]
        with pytest.raises(KeyError, match=f"not in table {pg_table}"):
            store.chain_to("999")
    # A second store on the same table sees everything (fresh incremental read).
    other = PostgresLineageStore(pg_dsn, table=pg_table)
    assert other.best().exp_id == "030"  # type: ignore[union-attr]
    other.close()


def test_extras_round_trip(pg_dsn: str, pg_table: str) -> None:
    t = Trial.from_row({**{h: "" for h in Trial.header()}, "exp_id": "1", "status": "keep"})
    import dataclasses

    t = dataclasses.replace(t, extras={"accuracy": "0.96"}, core_metric=25.1)
    with PostgresLineageStore(pg_dsn, table=pg_table) as store:
        store.append(t)
        back = store.all_trials()[0]
    assert back == t and back.status is FailureLabel.KEEP


def test_concurrent_appends_from_processes(pg_dsn: str, pg_table: str) -> None:
    with mp.get_context("spawn").Pool(4) as pool:
        pool.starmap(pg_append_many, [(pg_dsn, pg_table, w, 50) for w in range(4)])
    with PostgresLineageStore(pg_dsn, table=pg_table) as store:
        ids = [t.exp_id for t in store.all_trials()]
        assert len(ids) == 200 and len(set(ids)) == 200
        for w in range(4):
            assert [int(i.split("-")[1]) for i in ids if i.startswith(f"p{w}-")] == list(range(50))
        store.append(make_trial("late", metric=0.1))
        assert len(store) == 201


@pytest.mark.parametrize("bad", ["x; DROP TABLE y", "1abc", "a.b.c", "", 'quo"te', "a" * 64])
def test_table_names_validated(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid table name"):
        PostgresLineageStore("postgresql://u:secret@127.0.0.1/db", table=bad)


def test_repr_hides_dsn() -> None:
    store = PostgresLineageStore("postgresql://u:s3cret@127.0.0.1/db", table="public.trials")
    assert "s3cret" not in repr(store) and "public.trials" in repr(store)


def test_nul_characters_are_refused_before_touching_the_server() -> None:
    store = PostgresLineageStore("postgresql://u:s@127.0.0.1:9/none", table="t")
    with pytest.raises(ValueError, match=r"NUL characters.*\['hypothesis'\]"):
        store.append(make_trial("1", hypothesis="a\x00b"))


def test_embedded_server_killed_under_the_store_is_restarted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import shutil
    import tempfile
    from pathlib import Path

    from fieldkit._embedded_pg import stop_embedded

    home = Path(tempfile.mkdtemp(prefix="fieldkit-lineage-kill-"))
    monkeypatch.setenv("FIELDKIT_HOME", str(home))
    try:
        store = PostgresLineageStore(table="kill_lineage")
        store.append(make_trial("000"))
        kill_postmaster(home / "pgdata")
        store.append(make_trial("001"))  # restarted
        assert [t.exp_id for t in store.all_trials()] == ["000", "001"]
        store.close()
    finally:
        stop_embedded(home / "pgdata")
        shutil.rmtree(home, ignore_errors=True)


def test_external_server_down_is_a_clear_connection_error(pg_table: str) -> None:
    store = PostgresLineageStore("postgresql://nobody@/x?host=/nonexistent-dir", table=pg_table)
    with pytest.raises(ConnectionError, match=r"(?s)server is not reachable.*Start it again"):
        store.all_trials()


def _insert_raw(dsn: str, table: str, cells: dict[str, object]) -> None:
    """A row written by another tool, straight into the table."""
    import psycopg
    from psycopg.types.json import Jsonb

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            f"INSERT INTO {table} (exp_id, cells) VALUES (%s, %s)",
            (str(cells.get("exp_id", "")), Jsonb(cells)),
        )


def test_malformed_rows_follow_the_file_store_policy(pg_dsn: str, pg_table: str) -> None:
    from fieldkit.lineage import MalformedRowWarning

    with PostgresLineageStore(pg_dsn, table=pg_table) as store:
        store.append(make_trial("a", metric=1.0))
        bad = {**dict(zip(Trial.header(), make_trial("b").to_row(), strict=True))}
        bad["core_metric"] = "oops"
        _insert_raw(pg_dsn, pg_table, bad)
        store.append(make_trial("c", metric=0.5))
        with pytest.warns(
            MalformedRowWarning, match=r"malformed row.*seq 2: column 'core_metric'"
        ) as caught:
            ids = [t.exp_id for t in store.all_trials()]
        assert [w.filename for w in caught] == [__file__]  # the caller's line, not a store frame
        assert ids == ["a", "c"]
        assert store.skipped_rows == 1
        assert store.malformed_rows == [(2, "column 'core_metric': 'oops' is not a number")]
    strict = PostgresLineageStore(pg_dsn, table=pg_table, strict=True)
    with strict, pytest.raises(ValueError, match="malformed row at seq 2"):
        strict.all_trials()


def test_metric_choice_and_float_format_match_the_file_store(pg_dsn: str, pg_table: str) -> None:
    import psycopg

    with PostgresLineageStore(pg_dsn, table=pg_table, float_format="cxcscmu") as store:
        store.append(make_trial("a", metric=1.07221))
        with psycopg.connect(pg_dsn) as conn:
            (cells,) = conn.execute(f"SELECT cells FROM {pg_table}").fetchone()
        assert cells["core_metric"] == "1.072210"
    other = PostgresLineageStore(pg_dsn, table=pg_table, metric_field="nope")
    with other, pytest.raises(ValueError, match="metric column 'nope' is not in the header"):
        other.best()
    with pytest.raises(ValueError, match="float_format"):
        PostgresLineageStore(pg_dsn, table=pg_table, float_format="fancy")  # type: ignore[arg-type]


def test_embedded_server_that_cannot_restart_is_a_connection_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import shutil
    import tempfile
    from pathlib import Path

    from fieldkit._embedded_pg import stop_embedded

    home = Path(tempfile.mkdtemp(prefix="fieldkit-lineage-dead-"))
    monkeypatch.setenv("FIELDKIT_HOME", str(home))
    try:
        store = PostgresLineageStore(table="dead_lineage")
        store.append(make_trial("000"))
        pgdata = home / "pgdata"
        kill_postmaster(pgdata)
        with open(pgdata / "postgresql.conf", "a") as conf:
            conf.write("\nshared_buffers = 'nonsense'\n")
        with pytest.raises(ConnectionError, match=r"(?s)could not be restarted.*shared_buffers"):
            store.append(make_trial("001"))
        store.close()
    finally:
        stop_embedded(home / "pgdata")
        shutil.rmtree(home, ignore_errors=True)
