"""The load generator against the loopback simulator with scripted token timing."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable

import pytest

from fieldkit.servebench import (
    Prompt,
    ServeBenchConfig,
    ServeBenchError,
    Target,
    arrival_offsets,
    parse_slos,
    run_serve_bench,
)
from fieldkit.testing import Fault, NIMSimulator

MODEL = "meta/llama-3.1-8b-instruct"
PROMPTS = [Prompt(({"role": "user", "content": "hello there"},), 8)]
SLACK = 0.25  # generous scheduling tolerance (s) on a busy 2-core box; lower bounds are exact


def _cfg(sim: NIMSimulator, **kw: object) -> ServeBenchConfig:
    kw.setdefault("num_requests", 3)
    kw.setdefault("scrape_metrics", False)
    return ServeBenchConfig(Target(sim.base_url, MODEL), PROMPTS, **kw)  # type: ignore[arg-type]


def test_scripted_ttft_and_itl_are_measured(simulator: NIMSimulator) -> None:
    simulator.set_token_timing(ttft_s=0.15, itl_s=0.04, tokens=5)
    result = run_serve_bench(_cfg(simulator, loads=(1,), warmup=1))
    (point,) = result.points
    assert not point.partial and point.summary["completed"] == 3
    for rec in point.records:
        assert rec.ok and rec.output_tokens == 5 and rec.token_source == "usage"
        # The role-only chunk goes out at 0 s: TTFT is timed on the first content chunk.
        assert rec.ttft is not None and 0.15 <= rec.ttft < 0.15 + SLACK
        assert len(rec.itl) == 4
        assert all(0.02 <= g < 0.04 + SLACK for g in rec.itl)
        assert math.fsum(rec.itl) >= 4 * 0.04 - 0.005  # paced on the server's monotonic clock
        assert rec.e2e is not None and rec.tpot == pytest.approx((rec.e2e - rec.ttft) / 4)
    s = point.summary
    assert s["ttft_ms"]["median"] >= 150.0
    assert s["output_tokens"] == 15 and s["errors"] == {}
    # The warm-up is excluded: 1 probe + 3 measured requests reached the server.
    assert len(simulator.requests_to("/chat/completions")) == 4
    body = simulator.requests_to("/chat/completions")[-1].json
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["ignore_eos"] is True and body["max_tokens"] == 8


def test_goodput_against_scripted_latency(simulator: NIMSimulator) -> None:
    simulator.set_token_timing(ttft_s=0.0, itl_s=0.03, tokens=3)
    slos = parse_slos(["tpot=20ms"])
    (point,) = run_serve_bench(_cfg(simulator, loads=(1,), slos=slos)).points
    assert point.summary["good_requests"] == 0 and point.summary["goodput"] == 0.0
    assert point.meets_slos is False
    slos = parse_slos(["tpot=2s", "ttft=5s"])
    (point,) = run_serve_bench(_cfg(simulator, loads=(1,), slos=slos)).points
    assert point.summary["good_requests"] == 3 and point.meets_slos is True


def test_concurrency_sweep_runs_each_point(simulator: NIMSimulator) -> None:
    simulator.set_token_timing(ttft_s=0.05, itl_s=0.0, tokens=2)
    result = run_serve_bench(_cfg(simulator, loads=(1, 3), num_requests=6))
    assert [p.load for p in result.points] == [1, 3]
    assert simulator.peak_concurrency == 3
    assert all(p.summary["completed"] == 6 for p in result.points)
    assert all(p.generator_cpu_ms_per_request is not None for p in result.points)


_HUGE_CONCURRENCY = """
from fieldkit.servebench import Prompt, ServeBenchConfig, Target, run_serve_bench
from fieldkit.testing import NIMSimulator

with NIMSimulator() as sim:
    sim.set_token_timing(0.2, 0.0, 2)
    prompts = [Prompt(({"role": "user", "content": "x"},), 4)]
    cfg = ServeBenchConfig(
        Target(sim.base_url, sim.model), prompts, loads=(10**9,), num_requests=3,
        scrape_metrics=False,
    )
    (point,) = run_serve_bench(cfg).points
    print(point.summary["completed"], sim.peak_concurrency)
"""


def test_concurrency_above_the_request_count_runs_one_worker_per_request() -> None:
    # A worker per concurrency slot would build 10**9 coroutines; the budget is generous.
    done = subprocess.run(
        [sys.executable, "-c", _HUGE_CONCURRENCY], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["3", "3"]


def test_open_loop_sends_on_schedule(simulator: NIMSimulator) -> None:
    simulator.set_token_timing(ttft_s=0.0, itl_s=0.0, tokens=1)
    cfg = _cfg(simulator, mode="rate", loads=(20.0,), num_requests=6, seed=5)
    (point,) = run_serve_bench(cfg).points
    due = arrival_offsets(6, 20.0, seed=5)
    for rec in point.records:
        assert due[rec.index] <= rec.sent + 1e-3 < due[rec.index] + SLACK
    assert point.summary["tpot_ms"]["mean"] is None  # one token: TPOT undefined


def test_rate_inf_sends_all_at_once(simulator: NIMSimulator) -> None:
    simulator.set_token_timing(ttft_s=0.2, itl_s=0.0, tokens=1)
    run_serve_bench(_cfg(simulator, mode="rate", loads=(math.inf,), num_requests=4))
    assert simulator.peak_concurrency == 4


def test_errors_by_kind(simulator: NIMSimulator) -> None:
    simulator.set_token_timing(ttft_s=0.0, itl_s=0.0, tokens=3)
    cfg = _cfg(simulator, loads=(1,), num_requests=4)
    # The probe passes; then one 503 and one stream cut after the role chunk.
    simulator.enqueue(Fault(path="/models", status=None))  # consumed by the preflight
    simulator.enqueue(Fault(status=None, path="/chat/completions"))
    simulator.enqueue(503, Fault(drop="mid_stream", after_chunks=2))
    (point,) = run_serve_bench(cfg).points
    assert point.summary["errors"] == {"disconnected": 1, "http_503": 1}
    assert point.summary["completed"] == 2


def test_server_without_usage_falls_back_to_an_estimate(simulator: NIMSimulator) -> None:
    stream = (
        'data: {"choices":[{"delta":{"role":"assistant"}}]}\n\n'
        'data: {"choices":[{"delta":{"content":"abcdefgh"}}]}\n\n'
        "data: [DONE]\n\n"
    )
    fault = Fault(
        status=200,
        body=stream,
        headers={"Content-Type": "text/event-stream"},
        path="/chat/completions",
    )
    simulator.enqueue(Fault(status=None, path="/chat/completions"), fault)
    (point,) = run_serve_bench(_cfg(simulator, loads=(1,), num_requests=1)).points
    (rec,) = point.records
    assert rec.ok and rec.token_source == "estimated" and rec.output_tokens == 2
    assert point.summary["token_source"] == "estimated"


def test_non_streaming_server_is_refused(simulator: NIMSimulator) -> None:
    simulator.enqueue(Fault(status=200, body={"choices": []}, path="/chat/completions"))
    with pytest.raises(ServeBenchError, match="without streaming"):
        run_serve_bench(_cfg(simulator, loads=(1,)))


def test_wrong_model_and_unreachable_server(
    simulator: NIMSimulator, simulator_factory: Callable[..., NIMSimulator]
) -> None:
    with pytest.raises(ServeBenchError, match="not served"):
        run_serve_bench(
            ServeBenchConfig(Target(simulator.base_url, "nope"), PROMPTS, scrape_metrics=False)
        )
    gone = simulator_factory()
    url = gone.base_url
    gone.stop()
    with pytest.raises(ServeBenchError, match="cannot reach"):
        run_serve_bench(ServeBenchConfig(Target(url, MODEL), PROMPTS))


def test_server_dying_mid_run_gives_partial_results(
    simulator_factory: Callable[..., NIMSimulator],
) -> None:
    sim = simulator_factory()
    sim.set_token_timing(ttft_s=0.0, itl_s=0.0, tokens=2)
    done: list[int] = []

    def on_request(_: object) -> None:
        done.append(1)
        if len(done) == 2:
            sim.stop()  # before the next send: a fast client cannot finish the point first

    cfg = ServeBenchConfig(
        Target(sim.base_url, MODEL), PROMPTS, loads=(1, 2), num_requests=50, scrape_metrics=False
    )
    result = run_serve_bench(cfg, on_request=on_request)
    assert result.partial and len(result.points) == 1
    point = result.points[0]
    assert point.partial and point.note and "stopped accepting" in point.note
    assert point.summary["completed"] >= 2
    assert point.summary["requests"] < 50
    assert "connect" in point.summary["errors"]


def test_find_max_concurrency(simulator: NIMSimulator) -> None:
    simulator.set_token_timing(ttft_s=0.0, itl_s=0.0, tokens=2)
    cfg = _cfg(
        simulator,
        loads=(1,),
        num_requests=4,
        find_max=True,
        max_load=4,
        slos=parse_slos(["e2e=10s"]),
    )
    result = run_serve_bench(cfg)
    assert result.find_max is not None and result.find_max["best"] == 4
    assert [p.load for p in result.points] == [1, 2, 4]
    cfg = _cfg(simulator, loads=(1,), find_max=True, max_load=4, slos=parse_slos(["ttft=1us"]))
    simulator.set_token_timing(ttft_s=0.01, itl_s=0.0, tokens=2)
    assert run_serve_bench(cfg).find_max == {
        "mode": "concurrency",
        "best": None,
        "first_failing": 1,
        "tried": [{"load": 1, "meets_slos": False}],
        "attainment": 0.9,
    }


def test_bad_settings_are_rejected_before_any_request() -> None:
    target = Target("http://127.0.0.1:9/v1", MODEL)
    with pytest.raises(ServeBenchError, match="positive integer"):
        ServeBenchConfig(target, PROMPTS, loads=(1.5,))
    with pytest.raises(ServeBenchError, match="needs at least one --slo"):
        ServeBenchConfig(target, PROMPTS, find_max=True)
    with pytest.raises(ServeBenchError, match="no prompts"):
        ServeBenchConfig(target, [])
    with pytest.raises(ServeBenchError, match="--timeout must be positive"):
        ServeBenchConfig(Target("http://127.0.0.1:9/v1", MODEL, timeout_s=math.nan), PROMPTS)


_INTERRUPTED_RUN = """
from fieldkit.servebench import Prompt, ServeBenchConfig, Target, run_serve_bench
from fieldkit.testing import NIMSimulator

with NIMSimulator() as sim:
    sim.set_token_timing(0.0, 0.0, 2)
    seen = []

    def on_request(_):
        seen.append(1)
        if len(seen) == 5:  # the first request of the second point: Ctrl-C
            raise KeyboardInterrupt

    prompts = [Prompt(({"role": "user", "content": "x"},), 4)]
    cfg = ServeBenchConfig(
        Target(sim.base_url, sim.model), prompts, loads=(1, 2), num_requests=4,
        scrape_metrics=False,
    )
    r = run_serve_bench(cfg, on_request=on_request)
    print(r.partial, r.aborted, [p.load for p in r.points], r.points[0].summary["completed"])
"""


def test_interrupt_keeps_the_finished_points() -> None:
    # In a child interpreter: a KeyboardInterrupt inside pytest's own process upsets pytest.
    out = subprocess.run(
        [sys.executable, "-c", _INTERRUPTED_RUN], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "interrupted", "[1]", "4"]


def test_steady_state_counts_only_the_steady_window(simulator: NIMSimulator) -> None:
    simulator.set_token_timing(ttft_s=0.02, itl_s=0.01, tokens=3)
    cfg = _cfg(simulator, loads=(2,), num_requests=10, steady_state=True)
    (point,) = run_serve_bench(cfg).points
    w = point.steady_window
    assert w is not None and 2 <= w["requests"] < 10
    assert point.metrics.requests == w["requests"] and len(point.records) == 10
    assert point.to_json()["steady_window"] == w


def test_embeddings_endpoint_on_the_same_load_generator(simulator: NIMSimulator) -> None:
    prompts = [
        Prompt(({"role": "user", "content": f"passage {i} about things"},), 8) for i in range(4)
    ]
    cfg = ServeBenchConfig(
        Target(simulator.base_url, MODEL, endpoint="embeddings"),
        prompts,
        loads=(2,),
        num_requests=4,
        scrape_metrics=False,
    )
    (point,) = run_serve_bench(cfg).points
    m = point.metrics
    assert m.completed == 4 and m.errors == {} and point.warnings == []
    assert m.stat("e2e", "median") is not None and m.stat("ttft", "median") is None
    assert m.output_tokens == 0 and m.short_outputs == 0
    assert m.request_throughput > 0 and m.total_token_throughput > 0
    bodies = [r.json for r in simulator.requests_to("/embeddings")]
    assert bodies[-1] == {"model": MODEL, "input": bodies[-1]["input"]}
    assert bodies[-1]["input"].startswith("passage ")
