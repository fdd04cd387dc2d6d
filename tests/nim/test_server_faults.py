"""Defects found against llama.cpp, each reproduced over loopback sockets with a simulator fault:
exhausted status retries, empty 200 streams, ignored ``dimensions``, deadlines (dripping bytes,
keep-alive-only streams, ``wait_for_warm``), context windows and token counts from the server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fieldkit.nim as nim
from fieldkit.nim import (
    AsyncNIMClient,
    NIMClient,
    NIMContextOverflowError,
    NIMHTTPError,
    NIMResponseError,
    NIMServerContextOverflowError,
    NIMServerError,
    NIMTimeoutError,
    chunk_text,
    wait_for_warm,
)
from fieldkit.nim import _payloads as payloads
from fieldkit.testing import Fault, NIMSimulator
from tests._growth import assert_linear

from .conftest import FAST, MODEL

USER = [{"role": "user", "content": "hello"}]


def test_server_context_overflow_error_is_importable() -> None:
    assert "NIMServerContextOverflowError" in nim.__all__
    assert issubclass(NIMServerContextOverflowError, NIMContextOverflowError)
    assert issubclass(NIMServerContextOverflowError, NIMHTTPError)


# --- a repeatable 5xx is a server error, not a timeout ---------------------------------------
def test_repeatable_5xx_raises_server_error_with_status_and_body(simulator: NIMSimulator) -> None:
    simulator.enqueue(*[Fault(status=500, body={"error": "kv cache full"})] * 3)
    with (
        NIMClient(simulator.base_url, MODEL, max_retries=2, **FAST) as c,
        pytest.raises(NIMServerError) as info,
    ):
        c.chat(USER)
    assert info.value.status_code == 500 and info.value.attempts == 3
    assert info.value.body == '{"error":"kv cache full"}'
    assert "NIM 500" in str(info.value) and "timeout" not in str(info.value)
    assert isinstance(info.value, NIMHTTPError)
    assert isinstance(info.value, NIMTimeoutError)  # 0.3.0's except still catches it


def test_transport_exhaustion_stays_a_plain_timeout(dead_url: str) -> None:
    with (
        NIMClient(dead_url, MODEL, max_retries=1, **FAST) as c,
        pytest.raises(NIMTimeoutError) as info,
    ):
        c.chat(USER)
    assert not isinstance(info.value, NIMServerError) and info.value.status_code is None


def test_async_repeatable_5xx_raises_server_error(simulator: NIMSimulator) -> None:
    simulator.enqueue(502, 502)

    async def main() -> None:
        async with AsyncNIMClient(simulator.base_url, MODEL, max_retries=1, **FAST) as c:
            with pytest.raises(NIMServerError) as info:
                await c.chat(USER)
        assert info.value.status_code == 502 and info.value.body

    asyncio.run(main())


# --- an empty 200 stream is the server's answer ----------------------------------------------
REASON = 'error: {"code":500,"message":"slot unavailable"}\n\n'


def test_empty_200_stream_is_not_retried_and_keeps_the_reason(simulator: NIMSimulator) -> None:
    simulator.enqueue(Fault(stream="empty", body=REASON), Fault(stream="empty"))
    with NIMClient(simulator.base_url, MODEL, max_retries=3, **FAST) as c:
        with pytest.raises(NIMResponseError, match="slot unavailable"):
            list(c.chat_stream(USER))
        assert len(simulator.requests_to("/chat/completions")) == 1
        with pytest.raises(NIMResponseError, match="empty stream"):
            list(c.chat_stream(USER))
    assert len(simulator.requests_to("/chat/completions")) == 2


def test_async_empty_200_stream_keeps_the_reason(simulator: NIMSimulator) -> None:
    simulator.enqueue(Fault(stream="empty", body=REASON))

    async def main() -> None:
        async with AsyncNIMClient(simulator.base_url, MODEL, max_retries=3, **FAST) as c:
            with pytest.raises(NIMResponseError, match="slot unavailable"):
                async for _ in c.chat_stream(USER):
                    pass

    asyncio.run(main())
    assert len(simulator.requests_to("/chat/completions")) == 1


# --- embed(dimensions=N) must return N-long vectors -------------------------------------------
def test_embed_dimensions_ignored_by_the_server_is_an_error(
    simulator_factory: Callable[..., NIMSimulator],
) -> None:
    sim = simulator_factory(embed_dim=384, honour_dimensions=False)
    with NIMClient(sim.base_url, MODEL) as c:
        assert len(c.embed(["a"])[0]) == 384
        with pytest.raises(NIMResponseError, match="of dimension 128, got dimension 384"):
            c.embed(["a", "b"], dimensions=128)

    async def main() -> None:
        async with AsyncNIMClient(sim.base_url, MODEL) as ac:
            with pytest.raises(NIMResponseError, match="128"):
                await ac.embed(["a"], dimensions=128)

    asyncio.run(main())


def test_embed_dimensions_honoured_pass(simulator: NIMSimulator) -> None:
    with NIMClient(simulator.base_url, MODEL) as c:
        assert [len(v) for v in c.embed(["a", "b"], dimensions=64)] == [64, 64]


# --- deadlines -----------------------------------------------------------------------------
def test_dripping_server_is_bounded_by_the_attempt_timeout(simulator: NIMSimulator) -> None:
    # ~300 bytes at one byte per 0.2 s would take a minute; every read returns within 0.2 s.
    simulator.enqueue(Fault(drip_s=0.2, path="/chat/completions"))
    with NIMClient(simulator.base_url, MODEL, timeout=1.0, max_retries=0) as c:

        def call() -> None:
            with pytest.raises(NIMTimeoutError, match="timeout"):
                c.chat(USER)

        call()  # raises the timeout: an unbounded client would wait out the server


def test_dripping_server_async(simulator: NIMSimulator) -> None:
    simulator.enqueue(Fault(drip_s=0.2, path="/chat/completions"))

    async def main() -> None:
        async with AsyncNIMClient(simulator.base_url, MODEL, timeout=1.0, max_retries=0) as c:
            with pytest.raises(NIMTimeoutError, match="timeout"):
                await c.chat(USER)

    asyncio.run(main())


def test_keepalive_only_stream_hits_the_idle_limit(simulator: NIMSimulator) -> None:
    simulator.enqueue(Fault(stream="keepalive", keepalive_s=0.1))
    with NIMClient(
        simulator.base_url, MODEL, timeout=5.0, stream_idle_timeout=1.0, max_retries=0
    ) as c:

        def call() -> None:
            with pytest.raises(NIMTimeoutError, match="idle"):
                list(c.chat_stream(USER))

        call()  # raises the timeout: an unbounded client would wait out the server


def test_keepalive_only_stream_async(simulator: NIMSimulator) -> None:
    simulator.enqueue(Fault(stream="keepalive", keepalive_s=0.1))

    async def main() -> None:
        async with AsyncNIMClient(
            simulator.base_url, MODEL, timeout=1.0, max_retries=0, **FAST
        ) as c:
            with pytest.raises(NIMTimeoutError, match="idle"):
                async for _ in c.chat_stream(USER):
                    pass

    asyncio.run(main())


def test_dripping_stream_events_still_finish_when_fast_enough(simulator: NIMSimulator) -> None:
    # Progress (whole events) keeps a stream alive however long it runs in total.
    simulator.set_chat_reply("a b c")
    simulator.enqueue(Fault(drip_s=0.001, path="/chat/completions"))
    with NIMClient(simulator.base_url, MODEL, timeout=5.0) as c:
        assert "".join(c.chat_stream(USER)) == "a b c"


def test_wait_for_warm_returns_by_its_deadline_on_a_dripping_server(
    simulator: NIMSimulator,
) -> None:
    simulator.enqueue(*[Fault(drip_s=0.2, path="/models")] * 5)
    # False: it gave up at its deadline (the fifth drip would end, and answer 200, later)
    assert wait_for_warm(simulator.base_url, timeout=1.0, poll_interval=0.1) is False


# --- the context window comes from the server ---------------------------------------------
BIG = [{"role": "user", "content": "word " * 40_000}]  # ~50k estimated tokens


@pytest.mark.parametrize("report", ["vllm", "llama"])
def test_a_128k_server_is_not_refused_a_50k_prompt(
    report: str, simulator_factory: Callable[..., NIMSimulator]
) -> None:
    sim = simulator_factory(context_window=131_072, report_context=report)
    with NIMClient(sim.base_url, MODEL) as c:
        assert c.chat(BIG, max_tokens=8)["choices"]
        assert c.discovered_context_window == 131_072
    assert len(sim.requests_to("/chat/completions")) == 1


def test_llama_server_props_is_the_second_source(
    simulator_factory: Callable[..., NIMSimulator],
) -> None:
    sim = simulator_factory(context_window=4096, report_context="llama")
    # this /models reply carries no window, so the client asks llama-server's /props
    sim.enqueue(Fault(status=200, body={"object": "list", "data": [{"id": MODEL}]}, path="/models"))
    with NIMClient(sim.base_url, MODEL) as c, pytest.raises(NIMContextOverflowError) as info:
        c.chat([{"role": "user", "content": "z" * 20_000}], max_tokens=8)
    assert info.value.ceiling == 4096
    assert [r.path for r in sim.requests][:2] == ["/v1/models", "/props"]
    assert sim.requests_to("/chat/completions") == []  # refused before the server had to


def test_async_discovers_the_window_too(simulator_factory: Callable[..., NIMSimulator]) -> None:
    sim = simulator_factory(context_window=131_072)

    async def main() -> None:
        async with AsyncNIMClient(sim.base_url, MODEL) as c:
            assert (await c.chat(BIG, max_tokens=8))["choices"]
            deltas = [d async for d in c.chat_stream(BIG, max_tokens=8)]
            assert deltas

    asyncio.run(main())


def test_no_reported_window_falls_back_to_8192(
    simulator_factory: Callable[..., NIMSimulator],
) -> None:
    sim = simulator_factory(context_window=131_072, report_context=None)
    with NIMClient(sim.base_url, MODEL) as c, pytest.raises(NIMContextOverflowError) as info:
        c.chat(BIG, max_tokens=8)
    assert info.value.ceiling == 8192
    assert sim.requests_to("/chat/completions") == []


# --- token counts from the server ---------------------------------------------------------
DIGITS = [{"role": "user", "content": "1234567890" * 900}]  # 9,000 chars → 2,250 estimated


def test_digit_heavy_prompt_is_counted_by_the_server(
    simulator_factory: Callable[..., NIMSimulator],
) -> None:
    # The server's tokenizer counts one token per digit: 9,000 tokens, not 2,250.
    sim = simulator_factory(tokenize=True, token_counter=len)
    with NIMClient(sim.base_url, MODEL) as c:
        with pytest.raises(NIMContextOverflowError) as info:
            c.chat(DIGITS, max_tokens=16)
        assert info.value.estimated_tokens == 9000 + 4 + 16
        assert c.count_tokens("12345") == 5
    assert sim.requests_to("/chat/completions") == []


def test_without_tokenize_the_estimate_is_the_fallback(simulator: NIMSimulator) -> None:
    with NIMClient(simulator.base_url, MODEL) as c:
        assert c.count_tokens("12345678") == 2
        assert c.chat(DIGITS, max_tokens=16)["choices"]
        assert c.count_tokens("12345678") == 2
    assert len(simulator.requests_to("/tokenize")) == 1  # asked once, remembered


def test_chunk_text_with_a_server_counter(simulator_factory: Callable[..., NIMSimulator]) -> None:
    sim = simulator_factory(tokenize=True, token_counter=len)
    text = " ".join(["3141592653"] * 200)
    with NIMClient(sim.base_url, MODEL) as c:
        chunks = chunk_text(text, max_tokens=100, counter=c.count_tokens)
    assert all(len(chunk) <= 100 for chunk in chunks)
    assert " ".join(chunks).split() == text.split()
    assert len(chunk_text(text, max_tokens=100)) < len(chunks)  # the estimate packs 4x more


# --- the context-overflow parser is linear --------------------------------------------------
def test_overflow_parser_on_a_280kb_hostile_body_is_fast() -> None:
    body = "This model's maximum context length is 1 tokens " * 6000  # ~290 KB, no 'requested'
    assert payloads.parse_overflow(body) is None
    # 0.3.0's pattern took ~50 s on this body: quadratic growth
    line = "This model's maximum context length is 1 tokens "
    assert_linear(lambda n: line * n, payloads.parse_overflow, 300)


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from(["maximum context length is 7 tokens", "requested 9 tokens", " ", "x"]),
    st.integers(min_value=1_000, max_value=20_000),
)
def test_overflow_parser_linear_on_repeats(piece: str, count: int) -> None:
    assert_linear(lambda n: piece * n, payloads.parse_overflow, count // 8)


@given(st.integers(1, 10**9), st.integers(1, 10**9), st.text(max_size=50))
def test_overflow_parser_reads_both_wordings(asked: int, window: int, noise: str) -> None:
    vllm = (
        f"{noise}This model's maximum context length is {window} tokens. However, you "
        f"requested {asked} tokens (…). Please reduce the length."
    )
    llama = f"request ({asked} tokens) exceeds the available context size ({window} tokens)"
    assert payloads.parse_overflow(vllm) == (asked, window)
    assert payloads.parse_overflow(llama) == (asked, window)


def test_short_prompts_cost_no_extra_requests(
    simulator_factory: Callable[..., NIMSimulator],
) -> None:
    # Discovery and server counts are for prompts near a window: a short chat is one request.
    sim = simulator_factory(context_window=131_072, tokenize=True, token_counter=len)
    with NIMClient(sim.base_url, MODEL) as c:
        for _ in range(3):
            assert c.chat(USER, max_tokens=8)["choices"]
        assert "".join(c.chat_stream(USER, max_tokens=8))

    async def main() -> None:
        async with AsyncNIMClient(sim.base_url, MODEL) as c:
            assert (await c.chat(USER, max_tokens=8))["choices"]
            assert [d async for d in c.chat_stream(USER, max_tokens=8)]

    asyncio.run(main())
    assert {r.path for r in sim.requests} == {"/v1/chat/completions"}
    assert len(sim.requests) == 6
