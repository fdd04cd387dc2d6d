"""AsyncNIMClient against the simulator: same behaviour as the sync client, plus concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

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
        async with AsyncNIMClient(
            sim.base_url, MODEL, max_retries=2, timeout=2.0, **FAST, **kw
        ) as c:
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
    assert len(simulator.requests) == 4


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
    import httpx

    async def main() -> int:
        own = httpx.AsyncClient(base_url=simulator.base_url)
        c = AsyncNIMClient(simulator.base_url, MODEL, _client=own)
        await c.chat_many([USER] * 8, concurrency=8)
        n = len(c._pool.clients)
        await c.aclose()
        assert own.is_closed
        return n

    assert asyncio.run(main()) == 1
