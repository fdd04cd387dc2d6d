"""Faults that end a load point or make its figures wrong, against scripted loopback servers:
frozen after k requests, dripping forever, keep-alives after [DONE], dropped connections,
ignored ``ignore_eos``, impossible ``usage``, huge or deeply nested SSE lines, a frozen
``/metrics``. Runs that could hang are run in a thread with a join bound."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from fieldkit.servebench import (
    Prompt,
    ServeBenchConfig,
    ServeBenchError,
    ServeBenchResult,
    Target,
    run_serve_bench,
)
from tests.servebench._scripted import MODEL, Out, ScriptedServer

PROMPTS = [Prompt(({"role": "user", "content": f"question {i}"},), 8) for i in range(40)]
BOUND_S = 60.0  # a join bound far above what each run needs: only a hang reaches it


def _cfg(server: ScriptedServer, **kw: Any) -> ServeBenchConfig:
    timeout = kw.pop("timeout_s", 0.5)
    kw.setdefault("num_requests", 10)
    kw.setdefault("scrape_metrics", False)
    return ServeBenchConfig(Target(server.base_url, MODEL, timeout_s=timeout), PROMPTS, **kw)


def _bounded(run: Callable[[], ServeBenchResult]) -> ServeBenchResult:
    """Run in a daemon thread; fail (instead of hanging the suite) past BOUND_S."""
    box: list[ServeBenchResult | BaseException] = []

    def target() -> None:
        try:
            box.append(run())
        except BaseException as exc:  # handed to the test thread
            box.append(exc)

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(BOUND_S)
    assert not t.is_alive(), "the run did not end"
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0]


def test_frozen_server_ends_the_point_after_consecutive_timeouts() -> None:
    def reply(n: int, body: dict[str, Any], out: Out) -> None:
        if n <= 3:  # warm-up + 2 measured requests answered, then frozen
            out.complete(4)
        else:
            out.hang()

    with ScriptedServer(reply) as server:
        result = _bounded(lambda: run_serve_bench(_cfg(server, loads=(1, 2))))
    assert result.partial and len(result.points) == 1
    (point,) = result.points
    assert point.partial and point.note is not None and "not answering" in point.note
    assert point.metrics.completed == 2
    assert point.metrics.errors == {"timeout": 3}
    assert point.metrics.requests == 5  # no request sent after the third timeout in a row
    assert server.chats == 6


def test_max_consecutive_errors_zero_sends_every_request() -> None:
    def reply(n: int, body: dict[str, Any], out: Out) -> None:
        out.complete(2) if n == 1 else out.hang()

    with ScriptedServer(reply) as server:
        cfg = _cfg(server, num_requests=4, timeout_s=0.2, max_consecutive_errors=0)
        result = _bounded(lambda: run_serve_bench(cfg))
    (point,) = result.points
    assert not point.partial and point.metrics.errors == {"timeout": 4}
    assert point.all_failed and result.failed_points == [point]


def test_a_token_every_half_second_forever_is_cut_at_the_whole_request_timeout() -> None:
    def reply(n: int, body: dict[str, Any], out: Out) -> None:
        out.complete(2) if n == 1 else out.drip(0.1)

    with ScriptedServer(reply) as server:
        result = _bounded(lambda: run_serve_bench(_cfg(server, num_requests=2, timeout_s=1.0)))
    (point,) = result.points
    assert point.metrics.errors == {"timeout": 2}
    assert all(r.ttft is not None for r in point.records)  # tokens came, the reply never ended
    assert "within --timeout 1 s" in (point.records[0].error_detail or "")


def test_warm_up_that_never_ends_is_a_clear_error() -> None:
    def reply(n: int, body: dict[str, Any], out: Out) -> None:
        out.drip(0.1)

    with ScriptedServer(reply) as server, pytest.raises(ServeBenchError, match="timeout"):
        _bounded(lambda: run_serve_bench(_cfg(server, timeout_s=0.5)))


def test_keep_alives_after_done_do_not_hold_the_request() -> None:
    def reply(n: int, body: dict[str, Any], out: Out) -> None:
        for _ in range(3):
            out.token()
        out.usage(5, 3)
        out.done()
        out.keep_alive_forever(0.05)

    with ScriptedServer(reply) as server:
        result = _bounded(lambda: run_serve_bench(_cfg(server, num_requests=3, timeout_s=30)))
    (point,) = result.points
    assert point.metrics.completed == 3 and point.metrics.errors == {}
    assert all(r.output_tokens == 3 for r in point.records)
    assert all(r.e2e is not None and r.e2e < 30 for r in point.records)


def test_dropped_connections_end_the_point_as_partial() -> None:
    def reply(n: int, body: dict[str, Any], out: Out) -> None:
        out.complete(2) if n <= 2 else out.drop()

    with ScriptedServer(reply) as server:
        result = _bounded(lambda: run_serve_bench(_cfg(server, timeout_s=5)))
    (point,) = result.points
    assert point.partial and point.metrics.completed == 1
    assert point.metrics.errors == {"disconnected": 3}
    assert point.metrics.requests == 4


def test_server_ignoring_ignore_eos_is_warned_about_and_counted() -> None:
    def reply(n: int, body: dict[str, Any], out: Out) -> None:
        assert body["ignore_eos"] is True
        out.complete(3)  # asked for 8

    with ScriptedServer(reply) as server:
        result = _bounded(lambda: run_serve_bench(_cfg(server, num_requests=4)))
    (point,) = result.points
    assert point.metrics.short_outputs == 4
    assert point.to_json()["short_outputs"] == 4
    (warning,) = point.warnings
    assert "4 of 4 replies were shorter than max_tokens" in warning
    assert "12 of 32 tokens" in warning


@pytest.mark.parametrize(
    ("usage", "why"),
    [
        ((5, -59), "completion_tokens -59"),
        ((5, 12_000_000_000_000_000), "completion_tokens 12000000000000000"),
        ((5, 1), "completion_tokens 1 outside [4 chunks"),  # 1 token for 4 chunks
        ((-3, 4), "prompt_tokens -3"),
        ((10**15, 4), "prompt_tokens 1000000000000000"),
    ],
)
def test_impossible_usage_is_not_believed(usage: tuple[int, int], why: str) -> None:
    def reply(n: int, body: dict[str, Any], out: Out) -> None:
        out.complete(4, usage=usage)

    with ScriptedServer(reply) as server:
        result = _bounded(lambda: run_serve_bench(_cfg(server, num_requests=2)))
    (point,) = result.points
    assert point.metrics.implausible_usage == 2
    for rec in point.records:
        assert rec.usage_rejected is not None and why in rec.usage_rejected
        assert rec.token_source == "estimated" and rec.input_tokens is None
        assert rec.output_tokens is not None and 0 < rec.output_tokens < 100
    assert point.metrics.output_throughput > 0
    assert any("impossible usage counts" in w for w in point.warnings)


def test_impossible_tokenizer_counts_are_not_believed() -> None:
    def reply(n: int, body: dict[str, Any], out: Out) -> None:
        for _ in range(3):
            out.token()
        out.done()
        out.end()

    with ScriptedServer(reply, tokenize=lambda text: {"count": -7}) as server:
        result = _bounded(lambda: run_serve_bench(_cfg(server, num_requests=2)))
    (point,) = result.points
    assert all(r.token_source == "estimated" and (r.output_tokens or 0) > 0 for r in point.records)


def test_a_tokenizer_count_below_the_chunks_is_raised_to_them() -> None:
    # Re-tokenizing a reply can merge pieces that were generated (and streamed) as separate
    # tokens: 3 chunks re-tokenized as 2 still mean at least 3 tokens, counted by the tokenizer.
    def reply(n: int, body: dict[str, Any], out: Out) -> None:
        for _ in range(3):
            out.token()
        out.done()
        out.end()

    with ScriptedServer(reply, tokenize=lambda text: {"count": 2}) as server:
        result = _bounded(lambda: run_serve_bench(_cfg(server, num_requests=2)))
    (point,) = result.points
    assert [(r.token_source, r.output_tokens) for r in point.records] == [("tokenizer", 3)] * 2


def test_input_tokens_come_only_from_the_server() -> None:
    def reply(n: int, body: dict[str, Any], out: Out) -> None:
        for _ in range(2):
            out.token()
        out.done()
        out.end()

    with ScriptedServer(reply, tokenize=lambda text: {"count": 2}) as server:
        result = _bounded(lambda: run_serve_bench(_cfg(server, num_requests=2)))
    (point,) = result.points
    m = point.metrics
    # The server tokenizes output but offers no chat template: input is an estimate, apart.
    assert m.token_source == "tokenizer" and m.output_tokens == 4
    assert m.input_tokens is None and m.input_token_source is None
    assert m.input_tokens_estimated > 0
    j = point.to_json()
    assert j["input_tokens"] is None and j["input_tokens_estimated"] == m.input_tokens_estimated


def test_an_endless_sse_line_is_cut_at_the_cap() -> None:
    def reply(n: int, body: dict[str, Any], out: Out) -> None:
        if n == 1:
            out.complete(2)
            return
        out.raw(b"data: ")
        for _ in range(64):  # up to 64 MiB of one line, unless the client hangs up first
            out.raw(b"x" * (1 << 20))

    with ScriptedServer(reply) as server:
        result = _bounded(lambda: run_serve_bench(_cfg(server, num_requests=1, timeout_s=30)))
    (rec,) = result.points[0].records
    assert rec.error == "bad_stream" and "longer than 1048576 bytes" in (rec.error_detail or "")
    assert server.bytes_sent[-1] < 16 * (1 << 20)  # the client stopped reading near the cap


def test_a_deeply_nested_sse_event_is_a_bad_stream() -> None:
    def reply(n: int, body: dict[str, Any], out: Out) -> None:
        if n == 1:
            out.complete(2)
            return
        out.raw(b"data: " + b"[" * 100_000 + b"\n\n")
        out.done()
        out.end()

    with ScriptedServer(reply) as server:
        result = _bounded(lambda: run_serve_bench(_cfg(server, num_requests=1)))
    (rec,) = result.points[0].records
    assert rec.error == "bad_stream"


def test_frozen_metrics_endpoint_costs_only_its_own_short_timeout() -> None:
    def reply(n: int, body: dict[str, Any], out: Out) -> None:
        out.complete(2)

    with ScriptedServer(reply, metrics=lambda: "HANG") as server:
        cfg = _cfg(server, num_requests=2, loads=(1, 1), scrape_metrics=True, aux_timeout_s=0.3)
        result = _bounded(lambda: run_serve_bench(cfg))
    assert [p.metrics.completed for p in result.points] == [2, 2]
    assert all(p.server is None for p in result.points)
    assert server.paths.count("/metrics") == 1  # timed out once, then not asked again


@pytest.mark.parametrize(
    ("before", "after", "server_name", "rate"),
    [
        (  # vLLM: hits over queries
            "vllm:prefix_cache_queries_total 100\nvllm:prefix_cache_hits_total 10\n",
            "vllm:prefix_cache_queries_total 300\nvllm:prefix_cache_hits_total 160\n",
            "vllm",
            150 / 200,
        ),
        (  # llama.cpp: cached over all prompt tokens (processed + cached)
            "llamacpp:prompt_tokens_total 0\nllamacpp:prompt_tokens_cached_total 0\n",
            "llamacpp:prompt_tokens_total 1213\nllamacpp:prompt_tokens_cached_total 771\n",
            "llama.cpp",
            771 / 1984,
        ),
    ],
)
def test_prefix_cache_hit_rate_from_the_servers_metrics(
    before: str, after: str, server_name: str, rate: float
) -> None:
    scrapes = iter([before, after])

    def reply(n: int, body: dict[str, Any], out: Out) -> None:
        out.complete(2)

    with ScriptedServer(reply, metrics=lambda: next(scrapes)) as server:
        cfg = _cfg(server, num_requests=2, scrape_metrics=True)
        (point,) = _bounded(lambda: run_serve_bench(cfg)).points
    assert point.server is not None and point.server["server"] == server_name
    assert point.server["prefix_cache_hit_rate"] == pytest.approx(rate)


def test_trace_is_replayed_at_its_timestamps(tmp_path: Any) -> None:
    import json

    from fieldkit.servebench import load_trace

    trace = tmp_path / "trace.jsonl"
    rows = [
        {"timestamp": 1000, "input_length": 3, "output_length": 2},
        {"timestamp": 1600, "prompt": "second", "output_length": 3},
        {"timestamp": 1300, "messages": [{"role": "user", "content": "between"}]},
    ]
    trace.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    prompts = load_trace(trace, max_tokens=4)
    assert [p.at for p in prompts] == [0.0, 0.3, 0.6]
    assert [p.max_tokens for p in prompts] == [2, 4, 3]
    assert prompts[1].messages[0]["content"] == "between"
    assert len(prompts[0].messages[0]["content"].split()) == 3

    def reply(n: int, body: dict[str, Any], out: Out) -> None:
        out.complete(body["max_tokens"])

    with ScriptedServer(reply) as server:
        cfg = ServeBenchConfig(
            Target(server.base_url, MODEL),
            prompts,
            mode="trace",
            loads=(1.0, 2.0),
            num_requests=3,
            scrape_metrics=False,
        )
        result = _bounded(lambda: run_serve_bench(cfg))
    assert [p.label for p in result.points] == ["trace=1", "trace=2"]
    assert all(p.metrics.completed == 3 for p in result.points)
    # Lower bounds only: each request left no earlier than its (scaled) time in the trace.
    for point, speed in zip(result.points, (1.0, 2.0), strict=True):
        offsets = sorted(r.sent for r in point.records)
        assert offsets[1] - offsets[0] >= 0.3 / speed - 0.01
        assert offsets[2] - offsets[0] >= 0.6 / speed - 0.01


def test_bad_trace_lines_are_named(tmp_path: Any) -> None:
    from fieldkit.servebench import WorkloadError, load_trace

    trace = tmp_path / "t.jsonl"
    for line, words in (
        ('{"prompt": "x"}', "no timestamp"),
        ('{"timestamp": -5, "prompt": "x"}', "non-negative"),
        ('{"timestamp": 1}', "needs a prompt or an input_length"),
        ('{"timestamp": 1, "input_length": 1e300}', "input_length"),
    ):
        trace.write_text(line + "\n")
        with pytest.raises(WorkloadError, match=words):
            load_trace(trace, max_tokens=4)


def test_rerank_endpoint_sends_query_and_passages() -> None:
    seen: list[dict[str, Any]] = []

    def reply(n: int, body: dict[str, Any], out: Out) -> None:
        out.complete(2)

    with ScriptedServer(reply) as server:
        target = Target(server.base_url, MODEL, endpoint="rerank")
        words = " ".join(f"w{i}" for i in range(20))
        cfg = ServeBenchConfig(
            target, [Prompt(({"role": "user", "content": words},), 4)], num_requests=2,
            scrape_metrics=False,
        )  # fmt: skip
        (point,) = _bounded(lambda: run_serve_bench(cfg)).points
        seen.extend(target.payload(p) for p in cfg.prompts)
    assert point.metrics.completed == 2 and point.metrics.input_tokens == 14
    assert seen[0]["query"] == "w0 w1 w2 w3 w4 w5 w6 w7"
    assert [len(d.split()) for d in seen[0]["documents"]] == [5, 5, 5, 5]
    assert server.paths.count("/v1/rerank") == 3  # warm-up + 2


def test_non_streamed_reply_over_the_cap_is_refused_by_name() -> None:
    from fieldkit.servebench._loadgen import MAX_REPLY_BYTES

    def reply(n: int, body: dict[str, Any], out: Out) -> None:
        out.complete(2)

    huge = b'{"results": [], "pad": "' + b"x" * MAX_REPLY_BYTES + b'"}'
    with ScriptedServer(reply, rerank_body=huge) as server:
        target = Target(server.base_url, MODEL, endpoint="rerank", timeout_s=30.0)
        cfg = ServeBenchConfig(
            target, [Prompt(({"role": "user", "content": "a b c"},), 4)], num_requests=1,
            scrape_metrics=False,
        )  # fmt: skip
        with pytest.raises(ServeBenchError, match=f"bad_reply.*larger than {MAX_REPLY_BYTES}"):
            _bounded(lambda: run_serve_bench(cfg))
    assert server.paths.count("/v1/rerank") == 1  # the warm-up only


def test_multi_turn_history_grows_with_the_servers_replies() -> None:
    from fieldkit.servebench import multi_turn_prompts

    bodies: list[list[dict[str, Any]]] = []

    def reply(n: int, body: dict[str, Any], out: Out) -> None:
        bodies.append(body["messages"])
        text = f"reply{n}"
        out.token(text)
        out.usage(5, 1)
        out.done()
        out.end()

    prompts = multi_turn_prompts(2, 3, 4, 1, seed=1)
    with ScriptedServer(reply) as server:
        cfg = ServeBenchConfig(
            Target(server.base_url, MODEL), prompts, loads=(2,), num_requests=6,
            scrape_metrics=False,
        )  # fmt: skip
        (point,) = _bounded(lambda: run_serve_bench(cfg)).points
    assert point.metrics.completed == 6
    measured = bodies[1:]  # after the warm-up
    assert sorted(len(m) for m in measured) == [1, 1, 3, 3, 5, 5]
    for m in measured:
        for k in range(1, len(m), 2):  # every assistant turn is a reply the server really sent
            assert m[k]["role"] == "assistant" and m[k]["content"].startswith("reply")
    by_conv = {p.conversation for p in prompts}
    assert by_conv == {0, 1}


def test_a_failed_turn_breaks_the_rest_of_its_conversation() -> None:
    from fieldkit.servebench import multi_turn_prompts

    def reply(n: int, body: dict[str, Any], out: Out) -> None:
        if len(body["messages"]) == 3:  # every second turn fails
            out.start(500, "application/json")
            out.raw(b"{}")
            out.end()
            return
        out.complete(1)

    with ScriptedServer(reply) as server:
        cfg = ServeBenchConfig(
            Target(server.base_url, MODEL), multi_turn_prompts(1, 3, 4, 1), loads=(1,),
            num_requests=3, scrape_metrics=False,
        )  # fmt: skip
        (point,) = _bounded(lambda: run_serve_bench(cfg)).points
    assert point.metrics.errors == {"conversation_broken": 1, "http_500": 1}
    assert point.metrics.completed == 1 and server.chats == 3  # warm-up + 2 turns sent


def test_stale_connection_retry_stays_within_the_request_timeout() -> None:
    """A server that takes the request, waits, then closes without an answer looks like a stale
    keep-alive connection: the one retry gets what is left of --timeout, not a fresh timeout."""

    def reply(n: int, body: dict[str, Any], out: Out) -> None:
        if n == 1:
            out.complete(2)
        else:
            out.stop.wait(0.6)
            out.drop()

    with ScriptedServer(reply) as server:
        cfg = _cfg(server, timeout_s=1.0, num_requests=1, max_consecutive_errors=0)
        result = _bounded(lambda: run_serve_bench(cfg))
    (rec,) = result.points[0].records
    assert rec.retried
    assert rec.error == "timeout"  # a fresh 1 s would have seen the second close instead
