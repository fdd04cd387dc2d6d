"""The simulator's pure answer rules: embeddings, rankings, chat bodies, the context check."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldkit.testing import _behaviour as b


@given(st.text(max_size=200), st.integers(min_value=1, max_value=512))
@settings(max_examples=200, deadline=None)
def test_embeddings_are_deterministic_unit_vectors(text: str, dim: int) -> None:
    vec = b.embed_text(text, dim)
    assert len(vec) == dim
    assert math.isclose(sum(x * x for x in vec), 1.0, rel_tol=1e-9)
    assert b.embed_text(text, dim) == vec


def test_similar_texts_are_nearer_than_unrelated_ones() -> None:
    base = b.embed_text("the cat sat on the warm mat", 384)
    near = b.embed_text("the cat sat on the mat", 384)
    far = b.embed_text("quarterly revenue grew by nine percent", 384)
    assert b.cosine(base, near) > 0.8
    assert b.cosine(base, far) < 0.3
    assert b.cosine(base, near) > b.cosine(base, far)


def test_known_vector_is_stable_across_processes() -> None:
    # Pinned so users' stored fixtures keep matching between fieldkit versions.
    assert [round(x, 6) for x in b.embed_text("hello", 4)] == [
        round(x, 6) for x in b.embed_text("HELLO", 4)
    ]
    assert b.embed_text("", 8) == b.embed_text("", 8)


def test_embeddings_response_shape_and_validation() -> None:
    out = b.embeddings_response({"input": ["a", "b"], "dimensions": 8}, "m", 384)
    assert out["object"] == "list" and out["model"] == "m"
    assert [d["index"] for d in out["data"]] == [0, 1]
    assert all(len(d["embedding"]) == 8 for d in out["data"])
    assert len(b.embeddings_response({"input": "one"}, "m", 16)["data"][0]["embedding"]) == 16
    bads: list[object] = [{"input": []}, {"input": [1]}, {}, {"input": ["a"], "dimensions": 0}, []]
    for bad in bads:
        with pytest.raises(b.BadRequest):
            b.embeddings_response(bad, "m", 8)


def test_ranking_is_sorted_and_complete() -> None:
    out = b.ranking_response(
        {
            "query": {"text": "red apples"},
            "passages": [{"text": "blue sky"}, {"text": "red apples"}],
        }
    )
    assert [r["index"] for r in out["rankings"]] == [1, 0]
    assert out["rankings"][0]["logit"] == pytest.approx(10.0)
    with pytest.raises(b.BadRequest):
        b.ranking_response({"query": {"text": "q"}, "passages": []})
    with pytest.raises(b.BadRequest):
        b.ranking_response({"query": 3, "passages": ["a"]})


def test_context_check_matches_the_nim_400() -> None:
    msgs = [{"role": "user", "content": "x" * 400}]
    assert b.check_chat_request({"messages": msgs, "max_tokens": 10}, 200) == (104, 10)
    with pytest.raises(b.BadRequest) as info:
        b.check_chat_request({"messages": msgs, "max_tokens": 100}, 200)
    assert "maximum context length is 200 tokens" in str(info.value)
    assert "requested 204 tokens (104 in the messages, 100 in the completion)" in str(info.value)
    bad_requests: list[dict[str, object]] = [
        {"messages": []},
        {"messages": msgs, "max_tokens": 0},
        {"messages": ["x"]},
    ]
    for bad in bad_requests:
        with pytest.raises(b.BadRequest):
            b.check_chat_request(bad, 200)


def test_chat_response_truncates_to_max_tokens() -> None:
    body = {"messages": [{"role": "user", "content": "q"}]}
    out = b.chat_response(body, "x" * 100, b.ReplyFacts("m", 5, 3, 1))
    choice = out["choices"][0]
    assert choice["message"]["content"] == "x" * 12 and choice["finish_reason"] == "length"
    assert out["usage"] == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}


@given(st.text(max_size=200))
@settings(max_examples=100, deadline=None)
def test_stream_deltas_reassemble_the_reply(text: str) -> None:
    assert "".join(b.split_deltas(text)) == text
    events = list(b.stream_events({}, text, b.ReplyFacts("m", 1, 10_000, 1)))
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert events[-1]["choices"][0]["finish_reason"] == "stop"
    joined = "".join(e["choices"][0]["delta"].get("content", "") for e in events)
    assert joined == text


def test_stream_usage_when_asked() -> None:
    body = {"stream_options": {"include_usage": True}}
    events = list(b.stream_events(body, "hi", b.ReplyFacts("m", 3, 9, 2)))
    assert events[-1]["choices"] == [] and events[-1]["usage"]["prompt_tokens"] == 3


def test_default_reply_echoes_last_user_message() -> None:
    body = {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": " b  c "}]}
    assert b.default_reply(body) == "Simulated reply to: b c"


def test_timed_stream_events_script_the_timing() -> None:
    from fieldkit.testing._behaviour import TokenTiming, timed_stream_events

    body = {"model": "m", "messages": [], "stream_options": {"include_usage": True}}
    events = timed_stream_events(body, TokenTiming(0.5, 0.1, 3), b.ReplyFacts("m", 7, 16, 1))
    waits = [w for w, _ in events]
    assert waits == [0.0, 0.5, 0.1, 0.1, 0.0, 0.0]
    assert events[0][1]["choices"][0]["delta"] == {"role": "assistant"}
    assert [e["choices"][0]["delta"].get("content") for _, e in events[1:4]] == ["tok "] * 3
    assert events[-1][1]["usage"] == {
        "prompt_tokens": 7,
        "completion_tokens": 3,
        "total_tokens": 10,
    }
    no_usage = timed_stream_events({"model": "m"}, TokenTiming(), b.ReplyFacts("m", 1, 2, 2))
    assert len(no_usage) == 1 + 2 + 1  # role, max_tokens content chunks, finish
    with pytest.raises(ValueError):
        TokenTiming(-1.0)
    with pytest.raises(ValueError):
        TokenTiming(tokens=0)
