"""Two errors that used to leak: a stray `fieldkit serve` argument reached llama-server, and an
unreachable Postgres printed libpq's hint as a second line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")
UNREACHABLE = "postgresql://nobody@127.0.0.1:1/db"


def _run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fieldkit", *args],
        env=dict(os.environ, PYTHONPATH=SRC, TMPDIR=str(tmp_path), **env),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _recording_server(tmp_path: Path) -> tuple[Path, Path]:
    """A stand-in llama-server that writes its argv (one per line) and exits 3."""
    argv = tmp_path / "argv.txt"
    server = tmp_path / "llama-server"
    server.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {argv}\nexit 3\n')
    server.chmod(0o755)
    return server, argv


@pytest.fixture
def gguf(tmp_path: Path) -> Path:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + bytes(60))
    return model


@pytest.mark.parametrize("extra", [["stray"], ["stray", "--", "--metrics"]])
def test_serve_refuses_an_argument_before_the_separator(
    tmp_path: Path, gguf: Path, extra: list[str]
) -> None:
    server, argv = _recording_server(tmp_path)
    serve = ["serve", "--model", str(gguf), "--port", "0", *extra]
    proc = _run(tmp_path, *serve, FIELDKIT_LLAMA_SERVER=str(server))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        "error: unexpected argument 'stray': only arguments after `--` go to llama-server"
    ]
    assert not argv.exists()  # llama-server was never started


def test_serve_passes_what_follows_the_separator_as_given(tmp_path: Path, gguf: Path) -> None:
    server, argv = _recording_server(tmp_path)
    serve = ["serve", "--model", str(gguf), "--port", "0", "--", "--metrics", "stray"]
    proc = _run(tmp_path, *serve, FIELDKIT_LLAMA_SERVER=str(server))
    assert proc.returncode == 1, proc.stderr  # the stand-in exits 3 while starting
    assert argv.read_text().splitlines()[-2:] == ["--metrics", "stray"]


@pytest.mark.parametrize(
    "command",
    [
        ["ingest", "{doc}"],
        ["search", "menu", "--no-server"],
        ["ask", "menu", "--no-server", "--no-generate"],
    ],
)
def test_an_unreachable_postgres_is_one_error_line(tmp_path: Path, command: list[str]) -> None:
    doc = tmp_path / "a.md"
    doc.write_text("# A\n\nalpha\n")
    args = [a.format(doc=doc) for a in command]
    proc = _run(tmp_path, "rag", *args, "--dsn", UNREACHABLE)
    assert proc.returncode == 1, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if not ln.startswith("loading the embedder")]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: cannot connect to Postgres at postgresql://nobody@")
    assert "Connection refused" in lines[0]
