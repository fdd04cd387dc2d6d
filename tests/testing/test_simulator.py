"""NIMSimulator over real sockets with plain httpx: endpoints, faults, recording, lifecycle."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest

from fieldkit.testing import Fault, NIMSimulator

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 20}


@pytest.fixture
def http(simulator: NIMSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=simulator.base_url, timeout=5.0) as c:
        yield c


def test_base_url_and_models(simulator: NIMSimulator, http: httpx.Client) -> None:
    assert simulator.base_url == f"http://127.0.0.1:{simulator.port}/v1"
    body = http.get("/models").json()
    assert [m["id"] for m in body["data"]] == ["meta/llama-3.1-8b-instruct"]
    assert http.get("/health/ready").status_code == 200


def test_chat_completion_shape(http: httpx.Client) -> None:
    body = http.post("/chat/completions", json=CHAT).json()
    assert body["object"] == "chat.completion" and body["model"] == "m"
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Simulated reply to: hi",
    }
    assert body["usage"]["prompt_tokens"] == 5


def test_set_chat_reply_and_reset(simulator: NIMSimulator, http: httpx.Client) -> None:
    simulator.set_chat_reply("fixed")
    assert http.post("/chat/completions", json=CHAT).json()["choices"][0]["message"]["content"] == (
        "fixed"
    )
    simulator.set_chat_reply(lambda req: str(len(req["messages"])))
    assert http.post("/chat/completions", json=CHAT).json()["choices"][0]["message"]["content"] == (
        "1"
    )
    simulator.enqueue(503)
    simulator.reset()
    assert simulator.requests == [] and simulator.pending_faults == 0
    reply = http.post("/chat/completions", json=CHAT).json()["choices"][0]["message"]["content"]
    assert reply == "Simulated reply to: hi"
    with pytest.raises(TypeError):
        simulator.set_chat_reply(3)  # type: ignore[arg-type]


def test_streaming_sse(simulator: NIMSimulator, http: httpx.Client) -> None:
    simulator.set_chat_reply("a b")
    with http.stream("POST", "/chat/completions", json={**CHAT, "stream": True}) as r:
        assert r.headers["content-type"] == "text/event-stream"
        lines = [line for line in r.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    events = [json.loads(line[6:]) for line in lines[:-1]]
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events) == "a b"


def test_embeddings_and_ranking(http: httpx.Client) -> None:
    data = http.post("/embeddings", json={"input": ["x", "y"], "model": "e"}).json()["data"]
    assert [len(d["embedding"]) for d in data] == [384, 384]
    rank = http.post(
        "/ranking",
        json={"model": "r", "query": {"text": "y"}, "passages": [{"text": "x"}, {"text": "y"}]},
    ).json()
    assert rank["rankings"][0]["index"] == 1


def test_requests_are_recorded(simulator: NIMSimulator, http: httpx.Client) -> None:
    http.post("/embeddings?x=1", json={"input": "q"}, headers={"Authorization": "Bearer z"})
    (req,) = simulator.requests
    assert (req.method, req.path, req.query) == ("POST", "/v1/embeddings", "x=1")
    assert req.headers["authorization"] == "Bearer z"
    assert req.json == {"input": "q"}
    assert simulator.requests_to("/embeddings") == [req]


def test_error_routes(http: httpx.Client) -> None:
    assert http.get("/nope").status_code == 404
    assert http.get("/chat/completions").status_code == 405
    bad = http.post("/chat/completions", content=b"{not json")
    assert bad.status_code == 400 and bad.json()["object"] == "error"


def test_context_window_400(http: httpx.Client) -> None:
    big = {"messages": [{"role": "user", "content": "x" * 40_000}], "max_tokens": 10}
    r = http.post("/chat/completions", json=big)
    assert r.status_code == 400
    assert "maximum context length is 8192 tokens" in r.json()["message"]


def test_fault_script_in_order(simulator: NIMSimulator, http: httpx.Client) -> None:
    simulator.enqueue(503, Fault(status=429, headers={"Retry-After": "3"}, body="slow"))
    first = http.get("/models")
    second = http.get("/models")
    assert first.status_code == 503 and first.json()["code"] == 503
    assert (second.status_code, second.headers["retry-after"], second.text) == (429, "3", "slow")
    assert http.get("/models").status_code == 200


def test_fault_path_filter(simulator: NIMSimulator, http: httpx.Client) -> None:
    simulator.enqueue(Fault(status=500, path="/embeddings"))
    assert http.get("/models").status_code == 200
    assert http.post("/embeddings", json={"input": "a"}).status_code == 500
    assert simulator.pending_faults == 0


@pytest.mark.parametrize("drop", ["before_response", "mid_body"])
def test_connection_drops(drop: str, simulator: NIMSimulator, http: httpx.Client) -> None:
    simulator.enqueue(Fault(drop=drop))  # type: ignore[arg-type]
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        http.post("/chat/completions", json=CHAT)
    assert http.post("/chat/completions", json=CHAT).status_code == 200


def test_broken_stream(simulator: NIMSimulator, http: httpx.Client) -> None:
    simulator.enqueue(Fault(drop="mid_stream", after_chunks=2))
    got: list[str] = []
    with (
        pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)),
        http.stream("POST", "/chat/completions", json={**CHAT, "stream": True}) as r,
    ):
        got.extend(line for line in r.iter_lines() if line)
    assert len(got) == 2 and "[DONE]" not in got[-1]


def test_delay_fault_drives_client_timeouts(simulator: NIMSimulator, http: httpx.Client) -> None:
    simulator.enqueue(Fault(delay_s=0.5))
    with pytest.raises(httpx.ReadTimeout):
        http.get("/models", timeout=0.1)


def test_bad_faults_and_enqueue_items() -> None:
    with pytest.raises(ValueError):
        Fault(status=99)
    with pytest.raises(ValueError):
        Fault(drop="sideways")  # type: ignore[arg-type]
    with NIMSimulator() as sim, pytest.raises(TypeError):
        sim.enqueue("503")  # type: ignore[arg-type]


def test_api_key_and_cold_start(simulator_factory: Callable[..., NIMSimulator]) -> None:
    sim = simulator_factory(api_key="secret", cold_start_s=60)
    with httpx.Client(base_url=sim.base_url) as http:
        assert http.get("/models").status_code == 503
        sim.cold_start(0)
        assert http.get("/models").status_code == 401
        ok = http.get("/models", headers={"Authorization": "Bearer secret"})
        assert ok.status_code == 200


def test_lifecycle(simulator_factory: Callable[..., NIMSimulator]) -> None:
    sim = NIMSimulator(embed_dim=8)
    assert "stopped" in repr(sim)
    with pytest.raises(RuntimeError, match="not running"):
        _ = sim.base_url
    with sim:
        url = sim.base_url
        with httpx.Client() as http:
            assert http.get(url + "/models").status_code == 200
            sim.stop()
            sim.stop()  # idempotent
            with pytest.raises(httpx.TransportError):
                http.get(url + "/models", timeout=1.0)


def test_constructor_validation() -> None:
    for kwargs in ({"embed_dim": 0}, {"context_window": 0}, {"latency_s": -1.0}):
        with pytest.raises(ValueError):
            NIMSimulator(**kwargs)


def test_failing_reply_function_answers_500(simulator: NIMSimulator, http: httpx.Client) -> None:
    def broken(request: dict[str, object]) -> str:
        raise KeyError("oops")

    simulator.set_chat_reply(broken)
    r = http.post("/chat/completions", json=CHAT)
    assert r.status_code == 500
    assert "KeyError" in r.json()["message"]
    simulator.set_chat_reply(lambda request: 42)  # type: ignore[arg-type,return-value]
    assert http.post("/chat/completions", json=CHAT).status_code == 500
