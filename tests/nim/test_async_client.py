"""AsyncNIMClient against the simulator: same behaviour as the sync client, plus concurrency."""

from __future__ import annotations

import asyncio
import email.utils
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest

from fieldkit.nim import (
    AsyncNIMClient,
    NIMContextOverflowError,
    NIMError,
    NIMHTTPError,
    NIMStreamError,
    NIMTimeoutError,
)
from fieldkit.testing import Fault, NIMSimulator

from .conftest import FAST, MODEL

USER = [{"role": "user", "content": "hello"}]
T = TypeVar("T")


def run(sim: NIMSimulator, body: Callable[[AsyncNIMClient], Awaitable[T]], **kw: Any) -> T:
    """Run *body* with a fresh async client (zero backoff) inside a new event loop."""

    async def main() -> T:
        settings: dict[str, Any] = {"max_retries": 2, "timeout": 2.0, **FAST, **kw}
        async with AsyncNIMClient(sim.base_url, MODEL, **settings) as c:
            return await body(c)

    return asyncio.run(main())


def test_chat_and_repr(simulator: NIMSimulator) -> None:
    async def body(c: AsyncNIMClient) -> dict[str, Any]:
        assert "local" not in repr(c).replace("localhost", "")
        return await c.chat(USER, temperature=0.5)

    out = run(simulator, body)
    assert out["choices"][0]["message"]["content"] == "Simulated reply to: hello"
    assert simulator.requests[0].json["temperature"] == 0.5


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retryable_then_success(status: int, simulator: NIMSimulator) -> None:
    simulator.enqueue(status)
    run(simulator, lambda c: c.chat(USER))
    assert len(simulator.requests) == 2


def test_errors_match_the_sync_client(simulator: NIMSimulator) -> None:
    async def body(c: AsyncNIMClient) -> None:
        simulator.enqueue(400)
        with pytest.raises(NIMHTTPError) as info:
            await c.chat(USER)
        assert info.value.status_code == 400
        simulator.enqueue(503, 503, 503)
        with pytest.raises(NIMTimeoutError) as timeout:
            await c.chat(USER)
        assert timeout.value.status_code == 503
        with pytest.raises(NIMContextOverflowError):
            await c.chat([{"role": "user", "content": "x" * 40_960}])

    run(simulator, body)
    assert len(simulator.requests_to("/chat/completions")) == 4


def test_timeouts_and_resets_are_retried(simulator: NIMSimulator) -> None:
    simulator.enqueue(Fault(delay_s=2.0), Fault(drop="mid_body"))

    async def body(c: AsyncNIMClient) -> dict[str, Any]:
        return await c.chat(USER, timeout=0.5)

    assert run(simulator, body)["choices"]
    assert len(simulator.requests) == 3


def test_connect_error(dead_url: str) -> None:
    async def main() -> None:
        async with AsyncNIMClient(dead_url, MODEL, max_retries=1, **FAST) as c:
            assert await c.health() is False
            with pytest.raises(NIMTimeoutError, match="connect error"):
                await c.chat(USER)

    asyncio.run(main())


def test_stream(simulator: NIMSimulator) -> None:
    simulator.set_chat_reply("one two three")
    simulator.enqueue(503)

    async def body(c: AsyncNIMClient) -> list[str]:
        return [d async for d in c.chat_stream(USER)]

    assert run(simulator, body) == ["one ", "two ", "three"]
    assert len(simulator.requests) == 2


def test_stream_break_after_text(simulator: NIMSimulator) -> None:
    simulator.set_chat_reply("alpha beta gamma")
    simulator.enqueue(Fault(drop="mid_stream", after_chunks=2))

    async def body(c: AsyncNIMClient) -> list[str]:
        got: list[str] = []
        with pytest.raises(NIMStreamError):
            async for d in c.chat_stream(USER):
                got.append(d)
        return got

    assert run(simulator, body) == ["alpha "]


def test_chat_many_order_errors_and_bound(simulator: NIMSimulator) -> None:
    simulator.latency_s = 0.02
    requests: list[Any] = [[{"role": "user", "content": f"q{i}"}] for i in range(30)]
    requests[7] = [{"role": "user", "content": "x" * 40_000}]
    out = run(simulator, lambda c: c.chat_many(requests, concurrency=5))
    assert isinstance(out[7], NIMContextOverflowError)
    for i, r in enumerate(out):
        if i != 7:
            assert isinstance(r, dict)
            assert r["choices"][0]["message"]["content"] == f"Simulated reply to: q{i}"
    assert 1 <= simulator.peak_concurrency <= 5


def test_embed_rerank_models(simulator: NIMSimulator) -> None:
    async def body(c: AsyncNIMClient) -> tuple[Any, Any, Any]:
        vectors = await c.embed(["a b", "c d", "e"], batch_size=2)
        ranked = await c.rerank("c d", ["a b", "c d"], top_n=1)
        return vectors, ranked, await c.models()

    vectors, ranked, models = run(simulator, body)
    assert len(vectors) == 3 and len(vectors[0]) == simulator.embed_dim
    assert ranked == [{"index": 1, "logit": pytest.approx(10.0)}]
    assert models == [MODEL]


def test_closed(simulator: NIMSimulator) -> None:
    async def main() -> None:
        c = AsyncNIMClient(simulator.base_url, MODEL)
        await c.aclose()
        await c.close()
        with pytest.raises(NIMError, match="client closed"):
            await c.chat(USER)

    asyncio.run(main())


def test_concurrency_spreads_over_client_shards(simulator: NIMSimulator) -> None:
    simulator.latency_s = 0.05

    async def main() -> tuple[int, list[bool]]:
        c = AsyncNIMClient(simulator.base_url, MODEL)
        clients = c._pool.clients
        out = await c.chat_many([USER] * 16, concurrency=16)
        assert all(isinstance(r, dict) for r in out)
        shards = list(clients)
        await c.aclose()
        return len(shards), [s.is_closed for s in shards]

    count, closed = asyncio.run(main())
    assert count == 4  # 16 in flight / 4 connections per shard
    assert all(closed)
    assert simulator.peak_concurrency > 4  # more than one shard in use at once


def test_caller_supplied_client_is_used_alone(simulator: NIMSimulator) -> None:
    async def main() -> int:
        own = httpx.AsyncClient(base_url=simulator.base_url)
        c = AsyncNIMClient(simulator.base_url, MODEL, _client=own)
        await c.chat_many([USER] * 8, concurrency=8)
        n = len(c._pool.clients)
        await c.aclose()
        assert own.is_closed
        return n

    assert asyncio.run(main()) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_not_retried(status: int, simulator: NIMSimulator) -> None:
    simulator.enqueue(Fault(status=status, body={"detail": f"nope {status}"}))

    async def body(c: AsyncNIMClient) -> None:
        with pytest.raises(NIMHTTPError) as info:
            await c.chat(USER)
        assert info.value.status_code == status
        assert info.value.body == '{"detail":"nope ' + str(status) + '"}'

    run(simulator, body)
    assert len(simulator.requests) == 1


def test_preflight_makes_no_request(simulator: NIMSimulator) -> None:
    async def body(c: AsyncNIMClient) -> None:
        with pytest.raises(NIMContextOverflowError) as info:
            await c.chat([{"role": "user", "content": "x" * 40_960}])
        assert info.value.ceiling == 8192
        with pytest.raises(NIMContextOverflowError):
            c.chat_stream([{"role": "user", "content": "x" * 40_960}])

    run(simulator, body)
    assert simulator.requests_to("/chat/completions") == []


@pytest.mark.parametrize(
    ("headers", "floor"),
    [
        ({"Retry-After": "0.1"}, 0.1),
        ({"retry-after-ms": "80", "Retry-After": "30"}, 0.08),
        ("date", 0.5),  # the next whole second + 1: at least 1 s away (one-second resolution)
    ],
)
def test_retry_after_is_honoured(
    headers: dict[str, str] | str, floor: float, simulator: NIMSimulator
) -> None:
    if headers == "date":
        headers = {"Retry-After": email.utils.formatdate(math.ceil(time.time()) + 1, usegmt=True)}
    assert isinstance(headers, dict)
    simulator.enqueue(Fault(status=429, headers=headers))
    assert run(simulator, lambda c: c.chat(USER))["choices"]
    first, second = simulator.requests
    assert second.received_at - first.received_at >= floor


def test_timeout_exhaustion(simulator: NIMSimulator) -> None:
    simulator.enqueue(Fault(delay_s=0.6), Fault(delay_s=0.6))

    async def body(c: AsyncNIMClient) -> None:
        with pytest.raises(NIMTimeoutError, match="timeout") as info:
            await c.chat(USER)
        assert info.value.status_code is None and info.value.attempts == 2
        assert isinstance(info.value.__cause__.__cause__, httpx.TimeoutException)

    run(simulator, body, timeout=0.15, max_retries=1)
    assert len(simulator.requests) == 2


def test_stream_retries_before_first_byte_and_4xx(simulator: NIMSimulator) -> None:
    simulator.set_chat_reply("a b")
    simulator.enqueue(503, Fault(drop="before_response"), Fault(drop="mid_stream", after_chunks=0))

    async def body(c: AsyncNIMClient) -> str:
        text = "".join([d async for d in c.chat_stream(USER)])
        simulator.enqueue(401)
        with pytest.raises(NIMHTTPError) as info:
            await c.chat_stream(USER).__anext__()
        assert info.value.status_code == 401
        return text

    assert run(simulator, body, max_retries=3) == "a b"
    assert len(simulator.requests) == 5


def test_stream_early_exit_frees_the_only_connection(simulator: NIMSimulator) -> None:
    """Leaving ``async for`` does not close an async iterator; ``async with`` must."""
    simulator.set_chat_reply("a b c d e f")

    async def main() -> None:
        own = httpx.AsyncClient(
            base_url=simulator.base_url,
            limits=httpx.Limits(max_connections=1),
            timeout=httpx.Timeout(2.0, pool=0.5),
        )
        async with AsyncNIMClient(simulator.base_url, MODEL, _client=own) as c:
            async with c.chat_stream(USER) as stream:
                async for delta in stream:
                    assert delta == "a "
                    break
            kept = stream  # still referenced, so garbage collection cannot be what freed it
            assert (await c.chat(USER))["choices"]  # a pool timeout if the stream held on
            await kept.aclose()  # idempotent
            assert [d async for d in kept] == []

    asyncio.run(main())


def test_embed_retries_and_keep_alive(simulator: NIMSimulator) -> None:
    simulator.enqueue(Fault(status=503, path="/embeddings"))

    async def body(c: AsyncNIMClient) -> list[list[float]]:
        vectors = await c.embed(["same text"])
        for _ in range(4):
            await c.chat(USER)
        assert await c.embed("same text", input_type="query") == vectors
        return vectors

    assert len(run(simulator, body)[0]) == simulator.embed_dim
    assert len(simulator.requests) == 7
    assert simulator.connections_opened == 1  # sequential calls reuse one keep-alive connection
