"""`bench serve` with hostile files, URLs and keys: one `error:` line and exit 2 before any load
is sent; a point where every request failed exits 1."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fieldkit.cli import app
from fieldkit.testing import NIMSimulator
from tests.servebench._scripted import Out, ScriptedServer


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return CliRunner()


def _base(url: str) -> list[str]:
    return ["bench", "serve", "--base-url", url, "--no-progress", "-n", "2", "--no-metrics"]


def _error_line(result: Any) -> str:
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in result.stderr, result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return str(lines[0])


def test_dataset_fifo_is_refused_not_read(runner: CliRunner, tmp_path: Path) -> None:
    fifo = tmp_path / "prompts.jsonl"
    os.mkfifo(fifo)
    box: list[Any] = []
    t = threading.Thread(
        target=lambda: box.append(
            runner.invoke(app, [*_base("http://127.0.0.1:9/v1"), "--dataset", str(fifo)])
        ),
        daemon=True,
    )
    t.start()
    t.join(30)
    if t.is_alive():  # unblock the reader so the thread ends, then fail
        with open(fifo, "w"):
            pass
        pytest.fail("--dataset blocked on a FIFO")
    (result,) = box
    assert result.exit_code == 2
    assert "not a regular file" in _error_line(result)


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("[" * 100_000, "nested too deeply"),
        ('{"prompt": "hi", "max_tokens": ' + "9" * 5000 + "}", "unreadable JSON"),
        ("\ufeff", None),  # a BOM alone is not a prompt
    ],
)
def test_hostile_dataset_lines(
    runner: CliRunner, tmp_path: Path, line: str, words: str | None
) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text(line + "\n", encoding="utf-8")
    result = runner.invoke(app, [*_base("http://127.0.0.1:9/v1"), "--dataset", str(data)])
    assert result.exit_code == 2
    msg = _error_line(result)
    if words:
        assert words in msg and "d.jsonl:1" in msg


def test_bom_does_not_lose_the_first_row(tmp_path: Path) -> None:
    from fieldkit.servebench import load_jsonl

    data = tmp_path / "d.jsonl"
    data.write_bytes(b'\xef\xbb\xbf{"prompt": "one"}\n{"prompt": "two"}\n')
    assert [p.messages[0]["content"] for p in load_jsonl(data, max_tokens=4)] == ["one", "two"]


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--base-url", "http://[::1"], "--base-url is not a valid URL"),
        (["--base-url", "http://127.0.0.1:99999/v1"], "--base-url is not a valid URL"),
        (["--api-key", "clé-secrète"], "--api-key must be printable ASCII"),
        (["--rate", "1e-300"], "--rate 1e-300 would spread 2 requests"),
        (["--timeout", "inf"], "--timeout must be positive seconds"),
        (["--max-consecutive-errors", "-1"], "--max-consecutive-errors must be >= 0"),
        (["--percentiles", "50,101"], "--percentiles values must be within [0, 100]"),
    ],
)
def test_bad_flags_are_one_error_line(
    runner: CliRunner, simulator: NIMSimulator, extra: list[str], words: str
) -> None:
    result = runner.invoke(app, [*_base(simulator.base_url), *extra])
    assert result.exit_code == 2, result.output
    assert words in _error_line(result)
    assert simulator.requests_to("/chat/completions") == []


def test_plot_into_a_missing_folder_fails_before_the_run(
    runner: CliRunner, simulator: NIMSimulator, tmp_path: Path
) -> None:
    plot = tmp_path / "no" / "such" / "plot.svg"
    result = runner.invoke(app, [*_base(simulator.base_url), "--plot", str(plot)])
    assert result.exit_code == 2
    assert "does not exist" in _error_line(result)
    assert simulator.requests_to("/chat/completions") == []


def test_a_point_where_every_request_failed_exits_1(runner: CliRunner) -> None:
    def reply(n: int, body: dict[str, Any], out: Out) -> None:
        if n == 1:
            out.complete(2)
            return
        out.start(500, "application/json")
        out.raw(b'{"error": "overloaded"}')
        out.end()

    with ScriptedServer(reply) as server:
        result = runner.invoke(app, [*_base(server.base_url), "--json"])
    assert result.exit_code == 1
    assert "every request failed at concurrency=1" in result.stderr
    assert '"failed": 2' in result.stdout


def test_frozen_server_exits_1_as_partial(runner: CliRunner) -> None:
    def reply(n: int, body: dict[str, Any], out: Out) -> None:
        out.complete(2) if n <= 2 else out.hang()

    with ScriptedServer(reply) as server:
        args = [*_base(server.base_url), "-n", "10", "--timeout", "0.3"]
        result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "partial" in result.stderr and "[PARTIAL]" in result.stdout


def test_plot_has_the_workload_in_its_title(
    runner: CliRunner, simulator: NIMSimulator, tmp_path: Path
) -> None:
    simulator.set_token_timing(ttft_s=0.0, itl_s=0.0, tokens=3)
    plot = tmp_path / "p.svg"
    args = [*_base(simulator.base_url), "-c", "1,2", "--slo", "ttft=2s", "--plot", str(plot)]
    result = runner.invoke(app, [*args, "--input-len", "8", "--output-len", "3"])
    assert result.exit_code == 0, result.output
    svg = plot.read_text()
    assert "synthetic 8 → 3 tokens" in svg and "SLO 2000 ms" in svg
    assert "fewer than 100 requests" in svg
    assert "sweep" in result.stdout and "goodput" in result.stdout


def test_plot_title_counts_the_requests_a_trace_point_sent(
    runner: CliRunner, simulator: NIMSimulator, tmp_path: Path
) -> None:
    simulator.set_token_timing(ttft_s=0.0, itl_s=0.0, tokens=3)
    trace = tmp_path / "t.jsonl"
    trace.write_text(
        "".join(f'{{"timestamp": {t}, "input_length": 4, "output_length": 3}}\n' for t in (0, 1, 2))
    )
    plot = tmp_path / "p.svg"
    args = [*_base(simulator.base_url), "--trace", str(trace), "--plot", str(plot)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "3 requests per point" in plot.read_text()  # the trace's rows, not -n 2


def test_sweep_columns_are_named_by_the_percentiles_computed(
    runner: CliRunner, simulator: NIMSimulator, tmp_path: Path
) -> None:
    simulator.set_token_timing(ttft_s=0.0, itl_s=0.0, tokens=3)
    plot = tmp_path / "p.svg"
    args = [*_base(simulator.base_url), "-c", "1,2", "--percentiles", "90,99.9"]
    result = runner.invoke(app, [*args, "--output-len", "3", "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    sweep = result.stdout[result.stdout.index("sweep") :]
    assert "TTFT p90" in sweep and "TTFT p99.9" in sweep and "p99 " not in sweep
    svg = plot.read_text()
    assert "TTFT p90" in svg and "TTFT p99.9" in svg and "median" not in svg


def test_csv_has_one_row_per_point(
    runner: CliRunner, simulator: NIMSimulator, tmp_path: Path
) -> None:
    import csv

    simulator.set_token_timing(ttft_s=0.0, itl_s=0.0, tokens=3)
    out = tmp_path / "points.csv"
    args = [*_base(simulator.base_url), "-c", "1,2", "--csv", str(out), "--percentiles", "50,99.9"]
    result = runner.invoke(app, [*args, "--output-len", "3"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert [(r["repeat"], r["mode"], r["load"], r["completed"]) for r in rows] == [
        ("1", "concurrency", "1.0", "2"),
        ("1", "concurrency", "2.0", "2"),
    ]
    assert float(rows[0]["ttft_ms_p99.9"]) >= 0 and rows[0]["output_tokens"] == "6"
    assert "p99.9" in result.stdout


def test_repeat_reports_a_confidence_interval_per_load(
    runner: CliRunner, simulator: NIMSimulator
) -> None:
    import json

    simulator.set_token_timing(ttft_s=0.0, itl_s=0.0, tokens=3)
    args = [*_base(simulator.base_url), "-c", "1,2", "--repeat", "3", "--json"]
    result = runner.invoke(app, [*args, "--output-len", "3"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r.get("repeat") for r in records[:-1]] == [1, 1, 2, 2, 3, 3]
    (summary,) = [r["repeat_summary"] for r in records if "repeat_summary" in r]
    assert [s["load"] for s in summary] == [{"concurrency": 1}, {"concurrency": 2}]
    assert summary[0]["repeats"] == 3
    assert summary[0]["request_throughput"]["n"] == 3
    assert summary[0]["request_throughput"]["ci95"] >= 0
    # Each repeat sent its own prompts: 3 repeats × 2 points × 2 requests, all distinct.
    sent = [r.json["messages"][0]["content"] for r in simulator.requests_to("/chat/completions")]
    measured = [t for t in sent if not t.startswith("Warm-up")]
    assert len(measured) == 12 and len(set(measured)) == 12


def test_shared_prefix_workload_sends_groups_of_questions(
    runner: CliRunner, simulator: NIMSimulator
) -> None:
    simulator.set_token_timing(ttft_s=0.0, itl_s=0.0, tokens=2)
    args = [*_base(simulator.base_url), "-n", "6", "--shared-prefix", "2x3", "--prefix-len", "20"]
    result = runner.invoke(app, [*args, "--input-len", "5", "--output-len", "2"])
    assert result.exit_code == 0, result.output
    bodies = [r.json for r in simulator.requests_to("/chat/completions")]
    measured = [b["messages"] for b in bodies if b["messages"][0]["role"] == "system"]
    assert len(measured) == 6
    systems = [m[0]["content"] for m in measured]
    assert len(set(systems)) == 2 and all(systems.count(s) == 3 for s in set(systems))
    assert len({m[1]["content"] for m in measured}) == 6
    assert all(len(s.split()) == 22 for s in systems)  # "Context N:" + 20 words
    for shape in ("2by3", "\u00b2x3"):  # a superscript two is a digit to str.isdigit, not to int
        bad = runner.invoke(app, [*_base(simulator.base_url), "--shared-prefix", shape])
        assert bad.exit_code == 2 and "GROUPSxQUESTIONS" in _error_line(bad)


def test_sharegpt_file_gives_first_human_turn_and_reply_length(
    runner: CliRunner, simulator: NIMSimulator, tmp_path: Path
) -> None:
    import json

    convs = [
        {"conversations": [{"from": "human", "value": "Name a colour."},
                           {"from": "gpt", "value": "x" * 40}]},
        {"conversations": [{"from": "gpt", "value": "no human first"}]},
        {"conversations": [{"from": "human", "value": "Count to three."},
                           {"from": "gpt", "value": "one two three"},
                           {"from": "human", "value": "again"}]},
    ]  # fmt: skip
    data = tmp_path / "sg.json"
    data.write_text(json.dumps(convs))
    simulator.set_token_timing(ttft_s=0.0, itl_s=0.0, tokens=2)
    result = runner.invoke(app, [*_base(simulator.base_url), "--sharegpt", str(data)])
    assert result.exit_code == 0, result.output
    bodies = [r.json for r in simulator.requests_to("/chat/completions")][-2:]
    assert [b["messages"][0]["content"] for b in bodies] == ["Name a colour.", "Count to three."]
    assert [b["max_tokens"] for b in bodies] == [10, 4]  # 40 and 13 characters, ~4 a token
    both = runner.invoke(
        app, [*_base(simulator.base_url), "--sharegpt", str(data), "--dataset", str(data)]
    )
    assert both.exit_code == 2 and "exclude each other" in _error_line(both)
    empty = tmp_path / "e.json"
    empty.write_text("[]")
    none = runner.invoke(app, [*_base(simulator.base_url), "--sharegpt", str(empty)])
    assert none.exit_code == 2 and "no ShareGPT conversations" in _error_line(none)


@pytest.mark.parametrize(
    "extra",
    [
        ["-n", "600000", "-c", "1,2"],
        ["--repeat", "100000000", "-n", "1000000"],
        ["--input-len", "30000000", "-n", "1"],
        ["--multi-turn", "999999x999999"],
        ["--shared-prefix", "10x10", "--prefix-len", "100000000"],
    ],
)
def test_workload_too_large_to_generate_is_refused(runner: CliRunner, extra: list[str]) -> None:
    result = runner.invoke(app, [*_base("http://127.0.0.1:9/v1"), "--model", "m", *extra])
    assert result.exit_code == 2
    assert "at most" in _error_line(result)


@pytest.mark.parametrize("option", ["--csv", "--plot"])
def test_output_that_is_not_a_regular_file_is_refused_before_the_run(
    runner: CliRunner, tmp_path: Path, option: str
) -> None:
    fifo = tmp_path / ("out.svg" if option == "--plot" else "out.csv")
    os.mkfifo(fifo)
    result = runner.invoke(
        app, [*_base("http://127.0.0.1:9/v1"), "--model", "m", option, str(fifo)]
    )
    assert result.exit_code == 2
    assert "not a regular file" in _error_line(result)
    assert fifo.is_fifo()  # still the FIFO, not replaced by a plain file


def test_output_folder_that_cannot_be_written_is_refused_before_the_run(
    runner: CliRunner,
) -> None:
    if not Path("/proc/self").exists():
        pytest.skip("no procfs")
    args = [*_base("http://127.0.0.1:9/v1"), "--model", "m", "--csv", "/proc/out.csv"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "cannot write in '/proc'" in _error_line(result)
