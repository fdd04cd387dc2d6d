"""`fieldkit bench rag`: the main job, offline by default, real services by flag."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from fieldkit.cli import app
from fieldkit.rag import DEFAULT_EMBED_MODEL
from fieldkit.testing import NIMSimulator

ENV_VARS = ("EMBED_BASE_URL", "NIM_BASE_URL", "NIM_MODEL", "PGVECTOR_DSN")


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    return CliRunner()


TINY_CORPUS = {
    "name": "tiny",
    "passages": [
        {"id": 1, "label": "hw", "text": "The DGX Spark has 128 GB of unified memory."},
        {"id": 2, "label": "hw", "text": "The GB10 superchip pairs an Arm CPU with a GPU."},
        {"id": 3, "label": "db", "text": "pgvector's <=> operator is the cosine distance."},
        {"id": 4, "label": "db", "text": "A GIN index makes Postgres full-text search fast."},
        {"id": 5, "label": "x", "text": "The 2004 Athens Olympics hosted 28 sports."},
    ],
    "questions": [
        {"question": "How much unified memory does the DGX Spark have?", "answer_ids": [1]},
        {"question": "Which operator gives the cosine distance?", "answer_ids": [3]},
        {"question": "Who won the 1998 football World Cup final?", "answer_ids": []},
    ],
}


@pytest.fixture
def tiny(tmp_path: Path) -> str:
    """A 5-passage, 3-question corpus: the CLI tests check options, not retrieval quality
    (tests/rag/test_bench.py and the fresh-process test run the bundled corpus)."""
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY_CORPUS), encoding="utf-8")
    return str(path)


def _count(dsn: str, table: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()
    assert row is not None
    return int(row[0])


def test_help_lists_the_0_3_0_options(runner: CliRunner) -> None:
    result = runner.invoke(app, ["bench", "rag", "--help"])
    assert result.exit_code == 0
    for opt in (
        "--embed-url",
        "--nim-url",
        "--nim-model",
        "--pgvector-dsn",
        "--dsn",
        "--table",
        "--out",
        "--json",
    ):
        assert opt in result.output


def test_help_never_shows_a_dsn_password(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGVECTOR_DSN", "postgresql://spark:hunter2@db:5432/vectors")
    result = runner.invoke(app, ["bench", "rag", "--help"])
    assert result.exit_code == 0
    assert "hunter2" not in result.output


def test_offline_run_json_and_rerun_replaces(
    runner: CliRunner, pg_dsn: str, pg_table: str, tmp_path: Path, tiny: str
) -> None:
    args = ["bench", "rag", "--dsn", pg_dsn, "--table", pg_table, "--json", "--corpus", tiny]
    first = runner.invoke(app, [*args, "--out", str(tmp_path / "r.json")])
    assert first.exit_code == 0, first.output + first.stderr
    data = json.loads(first.stdout)
    assert data["ingest"]["chunks"] == data["ingest"]["documents"] == 5
    assert data["config"]["corpus"] == "tiny"
    assert set(data["hit_rate"]) == {"dense", "lexical", "hybrid"}
    for mode in ("dense", "lexical", "hybrid"):
        assert data["hit_rate"][mode]["hit@5"] == 1.0
        assert data["hit_rate"][mode]["n"] == 2
    lat = data["latency_ms"]
    assert set(lat) == {"embed", "retrieve", "rerank", "generate", "end_to_end", "ttft"}
    assert lat["generate"]["skipped"] and lat["generate"]["p50"] is None
    assert lat["rerank"]["skipped"]
    assert lat["end_to_end"]["p50"] > 0 and lat["end_to_end"]["p95"] >= lat["end_to_end"]["p50"]
    assert any("answers are None" in n for n in data["notes"])
    assert any("rerank skipped" in n for n in data["notes"])
    full = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert len(full["calls"]) == data["config"]["questions"]
    assert all(c["answer"] is None for c in full["calls"])
    assert "wrote" in first.stderr
    n = _count(pg_dsn, pg_table)
    assert n == data["ingest"]["chunks"]

    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output + second.stderr
    assert json.loads(second.stdout)["ingest"]["chunks"] == n
    assert _count(pg_dsn, pg_table) == n


def test_text_report(runner: CliRunner, pg_dsn: str, pg_table: str, tiny: str) -> None:
    result = runner.invoke(
        app, ["bench", "rag", "--pgvector-dsn", pg_dsn, "--table", pg_table, "--corpus", tiny]
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"ingested 5 chunks into {pg_table}" in out
    assert "5 passages, 3 questions" in out
    assert "hit rate (n=2)" in out
    for word in ("embed", "retrieve", "rerank", "generate", "end_to_end", "p50", "p95"):
        assert word in out
    for mode in ("dense", "lexical", "hybrid"):
        assert mode in out
    assert "hit@5" in out
    assert "answers are None" in out
    assert "pass-through" in out


def test_with_services_from_env(
    runner: CliRunner,
    pg_dsn: str,
    pg_table: str,
    simulator: NIMSimulator,
    monkeypatch: pytest.MonkeyPatch,
    tiny: str,
) -> None:
    monkeypatch.setenv("NIM_BASE_URL", simulator.base_url)
    monkeypatch.setenv("EMBED_BASE_URL", simulator.base_url)
    monkeypatch.setenv("PGVECTOR_DSN", pg_dsn)
    simulator.set_chat_reply(
        lambda body: (
            "The provided context does not contain the answer."
            if "election" in body["messages"][-1]["content"]
            or "ethanol" in body["messages"][-1]["content"]
            or "World Cup" in body["messages"][-1]["content"]
            else "An answer. Sources: [1]"
        )
    )
    result = runner.invoke(
        app,
        [
            "bench",
            "rag",
            "--table",
            pg_table,
            "--embed-dim",
            "384",
            "--json",
            "--rerank-url",
            simulator.base_url + "/ranking",
            "--corpus",
            tiny,
        ],
    )
    assert result.exit_code == 0, result.output + result.stderr
    data = json.loads(result.stdout)
    assert "waiting for embed NIM" in result.stderr
    assert "waiting for chat NIM" in result.stderr
    assert data["config"]["generator"] == simulator.model
    assert data["config"]["embedder"].startswith("NIM ")
    assert data["answers"] == {
        "generator": True,
        "failed": 0,
        "in_corpus_answered": 2,
        "in_corpus_total": 2,
        "out_of_corpus_refused": 1,
        "out_of_corpus_total": 1,
        "verdicts": {"right": 0, "wrong": 0, "copied": 0, "refused": 1},  # no gold: ungraded
    }
    assert not data["latency_ms"]["generate"]["skipped"]
    assert not data["latency_ms"]["rerank"]["skipped"]
    assert simulator.requests_to("/chat/completions")
    assert simulator.requests_to("/ranking")


def test_service_flags(
    runner: CliRunner, pg_dsn: str, pg_table: str, simulator: NIMSimulator, tiny: str
) -> None:
    sim = simulator.base_url
    args = ["--embed-url", sim, "--embed-dim", "384", "--nim-url", sim, "--dsn", pg_dsn]
    result = runner.invoke(
        app, ["bench", "rag", *args, "--table", pg_table, "--corpus", tiny, "--json"]
    )
    assert result.exit_code == 0, result.output + result.stderr
    cfg = json.loads(result.stdout)["config"]
    assert cfg["embedder"] == f"NIM {DEFAULT_EMBED_MODEL} at {simulator.base_url}"
    assert cfg["generator"] == simulator.model and cfg["store"] == "external Postgres"
    assert len(simulator.requests_to("/embeddings")) > 0
    assert len(simulator.requests_to("/chat/completions")) == 3


def test_dimension_change_recreates_the_bench_table(
    runner: CliRunner, pg_dsn: str, pg_table: str, tiny: str
) -> None:
    with psycopg.connect(pg_dsn) as conn:
        conn.execute(
            f'CREATE TABLE "{pg_table}" (id BIGINT PRIMARY KEY, label TEXT, '
            "text TEXT NOT NULL, embedding vector(8) NOT NULL)"
        )
    result = runner.invoke(
        app, ["bench", "rag", "--dsn", pg_dsn, "--table", pg_table, "--json", "--corpus", tiny]
    )
    assert result.exit_code == 0, result.output + result.stderr
    assert any("recreated" in n for n in json.loads(result.stdout)["notes"])


@pytest.mark.slow  # ~30 s: a fresh interpreter starts its own embedded Postgres
def test_embedded_default_in_a_fresh_process_and_home(tiny: str) -> None:
    """The CI path: no flags, no env, a fresh FIELDKIT_HOME; the server stops with the process."""
    home = Path(tempfile.mkdtemp(prefix="fk-rag-home-"))  # pgserver's user must reach it
    home.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env["FIELDKIT_HOME"] = str(home)
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "fieldkit",
                "bench",
                "rag",
                "--json",
                "--k",
                "3",
                "--corpus",
                tiny,
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=240,
        )
        assert proc.returncode == 0, proc.stderr
        data = json.loads(proc.stdout)
        assert data["config"]["store"] == "embedded Postgres"
        assert data["hit_rate"]["hybrid"]["hit@3"] == 1.0
        assert (home / "pgdata").is_dir()
        # shut down cleanly when the process exited: no server left running on the data dir
        assert not (home / "pgdata" / "postmaster.pid").exists()
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mode", "fuzzy"], "Invalid value for '--mode'"),
        (["--table", "x; DROP TABLE y"], "invalid table name"),
        (["--k", "0"], "--k, --rerank-k and --max-tokens must be positive"),
        (["--corpus", "/nonexistent/corpus.json"], "cannot read corpus /nonexistent/corpus.json"),
        (["--embed-url", "notaurl"], "--embed-url must be an http(s) URL"),
        (["--rerank-url", "ftp://host/rank"], "--rerank-url must be an http(s) URL"),
        (["--out", "/proc/no-such-dir/out.json"], "--out /proc/no-such-dir/out.json: cannot write"),
        (["--out", "/"], "--out / is a directory"),
    ],
)
def test_user_errors_exit_2(runner: CliRunner, args: list[str], message: str) -> None:
    # an unreachable NIM would be waited for (and exit 1) if the user error came second
    result = runner.invoke(
        app, ["bench", "rag", *args, "--nim-url", "http://127.0.0.1:9/v1", "--warm-timeout", "5"]
    )
    assert result.exit_code == 2
    assert f"error: {message}" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "cannot read corpus"),
        ('{"passages": []}', "is malformed (KeyError"),
        ('{"passages": [], "questions": []}', "needs at least one passage and one question"),
        (
            '{"passages": [{"id": 1, "text": "a"}], "questions": '
            '[{"question": "q?", "answer_ids": [2]}]}',
            "answer_ids [2] name no passage",
        ),
        (
            '{"passages": [{"id": 1, "text": "a"}, {"id": 1, "text": "b"}], "questions": '
            '[{"question": "q?", "answer_ids": [1]}]}',
            "passage ids must be unique",
        ),
    ],
)
def test_bad_corpus_file_exits_2(
    runner: CliRunner, tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "c.json"
    path.write_text(content, encoding="utf-8")
    result = runner.invoke(app, ["bench", "rag", "--corpus", str(path)])
    assert result.exit_code == 2, result.output
    assert "error: " in result.stderr and message in result.stderr
    assert "Traceback" not in result.output


def test_unreachable_nim_exits_1(runner: CliRunner) -> None:
    result = runner.invoke(
        app, ["bench", "rag", "--nim-url", "http://127.0.0.1:9/v1", "--warm-timeout", "0.3"]
    )
    assert result.exit_code == 1
    assert "error: chat NIM not warm in time" in result.stderr


def test_unreachable_database_exits_1(runner: CliRunner) -> None:
    result = runner.invoke(
        app, ["bench", "rag", "--dsn", "postgresql://u:topsecret@127.0.0.1:9/x", "--json"]
    )
    assert result.exit_code == 1
    assert "error: cannot connect" in result.stderr
    assert "topsecret" not in result.stderr


def test_a_failing_question_does_not_sink_the_bench(
    runner: CliRunner,
    pg_dsn: str,
    pg_table: str,
    simulator: NIMSimulator,
    tmp_path: Path,
    tiny: str,
) -> None:
    from fieldkit.testing import Fault

    simulator.enqueue(Fault(status=400, path="/chat/completions"))
    result = runner.invoke(
        app,
        [
            "bench",
            "rag",
            "--dsn",
            pg_dsn,
            "--table",
            pg_table,
            "--nim-url",
            simulator.base_url,
            "--json",
            "--out",
            str(tmp_path / "r.json"),
            "--corpus",
            tiny,
        ],
    )
    assert result.exit_code == 0, result.output + result.stderr
    data = json.loads(result.stdout)
    assert data["answers"]["failed"] == 1
    assert data["latency_ms"]["generate"]["n"] == data["config"]["questions"] - 1
    assert any("1 of 3 questions failed" in n and "400" in n for n in data["notes"])
    calls = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["calls"]
    assert [c["success"] for c in calls].count(False) == 1


@pytest.mark.slow  # ~21 s: real llama-server with the real model
def test_local_model_answers_and_is_graded(
    runner: CliRunner, pg_dsn: str, pg_table: str, tmp_path: Path
) -> None:
    corpus = json.loads(json.dumps(TINY_CORPUS))
    corpus["questions"][0]["answers"] = ["128 GB"]
    corpus["questions"][1]["answers"] = ["<=>"]
    path = tmp_path / "graded.json"
    path.write_text(json.dumps(corpus), encoding="utf-8")
    args = ["bench", "rag", "--local", "--dsn", pg_dsn, "--table", pg_table, "--corpus", str(path)]
    result = runner.invoke(app, [*args, "--json", "--max-tokens", "32"])
    assert result.exit_code == 0, result.output + result.stderr
    data = json.loads(result.stdout)
    assert "local llama-server ready" in result.stderr
    assert data["config"]["generator"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    answers = data["answers"]
    assert answers["generator"] and answers["failed"] == 0
    assert answers["correct_total"] == 2
    assert answers["correctness"] == answers["correct"] / 2
    assert not data["latency_ms"]["ttft"]["skipped"]
    assert data["latency_ms"]["ttft"]["p50"] > 0
    assert data["generation"]["answers"] == 3
    assert data["generation"]["decode_tokens_per_s"]["p50"] > 0
    text = runner.invoke(app, [*args, "--max-tokens", "16"])
    assert text.exit_code == 0, text.output + text.stderr
    assert "answer correctness:" in text.stdout
    assert "verdicts: " in text.stdout and sum(answers["verdicts"].values()) == 3
    assert "SmolLM2-135M-Instruct proves the plumbing only" in text.stdout
    assert "scripts/main --nim-url" in text.stdout
    assert "ttft" in text.stdout and "tokens/s" in text.stdout
    assert "How much unified memory does the DGX Spark have?" in text.stdout


def test_local_conflicts_with_nim_url(runner: CliRunner, simulator: NIMSimulator) -> None:
    result = runner.invoke(app, ["bench", "rag", "--local", "--nim-url", simulator.base_url])
    assert result.exit_code == 2
    assert "--local and --nim-url" in result.output


def test_nim_model_is_checked_against_the_server(
    runner: CliRunner, pg_dsn: str, pg_table: str, simulator: NIMSimulator, tiny: str
) -> None:
    args = ["bench", "rag", "--nim-url", simulator.base_url, "--dsn", pg_dsn, "--corpus", tiny]
    bad = runner.invoke(app, [*args, "--table", pg_table, "--nim-model", "typo/model"])
    assert bad.exit_code == 2
    assert f"'typo/model' is not served there; the server lists: {simulator.model}" in bad.output
