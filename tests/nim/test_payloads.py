"""Pure request building, classification and parsing shared by both clients."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldkit.nim import (
    NIMContextOverflowError,
    NIMError,
    NIMHTTPError,
    NIMResponseError,
    estimate_tokens,
)
from fieldkit.nim import _payloads as p
from fieldkit.nim._errors import _RetryableError

MSG = [{"role": "user", "content": "hi"}]


def test_chat_body_key_order_and_extras() -> None:
    body = p.chat_body("m", MSG, 16, 0.5, {"top_p": 0.9, "temperature": 0.1})
    assert list(body) == ["model", "messages", "max_tokens", "temperature", "top_p"]
    assert body["temperature"] == 0.1  # an extra may override, as in 0.3.0


def test_chat_body_refuses_messages_extra_and_stream() -> None:
    with pytest.raises(TypeError, match="messages"):
        p.chat_body("m", MSG, 16, 0.0, {"messages": []})
    with pytest.raises(ValueError, match="chat_stream"):
        p.chat_body("m", MSG, 16, 0.0, {"stream": True})
    assert p.chat_body("m", MSG, 16, 0.0, {}, stream=True)["stream"] is True


def test_preflight_boundary_is_strictly_greater() -> None:
    assert p.preflight(MSG, 8187, context_window=8192, counter=estimate_tokens) == 8192
    with pytest.raises(NIMContextOverflowError) as info:
        p.preflight(MSG, 8188, context_window=8192, counter=estimate_tokens)
    assert (info.value.estimated_tokens, info.value.ceiling) == (8193, 8192)
    assert "Chunk inputs further" in str(info.value)


def test_preflight_options() -> None:
    assert p.preflight(MSG, 9000, context_window=None, counter=estimate_tokens) == 9005
    assert p.preflight(MSG, 9000, context_window=100, counter=len, reserve_completion=False) == 6
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    with_tools = p.preflight(MSG, 1, context_window=None, counter=len, extra={"tools": tools})
    assert with_tools == 7 + len(json.dumps(tools))


def test_check_messages() -> None:
    assert p.check_messages(tuple(MSG)) == MSG
    for bad in ("hi", {"role": "user"}, [1]):
        with pytest.raises(TypeError):
            p.check_messages(bad)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_statuses_are_retryable(status: int) -> None:
    err = p.classify_status(status, "busy", {"Retry-After": "3"})
    assert isinstance(err, _RetryableError)
    assert err.status_code == status and err.retry_after == 3.0
    assert str(err) == f"NIM {status}: busy"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422, 501])
def test_other_errors_are_final(status: int) -> None:
    body = "x" * 500
    err = p.classify_status(status, body, {})
    assert type(err) is NIMHTTPError
    assert err.status_code == status and err.body == body
    assert str(err) == f"NIM {status}: {'x' * 200}"


def test_success_is_none() -> None:
    assert p.classify_status(200, "{}", {}) is None
    assert p.classify_status(302, "", {}) is None


def test_context_length_400_is_both_overflow_and_http_error() -> None:
    text = json.dumps(
        {
            "message": "This model's maximum context length is 8192 tokens. However, you "
            "requested 9000 tokens (8488 in the messages, 512 in the completion)."
        }
    )
    err = p.classify_status(400, text, {})
    assert isinstance(err, NIMContextOverflowError) and isinstance(err, NIMHTTPError)
    assert (err.estimated_tokens, err.ceiling, err.status_code) == (9000, 8192, 400)
    assert err.body == text


def test_transport_classification() -> None:
    req = httpx.Request("GET", "http://127.0.0.1/")
    assert isinstance(p.classify_exception(httpx.ReadTimeout("t", request=req)), _RetryableError)
    assert str(p.classify_exception(httpx.ConnectError("no"))) == "connect error: no"
    assert isinstance(p.classify_exception(httpx.RemoteProtocolError("x")), _RetryableError)
    assert isinstance(p.classify_exception(httpx.ReadError("x")), _RetryableError)
    final = p.classify_exception(httpx.UnsupportedProtocol("ftp"))
    assert type(final) is NIMError and str(final) == "transport error: ftp"


def test_non_json_success_is_a_nim_error_and_a_value_error() -> None:
    with pytest.raises(NIMResponseError) as info:
        p.parse_object(b"<html>oops</html>")
    assert isinstance(info.value, ValueError)
    with pytest.raises(NIMResponseError, match="not a JSON object"):
        p.parse_object(b"[1, 2]")


def test_parse_embeddings_orders_by_index_and_checks_count() -> None:
    payload = {"data": [{"index": 1, "embedding": [2, 3]}, {"index": 0, "embedding": [0.5, 1]}]}
    assert p.parse_embeddings(payload, 2) == [[0.5, 1.0], [2.0, 3.0]]
    with pytest.raises(NIMResponseError, match="asked for 3"):
        p.parse_embeddings(payload, 3)
    with pytest.raises(NIMResponseError):
        p.parse_embeddings({"data": [{"embedding": [1]}]}, 1)


def test_embed_and_rank_bodies() -> None:
    assert p.embed_body("e", ["a"], "query", dimensions=None, truncate="END") == {
        "model": "e",
        "input": ["a"],
        "input_type": "query",
        "encoding_format": "float",
        "truncate": "END",
    }
    assert p.rank_body("r", "q", ["a", "b"], None) == {
        "model": "r",
        "query": {"text": "q"},
        "passages": [{"text": "a"}, {"text": "b"}],
    }
    assert p.check_passages(["a", {"text": "b"}]) == ["a", "b"]
    with pytest.raises(TypeError, match=r"passages\[1\]"):
        p.check_passages(["a", {"txt": "b"}])


def test_rankings_parse_offset_and_merge() -> None:
    first = p.parse_rankings(
        {"rankings": [{"index": 1, "logit": 2}, {"index": 0, "logit": 5}]}, 2, 0
    )
    second = p.parse_rankings({"rankings": [{"index": 0, "logit": 3}]}, 1, 2)
    assert p.merge_rankings(first + second, top_n=2) == [
        {"index": 0, "logit": 5.0},
        {"index": 2, "logit": 3.0},
    ]
    with pytest.raises(NIMResponseError, match="out of range"):
        p.parse_rankings({"rankings": [{"index": 5, "logit": 1}]}, 2, 0)


def test_sse_decoder_and_stream_events() -> None:
    dec = p.SSEDecoder()
    lines = [": comment", 'data: {"choices": [{"delta": {"content": "Hi"}}]}', ""]
    out = [dec.feed(line) for line in lines]
    assert out[:2] == [None, None]
    assert p.stream_event(out[2] or "") == ("Hi", False, False)
    finish = '{"choices": [{"delta": {}, "finish_reason": "stop"}]}'
    assert p.stream_event(finish) == (None, True, False)
    assert p.stream_event("[DONE]") == (None, True, True)
    with pytest.raises(NIMError, match="stream error"):
        p.stream_event('{"error": {"message": "boom"}}')


@given(
    st.lists(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=20), max_size=10)
)
@settings(max_examples=100, deadline=None)
def test_sse_round_trip(deltas: list[str]) -> None:
    dec = p.SSEDecoder()
    got: list[str] = []
    for d in deltas:
        event = json.dumps({"choices": [{"delta": {"content": d}}]})
        for line in (f"data: {event}", ""):
            data = dec.feed(line)
            if data is not None:
                text, _, _ = p.stream_event(data)
                if text:
                    got.append(text)
    assert "".join(got) == "".join(deltas)


def test_normalize_request() -> None:
    assert p.normalize_request(MSG, {"max_tokens": 5}) == {"max_tokens": 5, "messages": MSG}
    merged = p.normalize_request({"messages": MSG, "max_tokens": 9}, {"max_tokens": 5})
    assert merged["max_tokens"] == 9
    with pytest.raises(TypeError, match="messages"):
        p.normalize_request({"max_tokens": 9}, {})


# --- the context window a server reports -------------------------------------------------------
@given(st.integers(1, 10**7), st.sampled_from(["vllm", "llama"]), st.booleans())
def test_context_window_from_models(window: int, kind: str, other_first: bool) -> None:
    entry: dict[str, Any] = {"id": "m"}
    if kind == "vllm":
        entry["max_model_len"] = window
    else:
        entry["meta"] = {"n_ctx": window}
    others = [{"id": "other", "max_model_len": 7}]
    data = [*others, entry] if other_first else [entry, *others]
    assert p.context_window_from_models({"data": data}, "m") == window
    assert p.context_window_from_models({"data": [entry]}, "unknown-id") == window


@pytest.mark.parametrize(
    "payload", [{}, {"data": "x"}, {"data": [{"id": "m", "max_model_len": 0}]}, [], None]
)
def test_context_window_absent_or_bad_is_none(payload: Any) -> None:
    assert p.context_window_from_models(payload, "m") is None
    assert p.context_window_from_props(payload) is None
    assert p.context_window_from_props({"default_generation_settings": {"n_ctx": 4096}}) == 4096
