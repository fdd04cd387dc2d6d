"""The shared per-attempt decisions (sans-I/O): what both clients do after each outcome."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldkit.nim import (
    NIMHTTPError,
    NIMResponseError,
    NIMStreamError,
    NIMTimeoutError,
    RetryPolicy,
)
from fieldkit.nim._exchange import Exchange, StreamExchange, attempt_budget, encode

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


# --- deadlines (pure: a fake clock) ----------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_attempt_deadline_is_the_budget_from_now() -> None:
    clock = Clock()
    exchange = Exchange(POLICY, "/x", budget=2.0, clock=clock)
    deadline = exchange.attempt()
    assert deadline.remaining() == 2.0 and not deadline.expired()
    clock.now += 2.0
    assert deadline.expired()
    assert exchange.attempt().remaining() == 2.0  # every attempt gets a fresh budget
    assert Exchange(POLICY, "/x", budget=None).attempt().remaining() is None


def test_stream_idle_limit_restarts_on_events_not_on_keepalives() -> None:
    clock = Clock()
    exchange = StreamExchange(POLICY, "/x", budget=5.0, idle=1.0, clock=clock)
    exchange.attempt()
    clock.now += 4.0  # headers took 4 s of the 5 s budget
    exchange.begin()
    assert exchange.deadline.remaining() == 1.0  # now the idle limit rules
    clock.now += 0.9
    assert exchange.line(": keep-alive") is None
    assert exchange.line("") is None
    event = {"choices": [{"delta": {"content": "hi"}}]}
    assert exchange.line("data: " + json.dumps(event)) is None
    assert exchange.line("") == "hi"
    assert exchange.deadline.remaining() == 1.0  # a data event is progress
    clock.now += 1.5
    with pytest.raises(httpx.ReadTimeout, match="keep-alives do not count"):
        exchange.line(": keep-alive")


def test_empty_stream_is_final_and_keeps_the_reason() -> None:
    exchange = StreamExchange(POLICY, "/x")
    exchange.begin()
    exchange.line('error: {"message": "no slot"}')
    exchange.line("")
    with pytest.raises(NIMResponseError, match="no slot"):
        exchange.ended()


@given(st.floats(0.001, 1e6), st.floats(0.001, 1e6))
def test_attempt_budget_of_an_httpx_timeout_is_its_largest_phase(a: float, b: float) -> None:
    assert attempt_budget(httpx.Timeout(a, read=b), 60.0) == max(a, b)
    assert attempt_budget(None, 60.0) == 60.0
    assert attempt_budget(a, 60.0) == a
