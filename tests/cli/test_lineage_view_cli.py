"""`fieldkit lineage plot|watch|export`: real files, bad input → one `error:` line, exit 2."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fieldkit.cli import app
from fieldkit.lineage import FailureLabel, LineageStore, Trial

runner = CliRunner()


def _t(i: str, status: str, v: float | None) -> Trial:
    return Trial(i, "2026-05-11T10:00:00Z", "s", "", "", "s", f"h {i}", "", FailureLabel(status),
                 v, v, None, None, None, "", "", "")  # fmt: skip


def _run(tmp_path: Path) -> Path:
    store = LineageStore(tmp_path / "run")
    for t in [_t("0", "baseline", 1.0), _t("1", "keep", 0.9), _t("2", "discard", 1.2)]:
        store.append(t)
    return tmp_path / "run"


def _one_error(r: object) -> str:
    assert r.exit_code == 2, r.output  # type: ignore[attr-defined]
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error")]  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in r.output  # type: ignore[attr-defined]
    return lines[0]


def test_plot_writes_the_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "p.png"
    r = runner.invoke(app, ["lineage", "plot", str(_run(tmp_path)), "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"out": str(out), "trials": 3, "bytes": out.stat().st_size}


def test_plot_of_the_shipped_parameter_golf_run(tmp_path: Path, shared_data: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "pg.svg"
    r = runner.invoke(
        app, ["lineage", "plot", str(shared_data / "pg_main"), "--salvage", "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    svg = out.read_text(encoding="utf-8")
    assert "exp_750" in svg and "val_bpb" in svg


def test_empty_store(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "results.tsv").write_text("exp_id\tstatus\n", encoding="utf-8")
    for cmd in (["plot"], ["watch", "--once"], ["export", "--mlflow", "sqlite:///x.db"]):
        r = runner.invoke(app, ["lineage", cmd[0], str(tmp_path / "empty"), *cmd[1:]])
        assert "has no trials" in _one_error(r)


def test_unknown_metric(tmp_path: Path) -> None:
    r = runner.invoke(app, ["lineage", "plot", str(_run(tmp_path)), "--metric", "accuracy"])
    assert "accuracy" in _one_error(r)


def test_bad_out_suffix_and_missing_path(tmp_path: Path) -> None:
    r = runner.invoke(app, ["lineage", "plot", str(_run(tmp_path)), "--out", "x.jpg"])
    assert ".png" in _one_error(r)
    r = runner.invoke(app, ["lineage", "watch", str(tmp_path / "nope"), "--once"])
    assert "does not exist" in _one_error(r)


def test_unreachable_tracking_uri(tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = runner.invoke(
        app, ["lineage", "export", str(_run(tmp_path)), "--mlflow", f"http://127.0.0.1:{port}"]
    )
    assert "unreachable" in _one_error(r)


def test_tracking_uri_that_is_not_mlflow_gives_one_error_line(tmp_path: Path) -> None:
    """A web server that is not MLflow answers with an HTML page: the error stays one line."""
    pytest.importorskip("mlflow")
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        uri = f"http://127.0.0.1:{server.server_address[1]}"
        r = runner.invoke(app, ["lineage", "export", str(_run(tmp_path)), "--mlflow", uri])
    finally:
        server.shutdown()
        server.server_close()
    line = _one_error(r)
    assert "404" in line and uri in line
    rest = [ln for ln in r.stderr.splitlines() if not ln.startswith("exporting ")]
    assert rest == [line], r.stderr
    assert len(line) <= 400


def test_unreachable_postgres_store_gives_one_error_line() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    dsn = f"postgresql://u@127.0.0.1:{port}/x?connect_timeout=5"
    for cmd in (["plot"], ["watch", "--once"]):
        r = runner.invoke(app, ["lineage", cmd[0], dsn, *cmd[1:]])
        line = _one_error(r)
        assert "not reachable" in line
        assert r.stderr.splitlines() == [line], r.stderr
