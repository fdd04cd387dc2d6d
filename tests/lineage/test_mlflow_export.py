"""Export to a real MLflow tracking store (SQLite in tmp): nesting, idempotence, bad URIs."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fieldkit.lineage import FailureLabel, LineageStore, Trial
from fieldkit.lineage._mlflow import export_trials
from fieldkit.lineage.views import ExportError

pytest.importorskip("mlflow")
pytest.importorskip("sqlalchemy")
pytest.importorskip("alembic")


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One SQLite tracking store per module (creating its schema takes seconds)."""
    yield f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


def _state(uri: str, experiment: str) -> dict[str, Any]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    by_run = {r.info.run_id: r.data.tags["fieldkit.exp_id"] for r in runs}
    out: dict[str, Any] = {}
    for r in runs:
        key = r.data.tags["fieldkit.exp_id"]
        history = {m: len(client.get_metric_history(r.info.run_id, m)) for m in r.data.metrics}
        tags = {k: v for k, v in r.data.tags.items() if k != "mlflow.parentRunId"}
        parent = by_run.get(r.data.tags.get("mlflow.parentRunId", ""))
        out[key] = (r.info.status, r.info.start_time, r.info.end_time, tags,
                    dict(r.data.params), dict(r.data.metrics), history, parent)  # fmt: skip
    assert len(out) == len(runs), "a trial was exported to two runs"
    return out


def _store(root: Path, make: Callable[..., Trial]) -> LineageStore:
    store = LineageStore(root)
    base = make("000", "baseline", 1.1, notes="seed")
    store.append(dataclasses.replace(base, total_s=600.0))
    store.append(make("001", "keep", 1.05, parent="000", hypothesis="Raise lr", notes="ok"))
    store.append(make("002", "crash", None, parent="001", hypothesis="Bigger batch"))
    store.append(make("003", "discard", 1.2, parent="exp_001", specialist="opt"))
    return store


def test_export_twice_gives_the_same_state_and_nests_children(
    tmp_path: Path, make: Callable[..., Trial], tracking: str
) -> None:
    store = _store(tmp_path / "run", make)
    first = store.export_mlflow(tracking, experiment="twice")
    assert (first.created, first.updated, first.unchanged) == (4, 0, 0)
    state = _state(tracking, "twice")
    second = store.export_mlflow(tracking, experiment="twice")
    assert (second.created, second.updated, second.unchanged) == (0, 0, 4)
    assert second.runs == first.runs
    assert _state(tracking, "twice") == state
    status, _start, _end, tags, params, metrics, history, parent = state["001"]
    assert status == "FINISHED" and parent == "000"
    assert tags["status"] == "keep" and tags["specialist"] == "s" and tags["domain"] == "s"
    assert tags["parent_exp"] == "000" and tags["mlflow.runName"] == "exp_001"
    assert tags["mlflow.note.content"] == "ok"
    assert params == {"hypothesis": "Raise lr"}
    assert metrics == {"core_metric": 1.05, "val_bpb": 1.05}
    assert set(history.values()) == {1}
    assert state["002"][0] == "FAILED" and state["002"][7] == "001"
    assert state["003"][7] == "001"  # exp_001 ≡ 001
    assert state["000"][7] is None
    assert state["000"][2] - state["000"][1] == 600_000  # end = start + total_s


def test_reexport_updates_in_place(
    tmp_path: Path, make: Callable[..., Trial], tracking: str
) -> None:
    store = _store(tmp_path / "run", make)
    store.export_mlflow(tracking, experiment="grow")
    store.append(make("004", "keep", 1.0, parent="001"))
    store.append(make("002", "discard", 1.3, parent="001", hypothesis="Bigger batch"))
    again = LineageStore(tmp_path / "run").export_mlflow(tracking, experiment="grow")
    assert (again.created, again.updated, again.unchanged) == (1, 1, 3)
    state = _state(tracking, "grow")
    assert len(state) == 5
    assert state["002"][0] == "FINISHED" and state["002"][3]["status"] == "discard"
    assert state["002"][5]["core_metric"] == 1.3
    assert state["004"][7] == "001"


def test_unreachable_and_broken_tracking_uris(tmp_path: Path, make: Callable[..., Trial]) -> None:
    store = _store(tmp_path / "run", make)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(ExportError, match="unreachable"):
        store.export_mlflow(f"http://127.0.0.1:{port}", experiment="x")
    with pytest.raises(ExportError, match=r"MLflow|cannot open"):
        store.export_mlflow("bogus-scheme://nowhere", experiment="x")


def test_empty_store_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no trials"):
        LineageStore(tmp_path / "empty").export_mlflow("sqlite:///unused.db")


def test_failure_labels_map_to_run_states(make: Callable[..., Trial]) -> None:
    from fieldkit.lineage._mlflow import desired_run

    assert desired_run(make("1", FailureLabel.HARNESS_ABORT), None, "").status == "KILLED"
    assert desired_run(make("1", FailureLabel.PREFLIGHT_CRASH), None, "").status == "FAILED"
    assert (
        desired_run(make("1", FailureLabel.SIZE_BLOCKED), "r", "").tags["mlflow.parentRunId"] == "r"
    )


def test_postgres_store_exports_under_its_table_name(
    make: Callable[..., Trial], tracking: str, pg_dsn: str, pg_table: str
) -> None:
    from fieldkit.lineage import PostgresLineageStore

    pg = PostgresLineageStore(pg_dsn, table=pg_table)
    pg.append(make("000", "baseline", 1.1))
    pg.append(make("001", "keep", 1.0, parent="000"))
    result = pg.export_mlflow(tracking)
    assert result.created == 2
    state = _state(tracking, pg_table)
    assert state["001"][7] == "000"


def test_cli_export_then_reexport(
    tmp_path: Path, make: Callable[..., Trial], tracking: str
) -> None:
    import json

    from typer.testing import CliRunner

    from fieldkit.cli import app

    _store(tmp_path / "clirun", make)
    args = ["lineage", "export", str(tmp_path / "clirun"), "--mlflow", tracking, "--json"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["created"] == 4
    second = CliRunner().invoke(app, args)
    assert json.loads(second.stdout)["unchanged"] == 4
    assert len(_state(tracking, "clirun")) == 4


def test_a_lowered_metric_is_updated_and_then_stable(
    tmp_path: Path, make: Callable[..., Trial], tracking: str
) -> None:
    """A re-appended row with a smaller value (same timestamp) must win, and converge."""
    store = _store(tmp_path / "run", make)
    store.export_mlflow(tracking, experiment="lowered")
    store.append(make("003", "discard", 1.15, parent="exp_001", specialist="opt"))
    fresh = LineageStore(tmp_path / "run")
    second = fresh.export_mlflow(tracking, experiment="lowered")
    assert (second.created, second.updated) == (0, 1)
    assert _state(tracking, "lowered")["003"][5]["core_metric"] == 1.15
    third = fresh.export_mlflow(tracking, experiment="lowered")
    assert (third.created, third.updated, third.unchanged) == (0, 0, 4)
    assert _state(tracking, "lowered")["003"][5]["core_metric"] == 1.15


def test_a_server_that_never_answers_fails_by_the_request_timeout(
    tmp_path: Path, make: Callable[..., Trial]
) -> None:
    """It accepts connections and says nothing: export must give up, not wait ~20 minutes."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        silent.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(silent.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(ExportError, match="MLflow at"):
            export_trials(_store(tmp_path / "run", make).all_trials(), uri, experiment="x",
                          request_timeout=1.0)  # fmt: skip
    finally:
        stop.set()
        thread.join(timeout=5)
        for c in held:
            c.close()
        silent.close()
    assert "MLFLOW_HTTP_REQUEST_TIMEOUT" not in os.environ  # restored after the export


def test_an_export_leaves_the_environment_as_it_found_it(
    tmp_path: Path, make: Callable[..., Trial]
) -> None:
    # HTTP stores go through fieldkit's own client (its deadline is an argument, not an
    # environment variable); local stores through MLflow's. Neither may change os.environ.
    trials = _store(tmp_path / "run", make).all_trials()
    before = dict(os.environ)
    export_trials(trials, f"sqlite:///{tmp_path}/mlflow.db", experiment="x")
    assert dict(os.environ) == before
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now: the export fails fast
    with pytest.raises(ExportError):
        export_trials(trials, f"http://127.0.0.1:{port}", experiment="x", request_timeout=1.0)
    assert dict(os.environ) == before
