"""Hostile CLI input: one ``error:`` line and exit 2, never a traceback, never a hang.

Each case runs the real ``python -m fieldkit`` in a subprocess with a timeout, so a hang fails
the test instead of stalling the suite.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fieldkit.lineage import FailureLabel, LineageStore, Trial

ENV = {k: v for k, v in os.environ.items() if k not in ("NIM_BASE_URL", "EMBED_BASE_URL")}


def _run(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fieldkit", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
        check=False,
    )


def _assert_user_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for needle in needles:
        assert needle in lines[0]


def _corpus(tmp_path: Path, body: str) -> str:
    path = tmp_path / "corpus.json"
    path.write_text(body, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"passages": [{"id": 1e999, "text": "t"}], "questions": []}', "got inf"),
        ('{"passages": [{"id": ' + "9" * 5000 + ', "text": "t"}], "questions": []}', "corpus"),
        ('{"passages": [{"id": 1, "text": null}], "questions": []}', "text must be a string"),
    ],
)
def test_bench_rag_hostile_corpus(tmp_path: Path, body: str, needle: str) -> None:
    _assert_user_error(_run("bench", "rag", "--corpus", _corpus(tmp_path, body)), needle)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--warm-timeout", "nan"], "--warm-timeout"),
        (["--warm-timeout", "inf"], "--warm-timeout"),
        (["--nim-url", "http://[::1"], "--nim-url"),
        (["--embed-url", "http://[::1]:99999"], "--embed-url"),
    ],
)
def test_bench_rag_hostile_options(args: list[str], needle: str) -> None:
    _assert_user_error(_run("bench", "rag", *args), needle)


@pytest.mark.parametrize("latency", ["inf", "nan", "-1"])
def test_simulate_refuses_a_non_finite_latency(latency: str) -> None:
    _assert_user_error(_run("simulate", "--port", "0", "--latency", latency), "latency_s")


def test_lineage_summary_on_a_fifo_refuses_instead_of_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "results.tsv"
    os.mkfifo(fifo)
    _assert_user_error(_run("lineage", "summary", str(fifo), timeout=30), "not a regular file")


def test_lineage_commands_read_cells_past_the_csv_field_limit(tmp_path: Path) -> None:
    t = Trial(
        "000", "t", "s", "", "", "s", "h" * (200 * 1024), "", FailureLabel.KEEP,
        1.5, None, None, None, None, "", "", "",
    )  # fmt: skip
    store = LineageStore(tmp_path)
    store.append(t)
    store.append(dataclasses.replace(t, exp_id="001", core_metric=1.0))
    proc = _run("lineage", "summary", str(tmp_path), "--json")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert json.loads(proc.stdout)["best"] == {"exp_id": "001", "metric": 1.0}
    proc = _run("lineage", "render", str(tmp_path), "--specialist", "s")
    assert proc.returncode == 0 and "exp_001" in proc.stdout, proc.stderr


def test_atomic_write_leaves_nothing_behind_when_the_disk_fills(tmp_path: Path) -> None:
    """A real write failure: the kernel's file-size limit (EFBIG), as a full disk (ENOSPC) would."""
    target = tmp_path / "out.json"
    target.write_text("old\n")
    script = (
        "import resource, signal, sys\n"
        "from fieldkit._atomic import atomic_write_text\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        "try:\n"
        "    atomic_write_text(sys.argv[1], 'x' * 100_000)\n"
        "except OSError as exc:\n"
        "    print(exc.errno)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(target)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "27", proc.stderr  # EFBIG
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
    assert target.read_text() == "old\n"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("rag", "ask", "--nim-url", "http://[::1", "q?"), "--nim-url is not a valid URL"),
        (("rag", "ask", "--nim-url", "http://h:99999/v1", "q?"), "--nim-url is not a valid URL"),
        (("rag", "ask", "--timeout", "nan", "q?"), "--timeout"),
        (("rag", "ask", "--timeout", "inf", "q?"), "--timeout"),
        (("serve", "--startup-timeout", "nan"), "--startup-timeout"),
        (("serve", "--startup-timeout", "inf"), "--startup-timeout"),
    ],
)
def test_urls_and_seconds_are_checked_by_every_command(args: tuple[str, ...], needle: str) -> None:
    """URLs and durations go through the same checks in every command, before any work."""
    _assert_user_error(_run(*args), needle)


def test_rag_ingest_refuses_a_fifo_naming_what_it_is(tmp_path: Path) -> None:
    fifo = tmp_path / "notes.md"
    os.mkfifo(fifo)
    _assert_user_error(_run("rag", "ingest", str(fifo), timeout=30), "not a file or folder")
