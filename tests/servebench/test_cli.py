"""`fieldkit bench serve` end to end over loopback: output formats and bad input (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fieldkit.cli import app
from fieldkit.testing import Fault, NIMSimulator

MODEL = "meta/llama-3.1-8b-instruct"


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return CliRunner()


def _base(sim: NIMSimulator) -> list[str]:
    return ["bench", "serve", "--base-url", sim.base_url, "--no-progress", "-n", "4"]


def _error_line(result: object) -> str:
    stderr = result.stderr  # type: ignore[attr-defined]
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in stderr
    return str(lines[0])


def test_sweep_json_raw_and_plot(
    runner: CliRunner, simulator: NIMSimulator, tmp_path: Path
) -> None:
    simulator.set_token_timing(ttft_s=0.01, itl_s=0.002, tokens=4)
    plot = tmp_path / "sweep.svg"
    args = [*_base(simulator), "-c", "1,2", "--slo", "ttft=5s", "--json", "--raw"]
    result = runner.invoke(app, [*args, "--plot", str(plot), "--input-len", "8"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["load"] for r in records] == [{"concurrency": 1}, {"concurrency": 2}]
    for r in records:
        assert r["model"] == MODEL and r["completed"] == 4 and r["partial"] is False
        assert r["output_tokens"] == 16 and r["token_source"] == "usage"
        assert r["ttft_ms"]["median"] >= 10.0 and r["goodput"] > 0
        assert len(r["requests_raw"]) == 4 and len(r["requests_raw"][0]["itl"]) == 3
        assert set(r["ttft_ms"]) == {"mean", "median", "p90", "p95", "p99"}
    assert plot.read_text().lstrip().startswith("<?xml")


def test_table_output_and_overhead(runner: CliRunner, simulator: NIMSimulator) -> None:
    simulator.set_token_timing(ttft_s=0.0, itl_s=0.0, tokens=3)
    result = runner.invoke(app, [*_base(simulator), "--rate", "50", "--overhead", "--seed", "1"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "rate=50: 4/4 ok" in out and "TTFT" in out and "ITL" in out
    assert "load generator overhead vs the simulator" in out
    assert "ms CPU per request" in out and "ms per chunk" in out


def test_default_model_is_the_first_listed(runner: CliRunner, simulator: NIMSimulator) -> None:
    result = runner.invoke(app, [*_base(simulator), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[0])["model"] == MODEL


def test_find_max_json(runner: CliRunner, simulator: NIMSimulator) -> None:
    simulator.set_token_timing(ttft_s=0.0, itl_s=0.0, tokens=2)
    args = [*_base(simulator), "--find-max", "--slo", "e2e=10s", "--max-load", "2", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    last = json.loads(result.stdout.splitlines()[-1])
    assert last["find_max"]["best"] == 2


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--slo", "ttf=500ms"], "--slo: unknown SLO metric 'ttf'"),
        (["--slo", "ttft=500"], None),  # bare numbers are milliseconds: accepted
        (["-c", "1,x"], "--concurrency takes comma-separated numbers"),
        (["-c", "0"], "--concurrency values must be positive integers"),
        (["--rate", "-2"], "--rate values must be positive"),
        (["--raw"], "--raw needs --json"),
        (["-n", "0"], "--num-requests must be at least 1"),
        (["--plot", "out.pdf"], "--plot must name a .png or .svg"),
        (["--model", "nope"], "model 'nope' is not served"),
        (["--find-max"], "--find-max needs at least one --slo"),
        (["--timeout", "nan"], "--timeout must be positive seconds"),
        (["--timeout", "0"], "--timeout must be positive seconds"),
    ],
)
def test_bad_input_is_one_error_line(
    runner: CliRunner, simulator: NIMSimulator, extra: list[str], words: str | None
) -> None:
    result = runner.invoke(app, [*_base(simulator), *extra])
    if words is None:
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 2, result.output
    assert words in _error_line(result)


def test_unreachable_server(runner: CliRunner, simulator_factory: object) -> None:
    sim = simulator_factory()  # type: ignore[operator]
    url = sim.base_url
    sim.stop()
    for extra in ([], ["--model", MODEL]):
        result = runner.invoke(app, ["bench", "serve", "--base-url", url, "--no-progress", *extra])
        assert result.exit_code == 2
        assert "cannot reach" in _error_line(result)
    result = runner.invoke(app, ["bench", "serve", "--base-url", "localhost:8000"])
    assert result.exit_code == 2 and "must be an http(s) URL" in _error_line(result)


def test_non_streaming_server(runner: CliRunner, simulator: NIMSimulator) -> None:
    simulator.enqueue(Fault(status=200, body={"choices": []}, path="/chat/completions"))
    result = runner.invoke(app, _base(simulator))
    assert result.exit_code == 2
    assert "without streaming" in _error_line(result)


def test_malformed_jsonl(runner: CliRunner, simulator: NIMSimulator, tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('"ok"\n{broken\n')
    result = runner.invoke(app, [*_base(simulator), "--dataset", str(path)])
    assert result.exit_code == 2
    assert f"{path}:2: not JSON" in _error_line(result)
    assert simulator.requests == []  # nothing sent


def test_jsonl_workload_runs(runner: CliRunner, simulator: NIMSimulator, tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(
        '"first"\n{"messages": [{"role": "user", "content": "second"}], "max_tokens": 3}\n'
    )
    result = runner.invoke(app, [*_base(simulator), "--dataset", str(path), "--json"])
    assert result.exit_code == 0, result.output
    sent = [r.json for r in simulator.requests_to("/chat/completions")][1:]
    assert [m["messages"][0]["content"] for m in sent] == ["first", "second"] * 2
    assert [m["max_tokens"] for m in sent] == [64, 3] * 2


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["-c", "8", "--max-load", "4"], "--max-load"),
        (["--max-load", "0"], "--max-load"),
        (["--rate", "inf"], "--max-load"),
    ],
)
def test_find_max_bounds_are_one_error_line(
    runner: CliRunner, simulator: NIMSimulator, extra: list[str], words: str
) -> None:
    args = [*_base(simulator), "--find-max", "--slo", "e2e=10s", *extra]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert words in _error_line(result)
    assert simulator.requests_to("/chat/completions") == []  # no load sent


def _strict_json(line: str) -> object:
    def refuse(name: str) -> object:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(line, parse_constant=refuse)


def test_infinite_rate_json_is_standard_json(runner: CliRunner, simulator: NIMSimulator) -> None:
    simulator.set_token_timing(ttft_s=0.0, itl_s=0.0, tokens=2)
    result = runner.invoke(app, [*_base(simulator), "--rate", "inf", "--json"])
    assert result.exit_code == 0, result.output
    records = [_strict_json(line) for line in result.stdout.splitlines()]
    assert records[0]["load"] == {"rate": "inf"}  # type: ignore[index]


def test_server_refusing_ignore_eos_names_the_flag(
    runner: CliRunner, simulator: NIMSimulator
) -> None:
    refusal = {"error": {"message": "Unrecognized request argument supplied: ignore_eos"}}
    simulator.enqueue(Fault(status=400, body=refusal, path="/chat/completions"))
    result = runner.invoke(app, _base(simulator))
    assert result.exit_code == 2
    line = _error_line(result)
    assert "http_400" in line and "--no-ignore-eos" in line
