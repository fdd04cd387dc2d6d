"""`fieldkit rag serve|list|stats|drop` and ingest's Ctrl-C, as real subprocesses where it
matters (signals, a server another command finds)."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from fieldkit._home import fieldkit_home
from fieldkit.cli import app
from fieldkit.rag import Pipeline
from fieldkit.testing import NIMSimulator

from ..rag.test_server import _HashEmbedder

FIELDKIT = [sys.executable, "-m", "fieldkit"]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fresh FIELDKIT_HOME sharing the exported ONNX embedder (no 15 s export per test)."""
    home = tmp_path / "home"
    home.mkdir()
    cache = fieldkit_home() / "onnx"
    if cache.is_dir():
        (home / "onnx").symlink_to(cache)
    return home


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "FIELDKIT_HOME": str(home), "HF_HUB_OFFLINE": "1"}


def _readline(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise AssertionError(f"no line within {timeout} s")
    return proc.stdout.readline()


@pytest.fixture
def many_files(tmp_path: Path) -> Path:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(1100):  # one chunk each: about two write batches of 512 and a rest
        (folder / f"note{i:04d}.txt").write_text(f"Note {i} about topic {i % 37}.\n")
    return folder


def test_ingest_ctrl_c_keeps_finished_batches_and_exits_130(
    many_files: Path, pg_dsn: str, pg_table: str
) -> None:
    cmd = [*FIELDKIT, "rag", "ingest", str(many_files), "--table", pg_table, "--dsn", pg_dsn]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    files = f"{pg_table}_files"
    kept_in_db = 0
    try:
        deadline = time.monotonic() + 240
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    got = conn.execute(f"SELECT count(*) FROM {files} WHERE sha256 <> ''")
                    if (got.fetchone() or (0,))[0]:
                        break
                except psycopg.errors.UndefinedTable:
                    pass
                time.sleep(0.05)
        assert proc.poll() is None, "ingest finished before a batch could be interrupted"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    m = re.search(r"interrupted: kept (\d+) files \((\d+) chunks\)", err)
    assert m, err
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        row = conn.execute(f"SELECT count(*) FROM {files} WHERE sha256 <> ''").fetchone()
        kept_in_db = int(row[0]) if row else 0
    assert int(m.group(1)) == kept_in_db > 0 and int(m.group(2)) == kept_in_db

    # the same command again finishes the rest; nothing is duplicated
    done = subprocess.run([*cmd, "--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["unchanged"] >= kept_in_db and summary["total_files"] == 1100
    assert summary["bytes_done"] == summary["total_bytes"] > 0
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        row = conn.execute(f"SELECT count(*), count(DISTINCT doc_id) FROM {pg_table}").fetchone()
    assert row == (1100, 1100)


@pytest.fixture
def rag_server(
    home: Path, pg_dsn: str, pg_table: str, simulator: NIMSimulator, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "spark.md").write_text(
        "# Spark\n\n## Memory\n\nThe DGX Spark has 128 GB of unified memory.\n", encoding="utf-8"
    )
    env = _env(home)
    base = ["--table", pg_table, "--dsn", pg_dsn]
    ingest = subprocess.run(
        [*FIELDKIT, "rag", "ingest", str(docs), *base], env=env, capture_output=True, timeout=300
    )
    assert ingest.returncode == 0, ingest.stderr
    proc = subprocess.Popen(
        [*FIELDKIT, "rag", "serve", *base, "--port", "0", "--json",
         "--nim-url", simulator.base_url],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        info = json.loads(_readline(proc, 240))
        yield proc, {**info, "base": " ".join(base)}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_rag_ask_and_search_use_a_running_rag_serve(
    rag_server: tuple[subprocess.Popen[str], dict[str, str]],
    home: Path,
    simulator: NIMSimulator,
) -> None:
    proc, info = rag_server
    env = _env(home)
    base = info["base"].split()
    assert json.loads((home / "rag-serve.json").read_text())["url"] == info["url"]

    out = subprocess.run(
        [*FIELDKIT, "rag", "ask", "How much memory?", *base, "--json"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["server"] == info["url"] and answer["answer"]
    assert answer["citations"][0]["source"]["uri"].endswith("spark.md#L5")
    assert simulator.requests and simulator.requests[-1].json["stream"] is True

    streamed = subprocess.run(
        [*FIELDKIT, "rag", "ask", "How much memory?", *base],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert streamed.returncode == 0, streamed.stderr
    text, _, sources = streamed.stdout.partition("\nsources:\n")
    assert text.split() == answer["answer"].split()
    assert re.search(r"\[1\] \S*spark\.md:5 › Spark › Memory \[id \d+\]", sources)

    found = subprocess.run(
        [*FIELDKIT, "rag", "search", "unified memory", *base, "--json"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert found.returncode == 0 and json.loads(found.stdout)["server"] == info["url"]

    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0
    assert not (home / "rag-serve.json").exists()


def test_list_stats_drop(pg_dsn: str, pg_table: str, tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A\n\nalpha text\n", encoding="utf-8")
    with Pipeline(pgvector_dsn=pg_dsn, table=pg_table, embedder=_HashEmbedder()) as pipe:
        pipe.ingest_paths([tmp_path], progress=False)
    runner = CliRunner()
    res = runner.invoke(app, ["rag", "list", "--dsn", pg_dsn])
    assert res.exit_code == 0, res.output
    line = next(x for x in res.stdout.splitlines() if x.startswith(pg_table + " "))
    assert line.split()[1:5] == ["1", "1", "test:hash-32", "vector(32)"]
    listed = json.loads(runner.invoke(app, ["rag", "list", "--dsn", pg_dsn, "--json"]).stdout)
    assert any(t["table"] == pg_table and t["chunks"] == 1 for t in listed["tables"])

    res = runner.invoke(app, ["rag", "stats", pg_table, "--dsn", pg_dsn])
    assert res.exit_code == 0 and "chunks:       1 " in res.stdout
    res = runner.invoke(app, ["rag", "stats", "nosuchtable", "--dsn", pg_dsn])
    assert res.exit_code == 1 and res.stderr.startswith("error: no chunk table nosuchtable")

    res = runner.invoke(app, ["rag", "drop", pg_table, "--dsn", pg_dsn], input="n\n")
    assert res.exit_code == 1 and "kept" in res.stderr
    res = runner.invoke(app, ["rag", "drop", pg_table, "--dsn", pg_dsn], input="")
    assert res.exit_code == 1 and "pass --yes" in res.stderr
    res = runner.invoke(app, ["rag", "drop", pg_table, "--dsn", pg_dsn], input="y\n")
    assert res.exit_code == 0 and f"dropped {pg_table} (1 chunks, 1 files)" in res.stdout
    res = runner.invoke(app, ["rag", "drop", pg_table, "--dsn", pg_dsn, "--yes"])
    assert res.exit_code == 1 and "no chunk table" in res.stderr


def test_table_commands_fail_in_one_line() -> None:
    runner = CliRunner()
    for cmd in (["stats", "bad;name"], ["drop", "1abc", "--yes"]):
        res = runner.invoke(app, ["rag", *cmd, "--dsn", "postgresql://127.0.0.1:1/x"])
        assert res.exit_code == 2, res.output  # a usage error, found before connecting
        assert res.stderr.startswith("error: invalid table name") and res.stderr.count("\n") == 1
    # libpq adds a hint line ("Is the server running ...?"); the error stays one line
    res = runner.invoke(app, ["rag", "list", "--dsn", "postgresql://127.0.0.1:1/x"])
    assert res.exit_code == 1
    assert res.stderr.startswith("error: cannot connect to Postgres: ")
    assert res.stderr.count("\n") == 1


def test_rag_serve_on_a_taken_port_is_one_error_line(
    home: Path, pg_dsn: str, pg_table: str
) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        out = subprocess.run(
            [*FIELDKIT, "rag", "serve", "--table", pg_table, "--dsn", pg_dsn,
             "--port", str(port), "--no-generate", "--device", "cpu"],
            env=_env(home), capture_output=True, text=True, timeout=240,
        )  # fmt: skip
    assert out.returncode == 1, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: cannot listen on 127.0.0.1:{port}: Address already in use"]
    assert "Traceback" not in out.stderr and out.stdout == ""
    assert not (home / "rag-serve.json").exists()
