"""`bench rag --mlflow`: the run becomes one finished MLflow run in a real sqlite store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fieldkit.cli import app

pytest.importorskip("mlflow")


def _uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def test_bench_rag_logs_one_run(tmp_path: Path, pg_dsn: str, pg_table: str) -> None:
    from mlflow.tracking import MlflowClient

    corpus = {
        "name": "tiny",
        "passages": [
            {"id": 1, "label": "hw", "text": "The DGX Spark has 128 GB of unified memory."},
            {"id": 2, "label": "db", "text": "pgvector's <=> operator is the cosine distance."},
        ],
        "questions": [{"question": "Which operator is the cosine distance?", "answer_ids": [2]}],
    }
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(corpus), encoding="utf-8")
    uri = _uri(tmp_path)
    args = ["bench", "rag", "--dsn", pg_dsn, "--table", pg_table, "--json", "--corpus", str(path)]
    result = CliRunner().invoke(app, [*args, "--mlflow", uri])
    assert result.exit_code == 0, result.output + result.stderr
    data = json.loads(result.stdout)
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("fieldkit-bench-rag")
    assert exp is not None
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.status == "FINISHED" and run.data.tags["fieldkit.bench"] == "rag"
    assert run.data.params["corpus"] == "tiny"
    assert run.data.metrics["hit_rate_dense_hit_5"] == data["hit_rate"]["dense"]["hit@5"]
    assert run.data.metrics["ingest_chunks"] == 2.0


def test_bench_rag_bad_store_is_refused_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    bad = f"sqlite:///{tmp_path / 'a-file' / 'm.db'}"
    result = CliRunner().invoke(app, ["bench", "rag", "--mlflow", bad])
    assert result.exit_code == 2
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --mlflow:"), result.stderr
