"""End to end, offline: `fieldkit serve --embeddings` (the real llama-server serving the bundled
MiniLM, converted locally) embeds what `fieldkit rag ingest/search --embed-url` store and query.

Runs in CI (scripts/test builds llama.cpp first); a missing llama.cpp build is an error, not a skip.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from typer.testing import CliRunner

from fieldkit.cli import app
from fieldkit.rag import LocalEmbedder

SRC = str(Path(__file__).resolve().parents[2] / "src")
# The first start converts MiniLM to GGUF (a few seconds to a minute) before llama-server loads.
_START_DEADLINE_S = 300.0
_STOP_DEADLINE_S = 30.0

DOCS = {
    "spark.md": "# DGX Spark\n\nThe DGX Spark has 128 GB of unified memory shared by the CPU "
    "and the GPU, so a large model's weights fit without copying between devices.\n",
    "bananas.txt": "Bananas are rich in potassium. A ripe banana turns from green to yellow "
    "and is sweetest when brown spots appear on its peel.\n",
    "volcano.txt": "A volcano erupts when magma rises through the crust. Lava flows cool into "
    "basalt, and ash clouds can ground aircraft for days.\n",
}


def _read_line(proc: subprocess.Popen[str], deadline_s: float) -> str:
    """The first stdout line of *proc*, or fail (with its stderr) after *deadline_s*."""
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    end = time.monotonic() + deadline_s
    try:
        while (left := end - time.monotonic()) > 0:
            if sel.select(timeout=left):
                return proc.stdout.readline()
            if proc.poll() is not None:
                break
    finally:
        sel.close()
    proc.kill()
    _out, err = proc.communicate()
    pytest.fail(f"`fieldkit serve --embeddings` printed nothing in {deadline_s:g} s:\n{err}")


@pytest.fixture
def embeddings_server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    """`fieldkit serve --embeddings --json` on a free port with a fresh $FIELDKIT_HOME (so the
    bundled MiniLM is converted to GGUF there); yields the process and its JSON line."""
    home = tmp_path / "home"
    env = dict(os.environ, PYTHONPATH=SRC, FIELDKIT_HOME=str(home), TMPDIR=str(tmp_path))
    args = ["serve", "--embeddings", "--port", "0", "--threads", "1", "--ctx", "512", "--json"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "fieldkit", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        info = json.loads(_read_line(proc, _START_DEADLINE_S))
        assert info["model_path"] == str(home / "models" / "all-MiniLM-L6-v2.f16.gguf")
        yield proc, info
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _listening(url: str) -> bool:
    host, port = url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


@pytest.mark.slow
def test_rag_embeds_through_fieldkit_serve_embeddings(
    tmp_path: Path,
    pg_dsn: str,
    pg_table: str,
    embeddings_server: tuple[subprocess.Popen[str], dict[str, Any]],
) -> None:
    proc, info = embeddings_server
    url = info["base_url"]
    assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text)
    runner = CliRunner()
    remote = ["--embed-url", url, "--embed-model", info["model"], "--embed-dim", "384"]
    base = ["--table", pg_table, "--dsn", pg_dsn]

    res = runner.invoke(app, ["rag", "ingest", str(folder), *base, *remote, "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert (summary["files"], summary["added"], summary["chunks"]) == (3, 3, 3)

    for query, expected in (
        ("how much memory does the Spark have", "spark.md"),
        ("fruit with potassium", "bananas.txt"),
        ("lava and magma", "volcano.txt"),
    ):
        res = runner.invoke(
            app,
            ["rag", "search", query, *base, *remote, "--mode", "dense", "--no-server", "--json"],
        )
        assert res.exit_code == 0, res.output
        ranked = [Path(r["source"]["path"]).name for r in json.loads(res.stdout)["results"]]
        assert ranked[0] == expected, (query, ranked)

    # The chunks were embedded through --embed-url: the table records the remote embedder.
    with psycopg.connect(pg_dsn) as conn:
        recorded = conn.execute(f"SELECT DISTINCT embedder, dim FROM {pg_table}_files").fetchall()
    assert recorded == [(f"nim:{info['model']}", 384)]

    # The stored vectors are the local MiniLM's vectors for the same chunks (f16 GGUF).
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute(f"SELECT text, embedding::text FROM {pg_table} ORDER BY id").fetchall()
    assert len(rows) == 3
    stored = np.asarray([json.loads(vec) for _text, vec in rows], dtype=np.float64)
    embedder = LocalEmbedder(backend="torch")
    try:
        local = np.asarray(embedder.embed([text for text, _vec in rows]), dtype=np.float64)
    finally:
        embedder.close()
    assert stored.shape == local.shape == (3, 384)
    cos = (stored * local).sum(1) / (np.linalg.norm(stored, axis=1) * np.linalg.norm(local, axis=1))
    assert cos.min() >= 0.999, cos

    # A dimension the server does not return is refused in one line, for a new table and for
    # the table that remembers 384.
    wrong = ["--embed-url", url, "--embed-model", info["model"], "--embed-dim", "512"]
    fresh = ["--table", f"{pg_table}_x", "--dsn", pg_dsn]
    res = runner.invoke(app, ["rag", "ingest", str(folder), *fresh, *wrong, "--json"])
    assert res.exit_code == 1 and res.stderr.startswith("error: "), res.output
    assert res.stderr.count("\n") == 1 and "dimension 512, got dimension 384" in res.stderr
    res = runner.invoke(app, ["rag", "search", "memory", *base, *wrong, "--no-server"])
    assert res.exit_code == 1 and res.stderr.startswith("error: "), res.output
    assert res.stderr.count("\n") == 1, res.stderr

    # Ctrl-C stops `fieldkit serve` and its llama-server; the port is closed afterwards.
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=_STOP_DEADLINE_S)
    assert proc.returncode == 130, err  # the shell's convention for SIGINT
    assert err.splitlines()[-1].startswith("interrupted: fieldkit serve stopped; "), err
    assert "Traceback" not in err
    assert not _alive(info["pid"])
    assert not _listening(url)
