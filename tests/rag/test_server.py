"""RagServer over real loopback sockets, the embedded Postgres and a simulated chat server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fieldkit._rag_client import RagClient, RagClientError
from fieldkit._rag_discovery import (
    RagServerInfo,
    discovery_path,
    find_chat_server,
    find_rag_server,
    write_discovery,
)
from fieldkit.nim import NIMClient
from fieldkit.rag import Pipeline, RagServer
from fieldkit.testing import NIMSimulator


class _HashEmbedder:
    name = "test:hash-32"
    dim = 32

    def embed(self, texts: Sequence[str], *, input_type: str = "passage") -> np.ndarray:
        out = np.zeros((len(texts), 32), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, sum(map(ord, w)) % 32] += 1.0
        out[:, 0] += 1e-3
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def close(self) -> None:
        pass


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FIELDKIT_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def docs_pipe(pg_dsn: str, pg_table: str, tmp_path: Path) -> Iterator[Pipeline]:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "spark.md").write_text(
        "# Spark\n\n## Memory\n\nThe DGX Spark has 128 GB of unified memory.\n", encoding="utf-8"
    )
    (docs / "idx.html").write_text(
        '<html><body><div id="sql-createindex"><h2>CREATE INDEX</h2>'
        "<p>CREATE INDEX builds an index on a table column.</p></div></body></html>",
        encoding="utf-8",
    )
    with Pipeline(pgvector_dsn=pg_dsn, table=pg_table, embedder=_HashEmbedder()) as pipe:
        pipe.ingest_paths([docs], progress=False)
        yield pipe


def _post(url: str, body: dict[str, Any]) -> tuple[int, bytes]:
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _events(raw: bytes) -> list[Any]:
    out = []
    for line in raw.decode().splitlines():
        if line.startswith("data: "):
            data = line[6:]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


@pytest.fixture
def served(
    docs_pipe: Pipeline, simulator: NIMSimulator, home: Path
) -> Iterator[Callable[..., RagServer]]:
    started: list[RagServer] = []

    def start(*, generator: bool = True, publish: bool = False) -> RagServer:
        if generator:
            docs_pipe.generator = NIMClient(simulator.base_url, "sim-model", max_retries=0)
        server = RagServer(docs_pipe, k=2, publish=publish)
        server.warm()
        started.append(server.start())
        return server

    yield start
    for s in started:
        s.stop()
    if docs_pipe.generator is not None:
        docs_pipe.generator.close()


def test_search_and_ask_answer_with_citations_that_open(
    served: Callable[..., RagServer], simulator: NIMSimulator
) -> None:
    server = served()
    client = RagClient(server.url, timeout=30)
    found = client.search("unified memory", k=2, mode="lexical")
    top = found["results"][0]["source"]
    assert top["path"].endswith("spark.md") and top["line"] == 5
    assert top["uri"].startswith("file:///") and top["uri"].endswith("spark.md#L5")

    out = client.ask("What builds an index?", mode="lexical")
    assert out["generator"] == "sim-model" and out["answer"]
    cite = out["citations"][0]["source"]
    assert cite["anchor"] == "sql-createindex" and cite["uri"].endswith("idx.html#sql-createindex")
    assert (
        "CREATE INDEX builds" in json.loads(simulator.requests[-1].body)["messages"][-1]["content"]
    )

    events = list(client.ask_stream("What builds an index?", mode="lexical"))
    deltas = [e["delta"] for e in events if "delta" in e]
    assert len(deltas) > 1 and "".join(deltas).strip() == events[-1]["answer"]
    assert events[-1]["citations"][0]["id"] == out["citations"][0]["id"]


def test_openai_chat_completions_plain_and_streamed(served: Callable[..., RagServer]) -> None:
    server = served()
    with urllib.request.urlopen(server.url + "/v1/models", timeout=10) as resp:
        model = json.loads(resp.read())["data"][0]["id"]
    assert model == server.model_id
    body = {"model": model, "messages": [{"role": "user", "content": "What builds an index?"}]}
    status, raw = _post(server.url + "/v1/chat/completions", body)
    assert status == 200
    reply = json.loads(raw)
    content = reply["choices"][0]["message"]["content"]
    assert reply["object"] == "chat.completion" and "\n\nSources:\n[1] " in content
    assert "idx.html#sql-createindex" in content and reply["citations"]

    status, raw = _post(server.url + "/v1/chat/completions", {**body, "stream": True})
    events = _events(raw)
    assert status == 200 and events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text.split() == content.split()
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["citations"]

    # any OpenAI-compatible client works: our own NIMClient against the rag server
    with NIMClient(server.url + "/v1", model, max_retries=0) as chat:
        answer = chat.chat([{"role": "user", "content": "unified memory?"}], max_tokens=32)
    assert "Sources:" in answer["choices"][0]["message"]["content"]


def test_openai_nulls_mean_not_set_and_max_completion_tokens_counts(
    served: Callable[..., RagServer], simulator: NIMSimulator
) -> None:
    server = served()
    body = {
        "model": server.model_id,
        "messages": [{"role": "user", "content": "What builds an index?"}],
        "max_tokens": None,
        "max_completion_tokens": 17,
        "stream": False,
        "mode": None,
    }
    status, raw = _post(server.url + "/v1/chat/completions", body)
    assert status == 200, raw
    assert "Sources:" in json.loads(raw)["choices"][0]["message"]["content"]
    sent = simulator.requests_to("/chat/completions")[-1].json
    assert sent["max_tokens"] == 17
    status, raw = _post(server.url + "/ask", {"question": "index?", "k": None, "max_tokens": 9})
    assert status == 200 and len(json.loads(raw)["citations"]) == server.k
    assert simulator.requests_to("/chat/completions")[-1].json["max_tokens"] == 9


def test_loopback_calls_ignore_an_http_proxy(
    served: Callable[..., RagServer], simulator: NIMSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = served(generator=False, publish=True)
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")  # nothing listens there
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    found = find_rag_server(None)
    assert found is not None and found.url == server.url
    hits = RagClient(server.url, timeout=10).search("unified memory", k=1)["results"]
    assert [Path(h["source"]["path"]).name for h in hits] == ["spark.md"]
    assert find_chat_server(simulator.base_url) == (
        simulator.base_url,
        "meta/llama-3.1-8b-instruct",
    )


def test_bad_requests_are_400_naming_the_problem(served: Callable[..., RagServer]) -> None:
    server = served(generator=False)
    status, raw = _post(server.url + "/search", {"query": ""})
    assert status == 400 and "query" in json.loads(raw)["error"]["message"]
    status, raw = _post(server.url + "/search", {"query": "x", "k": 0})
    assert status == 400 and "k must be" in json.loads(raw)["error"]["message"]
    status, raw = _post(server.url + "/ask", {"question": "x", "mode": "fuzzy"})
    assert status == 400 and "mode" in json.loads(raw)["error"]["message"]
    status, raw = _post(server.url + "/v1/chat/completions", {"messages": []})
    assert status == 400 and "messages" in json.loads(raw)["error"]["message"]
    status, _ = _post(server.url + "/nope", {})
    assert status == 404
    with pytest.raises(RagClientError, match="question"):
        RagClient(server.url, timeout=10).ask("  ")
    # without a generator: passages and a note, no answer
    out = RagClient(server.url, timeout=10).ask("unified memory")
    assert out["answer"] is None and out["citations"] and "no generator" in out["note"]


def test_discovery_file_published_found_and_removed(
    served: Callable[..., RagServer], home: Path
) -> None:
    server = served(generator=False, publish=True)
    info = find_rag_server(None)
    assert info is not None and info.url == server.url and info.pid == os.getpid()
    assert find_rag_server("postgresql://other/db") is None  # another database: not used
    server.stop()
    assert not discovery_path().exists() and find_rag_server(None) is None


def test_a_stale_discovery_file_is_removed(home: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    write_discovery(RagServerInfo(int(dead.stdout), "http://127.0.0.1:9", "embedded", "t", None))
    assert discovery_path().exists()
    assert find_rag_server(None) is None
    assert not discovery_path().exists()


def test_a_live_pid_that_does_not_answer_is_not_used(home: Path) -> None:
    write_discovery(RagServerInfo(os.getpid(), "http://127.0.0.1:9", "embedded", "t", None))
    assert find_rag_server(None, timeout=0.5) is None
    assert discovery_path().exists()  # not ours to remove: the pid is alive


def test_find_chat_server(simulator: NIMSimulator) -> None:
    found = find_chat_server(simulator.base_url)
    assert found is not None and found[0] == simulator.base_url
    assert find_chat_server("http://127.0.0.1:9/v1", timeout=0.5) is None


def test_timings_cover_retrieval_and_generation(served: Callable[..., RagServer]) -> None:
    server = served()
    out = RagClient(server.url, timeout=30).ask("unified memory", mode="lexical")
    t = out["timings_ms"]
    assert set(t) >= {"retrieve", "rerank", "first_token", "generate", "end_to_end"}
    assert t["end_to_end"] >= t["generate"] >= t["first_token"] >= 0
