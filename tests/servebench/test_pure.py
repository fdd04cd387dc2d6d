"""Pure pieces of bench serve: SLO parsing, arrivals, SSE chunks, statistics, /metrics, search."""

from __future__ import annotations

import itertools
import json
import math
import statistics
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fieldkit.servebench import (
    MaxSearch,
    RequestRecord,
    SLOError,
    WorkloadError,
    arrival_offsets,
    latency_stats,
    load_jsonl,
    parse_prometheus,
    parse_slos,
    server_view,
    summarize_point,
    synthetic_prompts,
)
from fieldkit.servebench._sse import DONE, Chunk, parse_data_line

# --- SLOs -------------------------------------------------------------------------------------


def test_slo_units_and_aliases() -> None:
    slos = parse_slos(["ttft=500ms", "tpot=0.05s", "e2el=2s", "itl=1500us"])
    assert dict(slos.limits_ms) == {"ttft": 500.0, "tpot": 50.0, "e2e": 2000.0, "itl": 1.5}
    assert dict(parse_slos(["ttft=500,tpot=50"]).limits_ms) == {"ttft": 500.0, "tpot": 50.0}
    assert not parse_slos([])


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("ttf=500ms", "unknown SLO metric 'ttf'"),
        ("ttft=500mz", "unknown unit 'mz'"),
        ("ttft=", "expected NAME=VALUE"),
        ("ttft=-5ms", "expected NAME=VALUE"),
        ("ttft=0ms", "positive"),
        ("ttft500ms", "expected NAME=VALUE"),
    ],
)
def test_slo_typos_are_named(spec: str, words: str) -> None:
    with pytest.raises(SLOError, match=words):
        parse_slos([spec])


def test_slo_given_twice() -> None:
    with pytest.raises(SLOError, match="twice"):
        parse_slos(["ttft=1s", "ttft=2s"])


@given(
    st.sampled_from(["ttft", "tpot", "itl", "e2e"]),
    st.floats(0.001, 1e6),
    st.sampled_from(["ms", "s", "us"]),
)
def test_slo_round_trip(name: str, value: float, unit: str) -> None:
    limits = parse_slos([f"{name}={value!r}{unit}"]).limits_ms
    factor = {"ms": 1.0, "s": 1000.0, "us": 0.001}[unit]
    assert limits[name] == pytest.approx(value * factor)


def test_slo_regex_is_linear_on_long_garbage() -> None:
    with pytest.raises(SLOError):
        parse_slos(["ttft=" + "1" * 50_000 + "x" * 50_000 + "!"])


# --- arrivals ---------------------------------------------------------------------------------


def test_arrivals_are_seeded_and_have_the_asked_mean() -> None:
    a = arrival_offsets(4000, 4.0, seed=7)
    assert a == arrival_offsets(4000, 4.0, seed=7)
    assert a != arrival_offsets(4000, 4.0, seed=8)
    gaps = [b - x for x, b in itertools.pairwise(a)]
    assert a[0] == 0.0 and all(g >= 0 for g in gaps)
    assert statistics.fmean(gaps) == pytest.approx(0.25, rel=0.06)


def test_burstiness_changes_spread_not_mean() -> None:
    def cv(b: float) -> float:
        a = arrival_offsets(4000, 2.0, burstiness=b, seed=1)
        gaps = [y - x for x, y in itertools.pairwise(a)]
        assert statistics.fmean(gaps) == pytest.approx(0.5, rel=0.08)
        return statistics.stdev(gaps) / statistics.fmean(gaps)

    # Gamma(k) inter-arrivals have coefficient of variation 1/sqrt(k).
    assert cv(0.25) == pytest.approx(2.0, rel=0.15)
    assert cv(1.0) == pytest.approx(1.0, rel=0.1)
    assert cv(4.0) == pytest.approx(0.5, rel=0.1)


def test_infinite_rate_sends_at_once_and_bad_rates_fail() -> None:
    assert arrival_offsets(3, math.inf) == [0.0, 0.0, 0.0]
    for bad in (0.0, -1.0, math.nan):
        with pytest.raises(ValueError):
            arrival_offsets(3, bad)
    with pytest.raises(ValueError):
        arrival_offsets(3, 1.0, burstiness=0)


# --- SSE chunks -------------------------------------------------------------------------------


def _line(obj: object) -> str:
    return "data: " + json.dumps(obj)


def test_role_only_chunk_carries_no_content() -> None:
    role = parse_data_line(_line({"choices": [{"delta": {"role": "assistant", "content": ""}}]}))
    assert isinstance(role, Chunk) and role.text == ""
    tok = parse_data_line(_line({"choices": [{"delta": {"content": "Hi"}}]}))
    assert isinstance(tok, Chunk) and tok.text == "Hi"
    think = parse_data_line(_line({"choices": [{"delta": {"reasoning_content": "hm"}}]}))
    assert isinstance(think, Chunk) and think.text == "hm"
    usage = parse_data_line(_line({"choices": [], "usage": {"completion_tokens": 3}}))
    assert isinstance(usage, Chunk) and usage.usage == {"completion_tokens": 3}
    assert parse_data_line("data: [DONE]") is DONE
    assert parse_data_line("") is None and parse_data_line(": keep-alive") is None
    err = parse_data_line(_line({"error": {"message": "boom"}}))
    assert isinstance(err, Chunk) and err.error == "boom"
    with pytest.raises(ValueError):
        parse_data_line("data: {not json")


# --- statistics -------------------------------------------------------------------------------


def _rec(i: int, ttft: float, e2e: float, out: int, itl: list[float]) -> RequestRecord:
    return RequestRecord(i, 0.0, ttft, e2e, itl, 10, out, "usage")


def test_tpot_is_vllms_definition() -> None:
    r = _rec(0, 0.2, 1.0, 5, [0.2] * 4)
    assert r.tpot == pytest.approx(0.2)
    assert _rec(0, 0.2, 0.2, 1, []).tpot is None


def test_latency_stats_match_linear_percentiles() -> None:
    stats = latency_stats([i / 1000 for i in range(1, 101)])
    assert stats["mean"] == pytest.approx(50.5)
    assert stats["median"] == pytest.approx(50.5)
    assert stats["p90"] == pytest.approx(90.1)
    assert stats["p99"] == pytest.approx(99.01)
    assert latency_stats([]) == dict.fromkeys(("mean", "median", "p90", "p95", "p99"))


def test_summary_throughput_errors_and_goodput() -> None:
    recs = [
        _rec(0, 0.1, 0.5, 5, [0.1] * 4),  # tpot 100 ms
        _rec(1, 0.6, 0.8, 5, [0.05] * 4),  # ttft too slow
        _rec(2, 0.1, 0.3, 5, [0.05] * 4),  # tpot 50 ms: meets
        RequestRecord(3, 0.0, error="http_503"),
    ]
    s = summarize_point(recs, 2.0, parse_slos(["ttft=500ms", "tpot=50ms"]))
    assert (s["requests"], s["completed"], s["failed"]) == (4, 3, 1)
    assert s["errors"] == {"http_503": 1}
    assert s["request_throughput"] == pytest.approx(1.5)
    assert s["output_throughput"] == pytest.approx(7.5)
    assert s["total_token_throughput"] == pytest.approx(22.5)
    assert s["good_requests"] == 1
    assert s["goodput"] == pytest.approx(0.5)
    assert s["slo_attainment"] == pytest.approx(0.25)
    assert s["ttft_ms"]["median"] == pytest.approx(100.0)
    assert s["itl_ms"]["mean"] == pytest.approx((0.1 * 4 + 0.05 * 8) / 12 * 1000)


# --- the server's /metrics --------------------------------------------------------------------

LLAMA_BEFORE = """# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed.
# TYPE llamacpp:prompt_tokens_total counter
llamacpp:prompt_tokens_total 100
llamacpp:prompt_seconds_total 1.0
llamacpp:tokens_predicted_total 50
llamacpp:tokens_predicted_seconds_total 2.0
"""
LLAMA_AFTER = """llamacpp:prompt_tokens_total 300
llamacpp:prompt_seconds_total 2.0
llamacpp:tokens_predicted_total 150
llamacpp:tokens_predicted_seconds_total 4.0
"""
VLLM = """vllm:time_to_first_token_seconds_sum{model_name="m"} 1.5
vllm:time_to_first_token_seconds_count{model_name="m"} 10
vllm:time_to_first_token_seconds_bucket{le="0.1",model_name="m"} 3
vllm:generation_tokens_total{model_name="m"} 640
vllm:e2e_request_latency_seconds_sum{model_name="m"} 20
vllm:e2e_request_latency_seconds_count{model_name="m"} 10
"""


def test_llama_cpp_view_is_the_difference_of_two_scrapes() -> None:
    view = server_view(parse_prometheus(LLAMA_BEFORE), parse_prometheus(LLAMA_AFTER))
    assert view is not None and view["server"] == "llama.cpp"
    assert view["prompt_tokens"] == 200 and view["generation_tokens"] == 100
    assert view["prompt_tokens_per_s"] == pytest.approx(200.0)
    assert view["generation_tokens_per_s"] == pytest.approx(50.0)
    assert view["tpot_mean_ms"] == pytest.approx(20.0)


def test_vllm_view_and_unknown_servers() -> None:
    view = server_view({}, parse_prometheus(VLLM))
    assert view is not None and view["server"] == "vllm"
    assert view["ttft_mean_ms"] == pytest.approx(150.0)
    assert view["e2e_mean_ms"] == pytest.approx(2000.0)
    assert view["generation_tokens"] == 640 and view["requests"] == 10
    assert server_view({}, parse_prometheus("go_gc_duration_seconds 1\nbad line\n")) is None


# --- max search -------------------------------------------------------------------------------


@given(st.integers(0, 200), st.integers(1, 4), st.integers(1, 200))
def test_concurrency_search_finds_the_threshold(threshold: int, start: int, limit: int) -> None:
    if start > limit:
        start, limit = limit, start
    s = MaxSearch(start, limit, integer=True, max_steps=64)
    while (v := s.next()) is not None:
        assert start <= v <= limit
        s.record(v, v <= threshold)
    expected = None if threshold < start else min(threshold, limit)
    assert s.best == expected


@given(st.integers(0, 200), st.integers(1, 4), st.floats(1.0, 200.0))
def test_concurrency_search_with_a_fractional_limit(
    threshold: int, start: int, limit: float
) -> None:
    start = min(start, int(limit))
    s = MaxSearch(start, limit, integer=True, max_steps=64)
    while (v := s.next()) is not None:
        assert v == int(v) and start <= v <= limit
        assert v not in [t for t, _ in s.tried]  # no load is run twice
        s.record(v, v <= threshold)
    expected = None if threshold < start else min(threshold, int(limit))
    assert s.best == expected


@given(st.floats(0.5, 100.0))
def test_rate_search_brackets_the_threshold(threshold: float) -> None:
    s = MaxSearch(1.0, 64.0, integer=False, tolerance=0.1, max_steps=64)
    while (v := s.next()) is not None:
        s.record(v, v <= threshold)
    if threshold < 1.0:
        assert s.best is None
    elif threshold >= 64.0:
        assert s.best == 64.0
    else:
        assert s.best is not None and s.failed is not None
        assert s.best <= threshold < s.failed <= s.best * 1.1 + 1e-9


# --- workloads --------------------------------------------------------------------------------


def test_synthetic_prompts_are_seeded_with_lengths_in_range() -> None:
    a = synthetic_prompts(50, 100, 20, range_ratio=0.5, seed=3)
    assert a == synthetic_prompts(50, 100, 20, range_ratio=0.5, seed=3)
    for p in a:
        assert p.input_len is not None and 50 <= p.input_len <= 150
        assert len(str(p.messages[0]["content"]).split()) == p.input_len
        assert 10 <= p.max_tokens <= 30
    fixed = synthetic_prompts(3, 8, 4)
    assert all(p.input_len == 8 and p.max_tokens == 4 for p in fixed)


def test_jsonl_accepts_strings_messages_and_objects(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    lines = [
        json.dumps("plain text"),
        json.dumps([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]),
        json.dumps({"prompt": "p", "max_tokens": 7}),
        "",
        json.dumps({"messages": [{"role": "user", "content": "m"}]}),
    ]
    path.write_text("\n".join(lines) + "\n")
    prompts = load_jsonl(path, max_tokens=16)
    assert [p.max_tokens for p in prompts] == [16, 16, 7, 16]
    assert prompts[1].messages[0]["role"] == "system"
    assert prompts[0].messages == ({"role": "user", "content": "plain text"},)


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("{not json", ":1: not JSON"),
        ('{"foo": 1}', "expected 'messages'"),
        ('[{"content": "x"}]', "string 'role'"),
        ('{"prompt": "x", "max_tokens": 0}', "max_tokens must be"),
        ("42", "expected a string"),
    ],
)
def test_malformed_jsonl_names_the_line(tmp_path: Path, line: str, words: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(WorkloadError, match=words):
        load_jsonl(path, max_tokens=4)


def test_empty_or_missing_jsonl(tmp_path: Path) -> None:
    (tmp_path / "e.jsonl").write_text("\n\n")
    with pytest.raises(WorkloadError, match="no prompts"):
        load_jsonl(tmp_path / "e.jsonl", max_tokens=4)
    with pytest.raises(WorkloadError, match="cannot read"):
        load_jsonl(tmp_path / "missing.jsonl", max_tokens=4)


# --- SSE line splitting, typed metrics --------------------------------------------------------


async def _aiter(parts: list[bytes]):  # type: ignore[no-untyped-def]
    for p in parts:
        yield p


def _lines(parts: list[bytes], cap: int = 1 << 20) -> list[str]:
    import asyncio

    from fieldkit.servebench._sse import iter_lines

    async def collect() -> list[str]:
        return [line async for line in iter_lines(_aiter(parts), cap)]

    return asyncio.run(collect())


@given(
    st.lists(st.text(alphabet="ab: \r{}", max_size=20), max_size=8),
    st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=8),
)
def test_iter_lines_splits_like_str_split_whatever_the_chunking(
    lines: list[str], cuts: list[int]
) -> None:
    data = "\n".join(lines).encode()
    parts, i, k = [], 0, 0
    while i < len(data):
        step = cuts[k % len(cuts)]
        parts.append(data[i : i + step])
        i, k = i + step, k + 1
    raw = data.decode().split("\n")
    if raw and raw[-1] == "":  # a trailing newline ends the last line; it starts no new one
        raw.pop()
    expected = [ln.removesuffix("\r") for ln in raw]
    assert _lines(parts) == expected


def test_iter_lines_refuses_a_line_over_the_cap() -> None:
    from fieldkit.servebench._sse import LineTooLong

    assert _lines([b"data: x\n", b"y" * 10 + b"\n"], cap=10) == ["data: x", "y" * 10]
    with pytest.raises(LineTooLong):
        _lines([b"y" * 6, b"y" * 6], cap=10)
    with pytest.raises(LineTooLong):
        _lines([b"ok\n" + b"y" * 11 + b"\nmore"], cap=10)


def test_nested_sse_payload_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="nested too deeply"):
        parse_data_line("data: " + "[" * 100_000)


def test_point_metrics_typed_record_and_custom_percentiles() -> None:
    from fieldkit.servebench import LATENCIES, point_metrics

    recs = [_rec(i, 0.1 * (i + 1), 1.0, 5, [0.1] * 4) for i in range(10)]
    m = point_metrics(recs, 5.0, None, (50, 99.9))
    assert m.latency["ttft"].keys() == ("mean", "median", "p99.9")
    assert m.stat("ttft", "median") == pytest.approx(550.0)
    assert m.latency["ttft"].count == 10 and m.latency["itl"].count == 40
    j = m.to_json()
    assert [k for k in j if k.endswith("_ms")] == [lm.key for lm in LATENCIES]
    assert j["ttft_ms"] == {
        "mean": pytest.approx(550.0),
        "median": pytest.approx(550.0),
        "p99.9": pytest.approx(999.1),
    }
    assert j["goodput"] is None and "slos" not in j
    assert summarize_point(recs, 5.0) == point_metrics(recs, 5.0).to_json()


def test_t_interval_matches_students_t() -> None:
    from fieldkit.servebench import t_interval

    e = t_interval([1.40, 2.10])
    assert e.mean == pytest.approx(1.75) and e.n == 2
    # t(0.975, df=1) = 12.706; sd = 0.495: the half-width dwarfs the mean with two repeats.
    assert e.half_width == pytest.approx(12.706 * statistics.stdev([1.4, 2.1]) / math.sqrt(2))
    assert t_interval([3.0]).half_width is None
    assert t_interval([2.0] * 5).half_width == 0.0
    with pytest.raises(ValueError):
        t_interval([])


def test_steady_state_drops_ramp_up_and_drain() -> None:
    from fieldkit.servebench import steady_state

    # Closed loop, 2 workers, each request 1 s: sends at 0,0,1,1,2,2,3,3 — ends at 1,1,…,4,4.
    recs = [RequestRecord(i, float(i // 2), 0.1, 1.0, [], 5, 5, "usage") for i in range(8)]
    got = steady_state(recs)
    assert got is not None
    kept, duration, (start, stop) = got
    assert (start, stop, duration) == (1.0, 3.0, 2.0)
    assert [r.index for r in kept] == [2, 3, 4, 5]  # sent at 1–2 s, done by the last send (3 s)
    assert steady_state(recs[:2]) is None and steady_state([]) is None


def test_generated_workloads_have_a_size_bound() -> None:
    from fieldkit.servebench import WorkloadError, synthetic_prompts
    from fieldkit.servebench._workload import MAX_PROMPTS

    assert len(synthetic_prompts(3, 2, 1)) == 3
    with pytest.raises(WorkloadError, match="at most 1000000"):
        synthetic_prompts(MAX_PROMPTS + 1, 1, 1)


@pytest.mark.parametrize(("n", "t"), [(31, 2.0423), (32, 2.0395), (41, 2.0211), (61, 2.0003)])
def test_t_interval_beyond_the_table_uses_students_t_not_the_normal(n: int, t: float) -> None:
    """Exact 97.5 % t quantiles for df 30, 31, 40, 60: the half-width is t·s/√n, not 1.96·s/√n."""
    from fieldkit.servebench import t_interval

    values = [float(i % 2) for i in range(n)]
    e = t_interval(values)
    assert e.half_width == pytest.approx(t * statistics.stdev(values) / math.sqrt(n), rel=5e-4)


def test_short_output_needs_a_count_from_the_server() -> None:
    from fieldkit.servebench import RequestRecord

    def rec(source: str) -> RequestRecord:
        return RequestRecord(0, 0.0, output_tokens=3, max_tokens=8, token_source=source)

    assert rec("usage").short_output and rec("tokenizer").short_output
    assert not rec("estimated").short_output  # chars/4 of the text is no evidence
