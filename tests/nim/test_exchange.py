"""The shared per-attempt decisions (sans-I/O): what both clients do after each outcome."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldkit.nim import NIMHTTPError, NIMStreamError, NIMTimeoutError, RetryPolicy
from fieldkit.nim._exchange import Exchange, StreamExchange, encode

POLICY = RetryPolicy(max_retries=2, backoff_base=0.0, jitter=False)


def response(status: int, body: str = "", headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, text=body, headers=headers)


def test_success_is_none_and_retryable_is_a_delay() -> None:
    exchange = Exchange(POLICY, "/chat/completions")
    assert exchange.answered(response(200, "{}")) is None
    assert exchange.answered(response(503, headers={"Retry-After": "1.5"})) == 1.5
    assert exchange.broke(httpx.ReadError("reset")) == 0.0
    with pytest.raises(NIMTimeoutError) as info:
        exchange.answered(response(429))
    assert info.value.status_code == 429 and info.value.attempts == 3


def test_final_status_raises_at_once() -> None:
    with pytest.raises(NIMHTTPError) as info:
        Exchange(POLICY, "/x").answered(response(404, "missing"))
    assert (info.value.status_code, info.value.body) == (404, "missing")


def test_unknown_transport_error_is_final() -> None:
    with pytest.raises(Exception, match="transport error") as info:
        Exchange(POLICY, "/x").broke(httpx.UnsupportedProtocol("ftp"))
    assert isinstance(info.value.__cause__, httpx.UnsupportedProtocol)


def sse(words: list[str], *, finish: bool = True, done: bool = True) -> list[str]:
    lines = [f"data: {json.dumps({'choices': [{'delta': {'role': 'assistant'}}]})}", ""]
    for w in words:
        lines += [f"data: {json.dumps({'choices': [{'delta': {'content': w}}]})}", ""]
    if finish:
        lines += [f"data: {json.dumps({'choices': [{'delta': {}, 'finish_reason': 'stop'}]})}", ""]
    if done:
        lines += ["data: [DONE]", ""]
    return lines


def read(exchange: StreamExchange, lines: list[str]) -> list[str]:
    exchange.begin()
    out: list[str] = []
    for line in lines:
        text = exchange.line(line)
        if text is not None:
            out.append(text)
        elif exchange.done:
            break
    return out


@given(st.lists(st.text(min_size=1, max_size=8), max_size=20), st.booleans())
@settings(max_examples=100, deadline=None)
def test_stream_yields_every_delta_in_order(words: list[str], with_done: bool) -> None:
    exchange = StreamExchange(POLICY, "/chat/completions")
    assert read(exchange, sse(words, done=with_done)) == words
    assert exchange.yielded == len(words)
    assert exchange.ended() is None  # finished (finish_reason or [DONE]): nothing to retry


def test_unfinished_stream_retries_before_text_and_raises_after() -> None:
    exchange = StreamExchange(POLICY, "/chat/completions")
    assert read(exchange, sse([], finish=False, done=False)) == []
    assert exchange.ended() == 0.0  # nothing yielded yet: retry
    assert exchange.broke(httpx.RemoteProtocolError("cut")) == 0.0
    assert read(exchange, sse(["a", "b"], finish=False, done=False)) == ["a", "b"]
    with pytest.raises(NIMStreamError) as info:
        exchange.ended()
    assert info.value.received == 2
    with pytest.raises(NIMStreamError, match="broke after 2 deltas"):
        exchange.broke(httpx.ReadError("reset"))


def test_encode_is_compact_utf8() -> None:
    assert encode({"a": "é", "b": [1, 2]}) == '{"a":"é","b":[1,2]}'.encode()


def test_a_last_event_without_its_blank_line_still_counts() -> None:
    exchange = StreamExchange(POLICY, "/chat/completions")
    lines = sse(["x"], done=False)[:-1]  # the finish event is not followed by a blank line
    assert read(exchange, lines) == ["x"]
    assert exchange.line("") is None  # what the clients feed at the end of the body
    assert exchange.ended() is None
    unterminated_text = StreamExchange(POLICY, "/chat/completions")
    assert read(unterminated_text, sse(["y"], finish=False, done=False)[:-1]) == []
    assert unterminated_text.line("") == "y"
