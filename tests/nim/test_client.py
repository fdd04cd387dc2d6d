"""NIMClient against the loopback simulator over real sockets (0.3.0 surface + beyond)."""

from __future__ import annotations

import email.utils
import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import fields
from typing import Any

import httpx
import pytest

import fieldkit.nim as nim
from fieldkit.nim import (
    NIM_CONTEXT_WINDOW,
    NIMClient,
    NIMContextOverflowError,
    NIMError,
    NIMHTTPError,
    NIMResponseError,
    NIMStreamError,
    NIMTimeoutError,
    chunk_text,
)
from fieldkit.testing import Fault, NIMSimulator

from .conftest import FAST, MODEL

USER = [{"role": "user", "content": "hello"}]


def test_public_names() -> None:
    expected = {
        "NIM_CONTEXT_WINDOW",
        "DEFAULT_CHUNK_TOKENS",
        "NIMClient",
        "NIMError",
        "NIMHTTPError",
        "NIMTimeoutError",
        "NIMContextOverflowError",
        "ChatMessage",
        "chunk_text",
        "estimate_tokens",
        "wait_for_warm",
    }
    assert expected <= set(nim.__all__)
    assert NIM_CONTEXT_WINDOW == 8192
    assert nim.ChatMessage == dict[str, Any]


def test_constructor_shape_and_defaults() -> None:
    c = NIMClient("http://127.0.0.1:9/v1///", MODEL)
    try:
        assert c.base_url == "http://127.0.0.1:9/v1"
        assert (c.api_key, c.timeout, c.max_retries) == ("local", 60.0, 4)
        assert [f.name for f in fields(c)][:5] == [
            "base_url",
            "model",
            "api_key",
            "timeout",
            "max_retries",
        ]
        assert isinstance(c._client, httpx.Client)
        assert c._client.headers["authorization"] == "Bearer local"
        assert c.chunk is chunk_text or c.chunk("a b") == ["a b"]
    finally:
        c.close()


def test_secrets_never_in_repr() -> None:
    with NIMClient("http://user:pw@127.0.0.1:9/v1", MODEL, api_key="sk-SECRET") as c:
        text = repr(c)
        assert "sk-SECRET" not in text and "pw" not in text
        assert MODEL in text
        assert hash(c) == hash(c)  # usable as a dict key / in sets


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        NIMClient("http://127.0.0.1:9/v1", MODEL, max_retries=-1)
    with pytest.raises(ValueError, match="timeout"):
        NIMClient("http://127.0.0.1:9/v1", MODEL, timeout=0)
    with pytest.raises(ValueError, match="base_url"):
        NIMClient("", MODEL)


def test_chat_success_returns_parsed_body(client: NIMClient, simulator: NIMSimulator) -> None:
    out = client.chat(USER, temperature=0.5)
    assert out["choices"][0]["message"]["content"] == "Simulated reply to: hello"
    assert out["object"] == "chat.completion"
    (req,) = simulator.requests
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == "Bearer local"
    sent = req.body.decode().replace(" ", "")
    assert '"temperature":0.5' in sent
    assert '"model":"meta/llama-3.1-8b-instruct"' in sent
    assert list(req.json) == ["model", "messages", "max_tokens", "temperature"]
    assert req.json["max_tokens"] == 512


def test_chat_extras_model_override_and_custom_reply(
    client: NIMClient, simulator: NIMSimulator
) -> None:
    simulator.set_chat_reply(lambda body: f"top_p={body['top_p']}")
    out = client.chat(USER, top_p=0.9, stop=["\n"], model="other/model")
    assert out["choices"][0]["message"]["content"] == "top_p=0.9"
    body = simulator.requests[-1].json
    assert body["model"] == "other/model" and body["stop"] == ["\n"]


def test_preflight_overflow_makes_no_request(client: NIMClient, simulator: NIMSimulator) -> None:
    with pytest.raises(NIMContextOverflowError) as info:
        client.chat([{"role": "user", "content": "x" * 40_960}], max_tokens=512)
    assert info.value.estimated_tokens > 8192
    assert info.value.ceiling == 8192
    # Only the window discovery (GET /models) and a /tokenize probe; no chat request.
    assert simulator.requests_to("/chat/completions") == []


def test_preflight_is_configurable(simulator: NIMSimulator) -> None:
    big = [{"role": "user", "content": "x" * 40_000}]
    # With the preflight off, the server's own context check still answers (400).
    with (
        NIMClient(simulator.base_url, MODEL, context_window=None) as unlimited,
        pytest.raises(NIMContextOverflowError),
    ):
        unlimited.chat(big, max_tokens=10)
    assert len(simulator.requests) == 1
    with (
        NIMClient(simulator.base_url, MODEL, context_window=100) as small,
        pytest.raises(NIMContextOverflowError) as info,
    ):
        small.chat([{"role": "user", "content": "y" * 200}], max_tokens=60)
    assert info.value.ceiling == 100
    assert len(simulator.requests_to("/chat/completions")) == 1


def test_server_context_400_is_overflow_and_http_error(simulator: NIMSimulator) -> None:
    # The server counts one token per character (as for CJK text); our 4-chars estimate passes.
    simulator.token_counter = len
    try:
        with NIMClient(simulator.base_url, MODEL, **FAST) as c, pytest.raises(NIMHTTPError) as info:
            c.chat([{"role": "user", "content": "語" * 9000}], max_tokens=10)
        assert isinstance(info.value, NIMContextOverflowError)
        assert info.value.status_code == 400
        assert info.value.ceiling == 8192 and info.value.estimated_tokens == 9014
        assert len(simulator.requests_to("/chat/completions")) == 1  # 400 is never retried
        # A tokenizer-accurate counter catches it before the network.
        with (
            NIMClient(simulator.base_url, MODEL, token_counter=len) as exact,
            pytest.raises(NIMContextOverflowError),
        ):
            exact.chat([{"role": "user", "content": "語" * 9000}], max_tokens=10)
        assert len(simulator.requests_to("/chat/completions")) == 1
    finally:
        simulator.token_counter = nim.estimate_tokens


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_status_then_success(
    status: int, client: NIMClient, simulator: NIMSimulator
) -> None:
    simulator.enqueue(status)
    assert client.chat(USER)["choices"][0]["message"]["content"]
    assert len(simulator.requests) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_not_retried(
    status: int, client: NIMClient, simulator: NIMSimulator
) -> None:
    simulator.enqueue(Fault(status=status, body={"detail": f"nope {status}"}))
    with pytest.raises(NIMHTTPError) as info:
        client.chat(USER)
    assert info.value.status_code == status
    assert json.loads(info.value.body or "") == {"detail": f"nope {status}"}
    assert str(info.value).startswith(f"NIM {status}: ")
    assert len(simulator.requests) == 1


def test_constant_503_exhausts_with_status(client: NIMClient, simulator: NIMSimulator) -> None:
    simulator.enqueue(503, 503, 503, 503)
    with pytest.raises(NIMTimeoutError) as info:
        client.chat(USER)
    assert len(simulator.requests) == 3
    assert info.value.status_code == 503 and info.value.attempts == 3
    assert "after 3 attempts: NIM 503" in str(info.value)
    assert isinstance(info.value.__cause__, NIMError)
    assert simulator.pending_faults == 1


def test_rate_limit_exhaustion_says_429(client: NIMClient, simulator: NIMSimulator) -> None:
    simulator.enqueue(429, 503, 429)
    with pytest.raises(NIMTimeoutError) as info:
        client.chat(USER)
    assert info.value.status_code == 429


def test_retry_after_is_honoured(simulator: NIMSimulator) -> None:
    simulator.enqueue(Fault(status=429, headers={"Retry-After": "0.05"}), 503)
    with NIMClient(simulator.base_url, MODEL, max_retries=2, **FAST) as c:
        assert c.chat(USER)["choices"]
    assert len(simulator.requests) == 3
    first, second = simulator.requests[0], simulator.requests[1]
    assert second.received_at - first.received_at >= 0.05


def test_retry_after_http_date_is_honoured(simulator: NIMSimulator) -> None:
    # An HTTP date has one-second resolution: the next whole second + 1 is at least 1 s away.
    when = email.utils.formatdate(math.ceil(time.time()) + 1, usegmt=True)
    simulator.enqueue(Fault(status=503, headers={"Retry-After": when}))
    with NIMClient(simulator.base_url, MODEL, max_retries=1, **FAST) as c:
        assert c.chat(USER)["choices"]
    first, second = simulator.requests
    assert second.received_at - first.received_at >= 0.5  # zero backoff otherwise


def test_retry_after_ms_wins_and_is_re_read_each_attempt(
    simulator: NIMSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    simulator.enqueue(
        Fault(status=429, headers={"retry-after-ms": "70", "Retry-After": "30"}),
        Fault(status=503, headers={"Retry-After": "0.12"}),
        503,  # no hint this time: back to the (zero) backoff
    )
    with (
        caplog.at_level(logging.DEBUG, logger="fieldkit.nim"),
        NIMClient(simulator.base_url, MODEL, max_retries=3, **FAST) as c,
    ):
        assert c.chat(USER)["choices"]
    logs = [r.getMessage() for r in caplog.records if r.name == "fieldkit.nim"]
    waits = [m.split(" in ")[1].split("s:")[0] for m in logs]
    assert waits == ["0.07", "0.12", "0.00"]
    gaps = [
        b.received_at - a.received_at
        for a, b in zip(simulator.requests, simulator.requests[1:], strict=False)
    ]
    assert gaps[0] >= 0.07 and gaps[1] >= 0.12


def test_max_retries_zero_is_one_attempt(simulator: NIMSimulator) -> None:
    simulator.enqueue(503)
    with (
        NIMClient(simulator.base_url, MODEL, max_retries=0, **FAST) as c,
        pytest.raises(NIMTimeoutError, match="after 1 attempts"),
    ):
        c.chat(USER)
    assert len(simulator.requests) == 1


def test_connect_error_exhausts_without_status(dead_url: str) -> None:
    with (
        NIMClient(dead_url, MODEL, max_retries=1, timeout=1.0, **FAST) as c,
        pytest.raises(NIMTimeoutError) as info,
    ):
        c.chat(USER)
    assert info.value.status_code is None and info.value.attempts == 2
    assert "connect error" in str(info.value)
    assert isinstance(info.value.__cause__.__cause__, httpx.ConnectError)  # the last cause


def test_read_timeout_is_retried(client: NIMClient, simulator: NIMSimulator) -> None:
    simulator.enqueue(Fault(delay_s=2.0))
    out = client.chat(USER, timeout=0.5)  # per-call override of the client's 2 s
    assert out["choices"][0]["message"]["content"]
    assert len(simulator.requests) == 2


def test_timeout_exhaustion(simulator: NIMSimulator) -> None:
    simulator.enqueue(Fault(delay_s=0.6), Fault(delay_s=0.6))
    with (
        NIMClient(simulator.base_url, MODEL, max_retries=1, timeout=0.15, **FAST) as c,
        pytest.raises(NIMTimeoutError, match="timeout") as info,
    ):
        c.chat(USER)
    assert info.value.status_code is None


@pytest.mark.parametrize("drop", ["before_response", "mid_body"])
def test_dropped_connection_is_retried(
    drop: str, client: NIMClient, simulator: NIMSimulator
) -> None:
    simulator.enqueue(Fault(drop=drop))  # type: ignore[arg-type]
    assert client.chat(USER)["choices"][0]["message"]["content"]
    assert len(simulator.requests) == 2


def test_non_json_success_body(client: NIMClient, simulator: NIMSimulator) -> None:
    simulator.enqueue(Fault(status=200, body="<html>proxy page</html>"))
    with pytest.raises(NIMResponseError) as info:
        client.chat(USER)
    assert isinstance(info.value, ValueError)


def test_bad_arguments(client: NIMClient, simulator: NIMSimulator) -> None:
    with pytest.raises(ValueError, match="chat_stream"):
        client.chat(USER, stream=True)
    with pytest.raises(TypeError, match="messages"):
        client.chat("hello")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_tokens"):
        client.chat(USER, max_tokens=0)
    assert simulator.requests == []


def test_closed_client(simulator: NIMSimulator) -> None:
    c = NIMClient(simulator.base_url, MODEL)
    c.close()
    c.close()  # idempotent
    assert c._client is None
    for call in (lambda: c.chat(USER), c.health, lambda: c.embed(["a"]), c.models):
        with pytest.raises(NIMError, match="client closed"):
            call()


def test_context_manager_closes_and_propagates(simulator: NIMSimulator) -> None:
    with pytest.raises(RuntimeError, match="inside"), NIMClient(simulator.base_url, MODEL) as c:
        raise RuntimeError("inside")
    assert c._client is None


def test_health(client: NIMClient, simulator: NIMSimulator, dead_url: str) -> None:
    assert client.health() is True
    simulator.enqueue(503)
    assert client.health() is False
    with NIMClient(dead_url, MODEL) as dead:
        assert dead.health() is False


def test_models(client: NIMClient) -> None:
    assert client.models() == [MODEL]


def test_models_lists_every_served_model(
    simulator_factory: Callable[..., NIMSimulator],
) -> None:
    sim = simulator_factory(models=["a/one", "b/two"])
    with NIMClient(sim.base_url, "a/one") as c:
        assert c.models() == ["a/one", "b/two"]


def test_concurrent_use_from_threads(client: NIMClient, simulator: NIMSimulator) -> None:
    results: list[str] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        text = client.chat([{"role": "user", "content": f"t{i}"}])["choices"][0]["message"]
        with lock:
            results.append(text["content"])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == sorted(f"Simulated reply to: t{i}" for i in range(16))


def test_retry_logs_never_contain_the_api_key(
    simulator: NIMSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    simulator.enqueue(503)
    with (
        caplog.at_level(logging.DEBUG, logger="fieldkit.nim"),
        NIMClient(simulator.base_url, MODEL, api_key="sk-TOPSECRET", **FAST) as c,
    ):
        c.chat(USER)
    assert "retrying" in caplog.text
    assert "sk-TOPSECRET" not in caplog.text


# --- streaming ------------------------------------------------------------------------------
def test_chat_stream_yields_deltas(client: NIMClient, simulator: NIMSimulator) -> None:
    simulator.set_chat_reply("one two three")
    deltas = list(client.chat_stream(USER))
    assert deltas == ["one ", "two ", "three"]
    assert simulator.requests[0].json["stream"] is True


def test_chat_stream_retries_before_first_byte(client: NIMClient, simulator: NIMSimulator) -> None:
    simulator.set_chat_reply("a b")
    simulator.enqueue(503, Fault(drop="before_response"), Fault(drop="mid_stream", after_chunks=0))
    with NIMClient(simulator.base_url, MODEL, max_retries=3, **FAST) as c:
        assert "".join(c.chat_stream(USER)) == "a b"
    assert len(simulator.requests) == 4


def test_chat_stream_break_after_text_raises(client: NIMClient, simulator: NIMSimulator) -> None:
    simulator.set_chat_reply("alpha beta gamma delta")
    simulator.enqueue(Fault(drop="mid_stream", after_chunks=3))  # role chunk + 2 deltas
    got: list[str] = []
    with pytest.raises(NIMStreamError) as info:
        for delta in client.chat_stream(USER):
            got.append(delta)
    assert got == ["alpha ", "beta "]
    assert info.value.received == 2
    assert len(simulator.requests) == 1


def test_chat_stream_preflight_and_4xx(client: NIMClient, simulator: NIMSimulator) -> None:
    with pytest.raises(NIMContextOverflowError):
        client.chat_stream([{"role": "user", "content": "x" * 40_000}])
    simulator.enqueue(Fault(status=401, path="/chat/completions"))
    with pytest.raises(NIMHTTPError) as info:
        list(client.chat_stream(USER))
    assert info.value.status_code == 401
    assert len(simulator.requests_to("/chat/completions")) == 1


def test_chat_stream_early_exit_releases_connection(
    client: NIMClient, simulator: NIMSimulator
) -> None:
    simulator.set_chat_reply("a b c d e f")
    stream = client.chat_stream(USER)
    assert next(iter(stream)) == "a "
    stream.close()
    stream.close()  # idempotent
    assert list(stream) == []
    assert client.chat(USER)["choices"]


def test_chat_stream_context_manager_frees_the_only_connection(simulator: NIMSimulator) -> None:
    simulator.set_chat_reply("a b c d e f")
    own = httpx.Client(
        base_url=simulator.base_url,
        limits=httpx.Limits(max_connections=1),
        timeout=httpx.Timeout(2.0, pool=0.5),
    )
    with NIMClient(simulator.base_url, MODEL, _client=own) as c:
        with c.chat_stream(USER) as stream:
            for delta in stream:
                assert delta == "a "
                break
        kept = stream  # still referenced: only close() can have released the connection
        assert c.chat(USER)["choices"]  # would be a pool timeout if the stream still held it
        assert kept is stream


# --- chat_many --------------------------------------------------------------------------------
def test_chat_many_keeps_order_and_per_item_errors(
    client: NIMClient, simulator: NIMSimulator
) -> None:
    requests: list[object] = [[{"role": "user", "content": f"q{i}"}] for i in range(12)]
    requests.insert(5, [{"role": "user", "content": "x" * 40_000}])
    requests.insert(8, {"messages": USER, "max_tokens": 0})
    out = client.chat_many(requests, concurrency=4, max_tokens=32)  # type: ignore[arg-type]
    assert len(out) == 14
    assert isinstance(out[5], NIMContextOverflowError)
    assert isinstance(out[8], ValueError)
    answers = [r for r in out if isinstance(r, dict)]
    assert [a["choices"][0]["message"]["content"] for a in answers] == [
        f"Simulated reply to: q{i}" for i in range(12)
    ]
    assert all(r.json["max_tokens"] == 32 for r in simulator.requests_to("/chat/completions"))
    assert simulator.peak_concurrency <= 4


def test_chat_many_bounds_concurrency(simulator: NIMSimulator) -> None:
    simulator.latency_s = 0.05
    with NIMClient(simulator.base_url, MODEL) as c:
        out = c.chat_many([USER] * 12, concurrency=3)
    assert all(isinstance(r, dict) for r in out)
    assert 1 <= simulator.peak_concurrency <= 3
    with pytest.raises(ValueError, match="concurrency"):
        c.chat_many([USER], concurrency=0)


def test_chat_many_empty(client: NIMClient) -> None:
    assert client.chat_many([]) == []


# --- embeddings / rerank ----------------------------------------------------------------------
def test_embed_shapes_batches_and_determinism(client: NIMClient, simulator: NIMSimulator) -> None:
    texts = [f"document number {i}" for i in range(5)]
    vectors = client.embed(texts, batch_size=2, dimensions=16)
    assert len(vectors) == 5 and all(len(v) == 16 for v in vectors)
    assert all(abs(sum(x * x for x in v) - 1.0) < 1e-9 for v in vectors)
    reqs = simulator.requests_to("/embeddings")
    assert [len(r.json["input"]) for r in reqs] == [2, 2, 1]
    assert reqs[0].json == {
        "model": MODEL,
        "input": texts[:2],
        "input_type": "passage",
        "encoding_format": "float",
        "truncate": "END",
        "dimensions": 16,
    }
    again = client.embed(texts[3], input_type="query", dimensions=16)
    assert again == [vectors[3]]
    assert simulator.requests[-1].json["input_type"] == "query"


def test_embed_retries_and_errors(client: NIMClient, simulator: NIMSimulator) -> None:
    simulator.enqueue(503)
    assert len(client.embed(["a"])) == 1
    assert len(simulator.requests) == 2
    simulator.enqueue(400)
    with pytest.raises(NIMHTTPError):
        client.embed(["a"])
    assert client.embed([]) == []
    with pytest.raises(ValueError, match="input_type"):
        client.embed(["a"], input_type="document")
    with pytest.raises(TypeError):
        client.embed([1, 2])  # type: ignore[list-item]


def test_embed_model_default(simulator: NIMSimulator) -> None:
    with NIMClient(simulator.base_url, MODEL, embed_model="nvidia/embed") as c:
        c.embed(["x"])
    assert simulator.requests[-1].json["model"] == "nvidia/embed"


def test_rerank_sorted_rankings(client: NIMClient, simulator: NIMSimulator) -> None:
    passages = ["dogs bark loudly", "cats purr softly", "the cat sat on the mat"]
    ranked = client.rerank("cats purr", passages)
    assert ranked[0]["index"] == 1
    logits = [r["logit"] for r in ranked]
    assert logits == sorted(logits, reverse=True)
    assert sorted(r["index"] for r in ranked) == [0, 1, 2]
    req = simulator.requests[-1]
    assert req.path == "/v1/ranking"
    assert req.json == {
        "model": MODEL,
        "query": {"text": "cats purr"},
        "passages": [{"text": p} for p in passages],
    }


def test_rerank_batches_top_n_and_url(client: NIMClient, simulator: NIMSimulator) -> None:
    passages = [f"passage {i} about topic {i % 3}" for i in range(7)]
    whole = client.rerank("topic 1", passages)
    batched = client.rerank("topic 1", [{"text": p} for p in passages], batch_size=3, top_n=4)
    assert batched == whole[:4]
    assert [len(r.json["passages"]) for r in simulator.requests[1:]] == [3, 3, 1]
    client.rerank("q", ["a"], url=simulator.base_url + "/retrieval/x/reranking")
    assert simulator.requests[-1].path == "/v1/retrieval/x/reranking"
    assert client.rerank("q", []) == []


def test_keep_alive_reuses_one_connection(simulator: NIMSimulator) -> None:
    with NIMClient(simulator.base_url, MODEL) as c:
        for i in range(5):
            c.chat([{"role": "user", "content": f"q{i}"}])
        c.embed(["a"])
        c.models()
    assert len(simulator.requests) == 7
    assert simulator.connections_opened == 1


def test_preflight_reserves_max_tokens_unless_told_not_to(simulator: NIMSimulator) -> None:
    prompt = [{"role": "user", "content": "y" * 200}]  # 50 + 4 tokens
    with NIMClient(simulator.base_url, MODEL, context_window=100) as c:
        with pytest.raises(NIMContextOverflowError) as info:
            c.chat(prompt, max_tokens=60)
        assert info.value.estimated_tokens == 114
        assert simulator.requests_to("/chat/completions") == []
    with NIMClient(simulator.base_url, MODEL, context_window=100, reserve_completion=False) as c:
        assert c.chat(prompt, max_tokens=60)["choices"]
    assert len(simulator.requests_to("/chat/completions")) == 1


def test_rerank_and_models_are_retried(client: NIMClient, simulator: NIMSimulator) -> None:
    simulator.enqueue(Fault(status=502, path="/ranking"), Fault(drop="mid_body", path="/models"))
    assert [r["index"] for r in client.rerank("cats", ["dogs", "cats"])] == [1, 0]
    assert client.models() == [MODEL]
    assert [r.path for r in simulator.requests] == ["/v1/ranking"] * 2 + ["/v1/models"] * 2
