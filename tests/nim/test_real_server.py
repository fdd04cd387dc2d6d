"""The client against a real ``llama-server`` with the bundled SmolLM2-135M (the session's
``local_server`` fixture from ``fieldkit.testing.pytest_plugin``): the window and token counts
come from the server, and the server's own overflow answer is parsed."""

from __future__ import annotations

import asyncio

import pytest

from fieldkit.nim import (
    AsyncNIMClient,
    NIMClient,
    NIMContextOverflowError,
    NIMServerContextOverflowError,
    chunk_text,
    estimate_tokens,
)
from fieldkit.serve import LocalServer

DIGITS = "1234567890" * 640  # 6,400 characters → 1,600 estimated tokens
# 1,500 estimated tokens (enough to need the real window) but ~100 real ones: cheap to run.
LONG_BUT_CHEAP = [{"role": "user", "content": "Say yes. " + "=" * 6000}]


def test_context_window_is_discovered_from_llama_server(local_server: LocalServer) -> None:
    with NIMClient(local_server.base_url, local_server.model) as c:
        assert c.discovered_context_window is None
        reply = c.chat(LONG_BUT_CHEAP, max_tokens=4)
        assert reply["usage"]["prompt_tokens"] > 50
        assert c.discovered_context_window == local_server.context_window == 4096


def test_digit_heavy_text_is_counted_by_the_server(local_server: LocalServer) -> None:
    with NIMClient(local_server.base_url, local_server.model) as c:
        counted = c.count_tokens(DIGITS)
    assert estimate_tokens(DIGITS) == 1600
    assert counted >= 3 * 1600  # SmolLM2 splits digits one by one (the estimate is ~4x low)


def test_digit_heavy_prompt_is_refused_before_the_server_sees_it(
    local_server: LocalServer,
) -> None:
    with (
        NIMClient(local_server.base_url, local_server.model) as c,
        pytest.raises(NIMContextOverflowError) as info,
    ):
        c.chat([{"role": "user", "content": DIGITS}], max_tokens=16)
    assert not isinstance(info.value, NIMServerContextOverflowError)  # the preflight's own
    assert info.value.ceiling == 4096 and info.value.estimated_tokens > 6000


def test_llama_server_overflow_400_is_parsed(local_server: LocalServer) -> None:
    with (
        NIMClient(
            local_server.base_url, local_server.model, context_window=None, server_tokens=False
        ) as c,
        pytest.raises(NIMServerContextOverflowError) as info,
    ):
        c.chat([{"role": "user", "content": DIGITS}], max_tokens=16)
    assert info.value.status_code == 400 and info.value.ceiling == 4096
    assert info.value.estimated_tokens > 4096


def test_chunk_text_budget_by_server_counts(local_server: LocalServer) -> None:
    text = " ".join(["31415926535"] * 300)
    with NIMClient(local_server.base_url, local_server.model) as c:
        chunks = chunk_text(text, max_tokens=256, counter=c.count_tokens)
        assert all(c.count_tokens(chunk) <= 256 for chunk in chunks)
    assert " ".join(chunks).split() == text.split()


def test_async_client_discovers_and_streams(local_server: LocalServer) -> None:
    async def main() -> tuple[str, int | None]:
        async with AsyncNIMClient(local_server.base_url, local_server.model) as c:
            deltas = [d async for d in c.chat_stream(LONG_BUT_CHEAP, max_tokens=8)]
            counted = await c.count_tokens(DIGITS)
            assert counted >= 4800
            return "".join(deltas), c.discovered_context_window

    text, window = asyncio.run(main())
    assert text and window == 4096
