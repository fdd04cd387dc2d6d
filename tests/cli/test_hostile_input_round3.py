"""Hostile CLI input, round three: one ``error:`` line and exit 2 (never a traceback, never a
hang) for rag, lineage and pg; documents and file names never drive the terminal.

Each case runs the real ``python -m fieldkit`` in a subprocess with a timeout.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ENV = {k: v for k, v in os.environ.items() if k not in ("NIM_BASE_URL", "EMBED_BASE_URL")}


def _run(*args: str | bytes, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fieldkit", *args],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        env=ENV,
        check=False,
    )


def _assert_user_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("Try '")]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for needle in needles:
        assert needle in lines[0]


def test_rag_ingest_refuses_an_empty_path_instead_of_the_current_folder() -> None:
    _assert_user_error(_run("rag", "ingest", "", "--json"), "empty path")


def test_rag_ingest_names_a_missing_path_without_its_terminal_escapes(tmp_path: Path) -> None:
    name = os.fsencode(tmp_path) + b"/gone\xe9\x1b]0;owned\x07\n.md"
    proc = _run("rag", "ingest", name, "--json")
    assert "\x1b" not in proc.stderr and "\x07" not in proc.stderr
    _assert_user_error(proc, "no such file or folder", "gone\\xe9\\x1b]0;owned\\x07\\n.md")


@pytest.mark.parametrize("command", ["search", "ask"])
def test_rag_search_and_ask_refuse_a_non_utf8_query(command: str) -> None:
    _assert_user_error(_run("rag", command, b"caf\xe9 menu"), "not valid UTF-8", "\\xe9")


def test_rag_ingest_on_cuda_without_a_gpu_is_one_error_line(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    (tmp_path / "a.md").write_text("# A\n\nalpha\n")
    proc = _run("rag", "ingest", str(tmp_path), "--device", "cuda", "--json")
    _assert_user_error(proc, "device cuda", "--device cpu")


@pytest.mark.parametrize("interval", ["inf", "nan", "1e308", "86401"])
def test_lineage_watch_refuses_a_non_finite_interval(tmp_path: Path, interval: str) -> None:
    _assert_user_error(
        _run("lineage", "watch", str(tmp_path), "--interval", interval), "--interval"
    )


def test_lineage_export_refuses_a_non_finite_request_timeout(tmp_path: Path) -> None:
    proc = _run(
        "lineage", "export", str(tmp_path), "--mlflow", "http://127.0.0.1:9",
        "--request-timeout", "inf",
    )  # fmt: skip
    _assert_user_error(proc, "--request-timeout")


@pytest.mark.parametrize("kind", ["file", "fifo"])
def test_pg_upgrade_on_a_file_or_fifo_is_one_error_line(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "pgdata"
    if kind == "file":
        target.write_text("not a folder")
    else:
        os.mkfifo(target)
    _assert_user_error(_run("pg", "upgrade", str(target), timeout=60), "is not a directory")


def test_lineage_plot_with_math_text_and_huge_metrics_draws(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.tsv").write_text(
        "exp_id\tstatus\tval_bpb\thypothesis\n"
        "000\tbaseline\t1e308\tstart $\\undefinedmacro$ here\n"
        "001\tkeep\t-1e308\tcosts $5 and $6\n"
        "002\tkeep\t1.0\tplain\n",
        encoding="utf-8",
    )
    out = tmp_path / "p.png"
    proc = _run("lineage", "plot", str(tmp_path / "run"), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and out.stat().st_size > 0


def test_search_output_escapes_terminal_controls_and_newlines_from_documents() -> None:
    from fieldkit.cli._rag_docs import _cite
    from fieldkit.rag import Chunk, Source

    chunk = Chunk(
        id=7,
        text="Title\n\nbody \x1b]0;owned\x07 text \x1b[2J and \u202etxt.exe",
        source=Source(path="/docs/evil\nname\x1b[31m.md", heading=("H\x1b[1m",)),
    )
    shown = _cite(1, chunk)
    assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown
    assert shown.count("\n") == 1  # the citation line, then the snippet line
    assert "evil\\nname\\x1b[31m.md" in shown and "\\x1b]0;owned\\x07" in shown
