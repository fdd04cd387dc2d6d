"""`bench serve --mlflow`: each load point becomes a finished MLflow run in a real sqlite store."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fieldkit.cli import app
from fieldkit.servebench import BenchRun, MlflowLogError, log_bench_runs
from fieldkit.testing import NIMSimulator

pytest.importorskip("mlflow")


def _uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def test_each_load_point_is_one_finished_run(tmp_path: Path, simulator: NIMSimulator) -> None:
    from mlflow.tracking import MlflowClient

    simulator.set_token_timing(ttft_s=0.0, itl_s=0.0, tokens=4)
    uri = _uri(tmp_path)
    args = ["bench", "serve", "--base-url", simulator.base_url, "--no-progress", "-n", "3"]
    args += ["-c", "1,2", "--slo", "ttft=5s", "--json", "--mlflow", uri]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "mlflow: 2 runs" in result.stderr
    printed = [json.loads(line) for line in result.stdout.splitlines()]

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("fieldkit-bench-serve")
    assert exp is not None
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.run_name ASC"])
    assert [r.info.run_name for r in runs] == ["concurrency=1", "concurrency=2"]
    for run, rec in zip(runs, printed, strict=True):
        assert run.info.status == "FINISHED"
        data = run.data
        assert data.params["load"] == str(float(rec["load"]["concurrency"]))
        assert data.params["endpoint"] == "chat" and data.params["num_requests"] == "3"
        assert data.metrics["completed"] == 3.0 and data.metrics["output_tokens"] == 12.0
        assert data.metrics["request_throughput"] == pytest.approx(rec["request_throughput"])
        assert data.metrics["ttft_ms_p99"] == pytest.approx(rec["ttft_ms"]["p99"])
        assert data.metrics["goodput"] == pytest.approx(rec["goodput"])
        assert data.tags["fieldkit.partial"] == "false"
        assert data.tags["fieldkit.meets_slos"] == "true"


def test_repeats_are_numbered_and_non_finite_metrics_left_out(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    uri = _uri(tmp_path)
    runs = [
        BenchRun("a", {"k": "v"}, {"x": 1.5}, {"t": "1"}),
        BenchRun("b", {}, {}, {}, failed=True),
    ]
    ids = log_bench_runs(runs, uri, experiment="e")
    client = MlflowClient(tracking_uri=uri)
    got = [client.get_run(i) for i in ids]
    assert [g.info.run_name for g in got] == ["a", "b"]
    assert [g.info.status for g in got] == ["FINISHED", "FAILED"]
    assert got[0].data.metrics == {"x": 1.5} and got[0].data.params == {"k": "v"}


def test_unreachable_tracking_server_is_one_error(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(MlflowLogError, match="cannot reach MLflow"):
        log_bench_runs([BenchRun("a", {}, {}, {})], f"http://127.0.0.1:{port}", experiment="e")


@pytest.mark.parametrize("kind", ["file-as-folder", "unknown-scheme"])
def test_cli_store_that_cannot_open_is_refused_before_the_run(
    tmp_path: Path, simulator: NIMSimulator, kind: str
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    bad = f"sqlite:///{tmp_path / 'a-file' / 'm.db'}" if kind == "file-as-folder" else "ftp://x/y"
    args = ["bench", "serve", "--base-url", simulator.base_url, "--no-progress", "-n", "2"]
    result = CliRunner().invoke(app, [*args, "--mlflow", bad])
    assert result.exit_code == 2
    assert simulator.requests == []  # refused before any request
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and lines[0].startswith("error: --mlflow:"), result.stderr
    assert "Traceback" not in result.stderr


def test_flat_figures_keys_are_mlflow_safe_and_non_numbers_dropped() -> None:
    from fieldkit.servebench import bench_run, flat_figures

    figures = {"hit_rate": {"dense": {"hit@5": 1.0, "n": 2}}, "x": {"p50": None, "ok": True}}
    assert flat_figures(figures) == {"hit_rate_dense_hit_5": 1.0, "hit_rate_dense_n": 2.0}
    run = bench_run("r", {"corpus": "tiny", "k": 5, "loads": [1, 2], "t": float("nan")}, {})
    assert run.params == {"corpus": "tiny", "k": "5"}
