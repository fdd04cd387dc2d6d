"""The HTTP side against the loopback NIM simulator: embed, rerank and chat requests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import psycopg
import pytest

from fieldkit.nim import NIMClient, NIMContextOverflowError
from fieldkit.rag import (
    DEFAULT_EMBED_MODEL,
    DEFAULT_RERANK_MODEL,
    REFUSAL_SENTENCE,
    Chunk,
    Document,
    Pipeline,
    RAGError,
)
from fieldkit.testing import NIMSimulator

from .conftest import SMALL_CORPUS


@pytest.fixture
def nim_pipe(
    simulator: NIMSimulator, make_pipe: Callable[..., Pipeline]
) -> Callable[..., Pipeline]:
    def make(**kwargs: Any) -> Pipeline:
        kwargs.setdefault("embed_url", simulator.base_url + "/")
        kwargs.setdefault("embed_dim", simulator.embed_dim)
        p = make_pipe(**kwargs)
        p.ensure_schema()  # embeds one probe text when the table is new
        simulator.reset()  # each test counts the requests of its own calls
        return p

    return make


def test_embed_requests_match_0_3_0(
    simulator: NIMSimulator, nim_pipe: Callable[..., Pipeline]
) -> None:
    p = nim_pipe(embed_api_key="embed-key")
    assert p.embed_url == simulator.base_url  # trailing slash stripped
    assert p._embed_client is not None
    assert p.ingest([Document(1, "DGX Spark memory"), Document(2, "athletes in Athens")]) == 2
    got = p.retrieve("Spark memory", top_k=1)
    assert [c.id for c in got] == [1]
    reqs = simulator.requests_to("/embeddings")
    assert [r.path for r in reqs] == ["/v1/embeddings", "/v1/embeddings"]
    passage, query = reqs[0].json, reqs[1].json
    assert passage == {
        "model": DEFAULT_EMBED_MODEL,
        "input": ["DGX Spark memory", "athletes in Athens"],
        "input_type": "passage",
        "encoding_format": "float",
        "truncate": "END",
        "dimensions": 384,
    }
    assert query["input"] == ["Spark memory"]
    assert query["input_type"] == "query"
    assert reqs[0].headers["authorization"] == "Bearer embed-key"


def test_embed_batches_cross_document_boundaries(
    simulator: NIMSimulator, nim_pipe: Callable[..., Pipeline]
) -> None:
    p = nim_pipe(embed_batch=2)
    assert p.ingest([Document(i, f"doc {i}") for i in range(5)]) == 5
    assert len(simulator.requests_to("/embeddings")) == 3


def test_embed_400_is_a_rag_error_and_writes_nothing(
    simulator: NIMSimulator, nim_pipe: Callable[..., Pipeline]
) -> None:
    p = nim_pipe()
    simulator.enqueue(400)
    with pytest.raises(RAGError, match="embed request failed"):
        p.ingest([Document(1, "x")])
    assert p.count() == 0


def test_embed_503_then_200_is_retried(
    simulator: NIMSimulator, nim_pipe: Callable[..., Pipeline]
) -> None:
    p = nim_pipe(max_retries=2)
    simulator.enqueue(503)
    assert p.ingest([Document(1, "x")]) == 1
    assert len(simulator.requests_to("/embeddings")) == 2


def test_embed_retries_exhausted_is_a_rag_error(
    simulator: NIMSimulator, nim_pipe: Callable[..., Pipeline]
) -> None:
    p = nim_pipe(max_retries=0)
    simulator.enqueue(503)
    with pytest.raises(RAGError, match="embed request failed"):
        p.retrieve("anything")


def test_wrong_dimension_from_server_is_a_rag_error(
    simulator: NIMSimulator, make_pipe: Callable[..., Pipeline]
) -> None:
    # The pipeline asks for 384 dimensions; a server that ignores the request is caught.
    p = make_pipe(embed_url=simulator.base_url, embed_dim=384)
    p.ensure_schema()
    simulator.enqueue(
        __import__("fieldkit.testing", fromlist=["Fault"]).Fault(
            status=200,
            body={"data": [{"index": 0, "embedding": [1.0, 0.0]}]},
        )
    )
    with pytest.raises(RAGError, match="dimension 384"):
        p.retrieve("q")


def _table_exists(dsn: str, table: str) -> bool:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f'"{table}"',)).fetchone()
    return bool(row and row[0])


def test_a_server_ignoring_dimensions_creates_no_table(
    simulator_factory: Callable[..., NIMSimulator],
    make_pipe: Callable[..., Pipeline],
    pg_dsn: str,
    pg_table: str,
) -> None:
    # llama-server style: `dimensions` ignored, the model's own 64-wide vectors come back
    sim = simulator_factory(embed_dim=64, honour_dimensions=False)
    wrong = make_pipe(embed_url=sim.base_url, embed_dim=32)
    with pytest.raises(RAGError, match="dimension 32") as err:
        wrong.ensure_schema()
    assert "dimension 64" in str(err.value)
    assert not _table_exists(pg_dsn, pg_table)
    right = make_pipe(embed_url=sim.base_url, embed_dim=64)
    right.ensure_schema()
    assert right.ingest([Document(1, "DGX Spark memory")]) == 1
    assert right.retrieve("Spark memory", top_k=1)[0].id == 1


class _WideEmbedder:
    """A user embedder that declares 8 dimensions but returns 16."""

    name = "test:wide"
    dim = 8

    def embed(self, texts: Sequence[str], *, input_type: str = "passage") -> np.ndarray:
        return np.ones((len(texts), 16), dtype=np.float32) / 4.0

    def close(self) -> None:
        pass


def test_an_embedder_of_another_size_creates_no_table(
    make_pipe: Callable[..., Pipeline], pg_dsn: str, pg_table: str
) -> None:
    p = make_pipe(embedder=_WideEmbedder())
    assert p.embed_dim == 8
    with pytest.raises(RAGError, match="dimension 16, not the configured dimension 8"):
        p.ensure_schema()
    assert not _table_exists(pg_dsn, pg_table)


def test_rerank_posts_to_the_full_url_and_orders_by_logit(
    simulator: NIMSimulator, nim_pipe: Callable[..., Pipeline]
) -> None:
    url = simulator.base_url + "/retrieval/nvidia/llama-3_2-nv-rerankqa-1b-v2/reranking"
    p = nim_pipe(rerank_url=url)
    chunks = [
        Chunk(11, "athletes at the Olympics", distance=0.5),
        Chunk(22, "unified memory of the DGX Spark", distance=0.4),
        Chunk(33, "Spark memory is unified memory", distance=0.6),
    ]
    out = p.rerank("unified memory Spark", chunks, top_k=2)
    req = simulator.requests_to("/reranking")[0]
    assert req.path == "/v1/retrieval/nvidia/llama-3_2-nv-rerankqa-1b-v2/reranking"
    assert req.json["model"] == DEFAULT_RERANK_MODEL
    assert req.json["query"] == {"text": "unified memory Spark"}
    assert req.json["passages"] == [{"text": c.text} for c in chunks]
    assert len(out) == 2
    assert {c.id for c in out} == {22, 33}
    assert out[0].rerank_score is not None and out[1].rerank_score is not None
    assert out[0].rerank_score >= out[1].rerank_score
    by_id = {c.id: c for c in out}
    assert by_id[33].distance == 0.6  # distance carried over
    assert out[0].score == out[0].rerank_score


def test_rerank_500_is_a_rag_error(
    simulator: NIMSimulator, nim_pipe: Callable[..., Pipeline]
) -> None:
    # 500 is retried (the nim client's policy); once the budget is spent it is a RAGError.
    p = nim_pipe(rerank_url=simulator.base_url + "/ranking", max_retries=0)
    simulator.enqueue(500)
    with pytest.raises(RAGError, match="rerank request failed"):
        p.rerank("q", [Chunk(1, "a")])
    simulator.enqueue(400)
    with pytest.raises(RAGError, match="rerank request failed"):
        p.rerank("q", [Chunk(1, "a")])


def test_embed_key_is_not_sent_to_another_rerank_host(
    simulator: NIMSimulator, nim_pipe: Callable[..., Pipeline]
) -> None:
    other_origin = simulator.base_url.replace("127.0.0.1", "localhost") + "/ranking"
    p = nim_pipe(embed_api_key="secret-embed-key", rerank_url=other_origin)
    p.rerank("q", [Chunk(1, "a")])
    assert simulator.requests_to("/ranking")[0].headers["authorization"] != (
        "Bearer secret-embed-key"
    )
    same_origin = nim_pipe(
        embed_api_key="secret-embed-key", rerank_url=simulator.base_url + "/ranking"
    )
    simulator.reset()
    same_origin.rerank("q", [Chunk(1, "a")])
    assert simulator.requests_to("/ranking")[0].headers["authorization"] == (
        "Bearer secret-embed-key"
    )
    explicit = nim_pipe(rerank_api_key="rk", rerank_url=other_origin)
    simulator.reset()
    explicit.rerank("q", [Chunk(1, "a")])
    assert simulator.requests_to("/ranking")[0].headers["authorization"] == "Bearer rk"


@pytest.fixture
def generator(simulator: NIMSimulator) -> Any:
    with NIMClient(simulator.base_url, simulator.model, max_retries=0) as client:
        yield client


def test_ask_with_generator_sends_the_grounded_prompt(
    simulator: NIMSimulator, make_pipe: Callable[..., Pipeline], generator: NIMClient
) -> None:
    p = make_pipe(generator=generator)
    p.ensure_schema()
    p.ingest(SMALL_CORPUS)
    simulator.set_chat_reply("  128 GB.\nSources: [1]  ")
    out = p.ask(
        "How much unified memory does the DGX Spark have?",
        retrieve_k=3,
        rerank_k=2,
        max_tokens=64,
        top_p=0.5,
    )
    assert out["answer"] == "128 GB.\nSources: [1]"
    assert out["chunks"][0].id == 1
    assert len(out["chunks"]) == 2
    assert out["raw"]["choices"][0]["message"]["content"] == "  128 GB.\nSources: [1]  "
    assert "note" not in out
    chat = simulator.requests_to("/chat/completions")
    assert len(chat) == 1
    body = chat[0].json
    assert body["messages"] == p.build_messages(
        "How much unified memory does the DGX Spark have?", out["chunks"]
    )
    assert body["max_tokens"] == 64
    assert body["temperature"] == 0.0
    assert body["top_p"] == 0.5
    assert out["timings_ms"]["generate"] > 0


def test_ask_with_nothing_retrieved_does_not_call_the_generator(
    simulator: NIMSimulator, make_pipe: Callable[..., Pipeline], generator: NIMClient
) -> None:
    p = make_pipe(generator=generator)
    p.ensure_schema()
    out = p.ask("anything at all?")
    assert out["chunks"] == []
    assert out["answer"] == REFUSAL_SENTENCE
    assert simulator.requests_to("/chat/completions") == []


def test_ask_hybrid_with_reranker(
    simulator: NIMSimulator, make_pipe: Callable[..., Pipeline], generator: NIMClient
) -> None:
    p = make_pipe(generator=generator, rerank_url=simulator.base_url + "/ranking")
    p.ensure_schema()
    p.ingest(SMALL_CORPUS)
    out = p.ask("zorblax quantization codename", mode="hybrid", rerank_k=2)
    assert out["chunks"][0].id == 6
    assert all(c.rerank_score is not None for c in out["chunks"])
    assert out["timings_ms"]["rerank"] > 0


def test_fuse_returns_raw_and_propagates_generator_errors(
    make_pipe: Callable[..., Pipeline], generator: NIMClient
) -> None:
    p = make_pipe(generator=generator)
    raw = p.fuse("q", [Chunk(1, "a")], max_tokens=8)
    assert set(raw) >= {"choices"}
    with pytest.raises(NIMContextOverflowError):
        p.fuse("q", [Chunk(1, "a")], max_tokens=9000)


def test_close_closes_the_http_clients(
    simulator: NIMSimulator, nim_pipe: Callable[..., Pipeline]
) -> None:
    p = nim_pipe(rerank_url=simulator.base_url + "/ranking")
    assert p._embed_client is not None and p._rerank_client is not None
    p.close()
    assert p._embed_client is None and p._rerank_client is None
    p.close()
    with pytest.raises(RAGError, match="pipeline closed"):
        p.retrieve("q")
