"""`fieldkit rag ingest|search|ask` over a small folder, embedded Postgres, real embedder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fieldkit.cli import app
from fieldkit.testing import NIMSimulator


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "notes"
    d.mkdir()
    (d / "spark.md").write_text(
        "# Spark notes\n\n## Memory\n\nThe DGX Spark has 128 GB of unified memory.\n",
        encoding="utf-8",
    )
    (d / "olympics.txt").write_text("The 2004 Athens Olympics hosted 28 sports.\n")
    (d / "junk.txt").write_bytes(b"\x00\x00binary")
    return d


def test_ingest_search_ask_json(folder: Path, pg_dsn: str, pg_table: str) -> None:
    runner = CliRunner()
    base = ["--table", pg_table, "--dsn", pg_dsn, "--device", "cpu"]
    res = runner.invoke(app, ["rag", "ingest", str(folder), *base, "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["added"] == 2 and summary["warnings"][0]["path"].endswith("junk.txt")

    res = runner.invoke(app, ["rag", "ingest", str(folder), *base])
    assert res.exit_code == 0 and "2 unchanged" in res.stdout

    res = runner.invoke(app, ["rag", "search", "unified memory", *base, "--json", "--k", "2"])
    assert res.exit_code == 0, res.output
    first = json.loads(res.stdout)["results"][0]
    assert first["source"]["path"].endswith("spark.md")
    assert first["source"]["heading"] == ["Spark notes", "Memory"]

    res = runner.invoke(app, ["rag", "search", "unified memory", *base])
    assert res.exit_code == 0 and "[1] " in res.stdout and "spark.md:5 › " in res.stdout

    res = runner.invoke(app, ["rag", "ask", "How much memory?", *base, "--no-generate", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["answer"] is None and out["citations"][0]["source"]["path"].endswith("spark.md")


def test_ask_with_an_openai_compatible_url(
    folder: Path, pg_dsn: str, pg_table: str, simulator: NIMSimulator
) -> None:
    runner = CliRunner()
    base = ["--table", pg_table, "--dsn", pg_dsn, "--device", "cpu"]
    assert runner.invoke(app, ["rag", "ingest", str(folder), *base]).exit_code == 0
    res = runner.invoke(
        app, ["rag", "ask", "How much memory?", *base, "--nim-url", simulator.base_url]
    )
    assert res.exit_code == 0, res.output
    assert "sources:" in res.stdout and "[1] " in res.stdout
    # the generator cites passages by chunk id ("Sources: [id]"): each citation shows its id
    found = runner.invoke(app, ["rag", "ask", "How much memory?", *base, "--no-generate", "--json"])
    ids = [c["id"] for c in json.loads(found.stdout)["citations"]]
    assert ids and all(f"[id {i}]" in res.stdout for i in ids)


def test_errors_are_one_line_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["rag", "ingest", str(tmp_path / "nope")])
    assert res.exit_code == 2 and res.stderr.startswith("error: no such file or folder")
    res = runner.invoke(app, ["rag", "search", "q", "--mode", "fuzzy"])
    assert res.exit_code == 2 and res.stderr.startswith("error: Invalid value for '--mode'")
    assert "'dense', 'lexical', 'hybrid'" in res.stderr
    res = runner.invoke(app, ["rag", "ask", "q", "--nim-url", "ftp://x"])
    assert res.exit_code == 2 and "error: --nim-url" in res.stderr
    assert runner.invoke(app, ["rag", "-h"]).exit_code == 0


def test_local_embedder_leaves_hf_offline_unset() -> None:
    """Loading the bundled model must not switch the whole process's Hub access off."""
    code = (
        "import os; from fieldkit.rag import LocalEmbedder; e = LocalEmbedder(); e.load(); "
        "e.embed(['x']); print(os.environ.get('HF_HUB_OFFLINE'), "
        "os.environ.get('TRANSFORMERS_OFFLINE'), e.threads >= 1)"
    )
    env = {
        k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    }
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=240
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["None", "None", "True"]


def test_bench_rag_on_a_folder_with_questions(
    folder: Path, tmp_path: Path, pg_dsn: str, pg_table: str
) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        '{"question": "How much unified memory does the Spark have?", '
        '"answer_paths": ["spark.md"]}\n'
        '{"question": "Who won the 1998 World Cup final?", "answer_paths": []}\n'
    )
    runner = CliRunner()
    args = ["bench", "rag", "--corpus", str(folder), "--questions", str(questions)]
    res = runner.invoke(app, [*args, "--dsn", pg_dsn, "--table", pg_table, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["ingest"]["documents"] == 3 and out["ingest"]["chunks"] == 2
    assert out["hit_rate"]["lexical"]["hit@1"] == 1.0
    res = runner.invoke(app, ["bench", "rag", "--corpus", str(folder)])
    assert res.exit_code == 2 and "--questions" in res.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('[{"question": "x", "answer_paths": ["missing.md"]}]')
    res = runner.invoke(app, [*args[:-1], str(bad)])
    assert res.exit_code == 2 and "missing.md not found" in res.stderr


def test_search_of_a_table_never_ingested_is_one_error_line(pg_dsn: str, pg_table: str) -> None:
    res = CliRunner().invoke(
        app, ["rag", "search", "memory", "--table", pg_table, "--dsn", pg_dsn, "--device", "cpu"]
    )
    assert res.exit_code == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and pg_table in lines[0]
    assert "fieldkit rag ingest" in lines[0]


def test_the_cli_mode_names_are_the_library_retrieval_modes() -> None:
    from typing import get_args

    from fieldkit.cli._rag_modes import RetrievalModeName
    from fieldkit.rag import RETRIEVAL_MODES, RetrievalMode

    assert get_args(RetrievalModeName) == get_args(RetrievalMode) == RETRIEVAL_MODES


def test_embed_url_embeds_through_a_remote_embeddings_server(
    folder: Path, pg_dsn: str, pg_table: str, simulator: NIMSimulator
) -> None:
    runner = CliRunner()
    base = ["--table", pg_table, "--dsn", pg_dsn, "--no-server"]
    remote = ["--embed-url", simulator.base_url, "--embed-model", "sim-embed", "--embed-dim", "64"]
    res = runner.invoke(app, ["rag", "ingest", str(folder), *base[:4], *remote, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["added"] == 2
    sent = [r.json for r in simulator.requests_to("/embeddings")]
    assert sent and all(b["model"] == "sim-embed" and b["dimensions"] == 64 for b in sent)
    # a new table: one probe of the server's vector size, then both files' chunks in one batch
    assert next(b["input"] for b in sent) == ["dimension probe"]
    assert [len(b["input"]) for b in sent][1:] == [2]
    assert {b["input_type"] for b in sent} == {"passage"}

    simulator.reset()
    res = runner.invoke(app, ["rag", "search", "unified memory", *base, *remote, "--json"])
    assert res.exit_code == 0, res.output
    paths = {Path(r["source"]["path"]).name for r in json.loads(res.stdout)["results"]}
    assert paths == {"spark.md", "olympics.txt"}
    queries = [r.json for r in simulator.requests_to("/embeddings")]
    assert [(q["input"], q["input_type"]) for q in queries] == [(["unified memory"], "query")]

    simulator.reset()
    res = runner.invoke(
        app, ["rag", "ask", "How much memory?", *base, *remote, "--no-generate", "--json"]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["citations"]
    assert [r.json["input"] for r in simulator.requests_to("/embeddings")] == [["How much memory?"]]

    # the table remembers its embedder: a different dimension is refused in one line
    res = runner.invoke(
        app,
        ["rag", "search", "memory", *base, "--embed-url", simulator.base_url, "--embed-dim", "32"],
    )
    assert res.exit_code == 1 and res.stderr.startswith("error: ") and res.stderr.count("\n") == 1


def test_embed_options_are_checked_before_any_work() -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["rag", "search", "q", "--embed-url", "ftp://x"])
    assert res.exit_code == 2 and res.stderr.startswith("error: --embed-url")
    res = runner.invoke(app, ["rag", "ingest", ".", "--embed-dim", "64"])
    assert (
        res.exit_code == 2
        and res.stderr == "error: --embed-model and --embed-dim need --embed-url\n"
    )
    res = runner.invoke(
        app, ["rag", "ask", "q", "--embed-url", "http://127.0.0.1:9/v1", "--embed-dim", "0"]
    )
    assert res.exit_code == 2 and res.stderr == "error: --embed-dim must be positive\n"
    res = runner.invoke(app, ["rag", "serve", "--embed-model", "m"])
    assert res.exit_code == 2 and "need --embed-url" in res.stderr


def test_a_wrong_embed_dim_creates_nothing_so_the_corrected_command_works(
    folder: Path, pg_dsn: str, pg_table: str, simulator_factory: Callable[..., NIMSimulator]
) -> None:
    # a server that ignores `dimensions` (as llama-server does) returns its own size
    sim = simulator_factory(embed_dim=64, honour_dimensions=False)
    runner = CliRunner()
    base = ["rag", "ingest", str(folder), "--table", pg_table, "--dsn", pg_dsn]
    remote = ["--embed-url", sim.base_url, "--embed-model", "sim-embed"]
    res = runner.invoke(app, [*base, *remote, "--embed-dim", "32", "--json"])
    assert res.exit_code == 1 and res.stderr.startswith("error: ") and res.stderr.count("\n") == 1
    assert "dimension 32" in res.stderr and "dimension 64" in res.stderr
    res = runner.invoke(app, [*base, *remote, "--embed-dim", "64", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["added"] == 2
