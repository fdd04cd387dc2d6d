"""VerticalBench end to end against the real local model: llama-server + SmolLM2-135M-Instruct.

The question sets are the repo's own ``samples/data/*.jsonl``; the model function is a real
``NIMClient`` chat over loopback HTTP to a ``fieldkit.serve.LocalServer``. The server runs with one
thread and four slots: on a busy two-core CI box llama.cpp's spinning thread pool with a thread
per core took ~35 s per answer, one thread ~0.7 s (measured here).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fieldkit.eval import VerticalBench, contains
from fieldkit.nim import NIMClient
from fieldkit.serve import LocalServer

DATA = Path(__file__).resolve().parents[2] / "samples" / "data"


@pytest.fixture(scope="module")
def local_client() -> Iterator[NIMClient]:
    with (
        LocalServer(ctx=2048, threads=1, extra_args=("--parallel", "4")) as server,
        server.client(timeout=120.0) as client,
    ):
        yield client


def _model(client: NIMClient) -> object:
    def ask(question: str) -> str:
        reply = client.chat([{"role": "user", "content": question}], max_tokens=24)
        return str(reply["choices"][0]["message"]["content"])

    return ask


def test_smoke_bench_through_the_local_model(local_client: NIMClient) -> None:
    bench = VerticalBench.from_jsonl(DATA / "vertical-smoke.jsonl", scorer=contains)
    assert bench.summary()["n"] == 8
    result = bench.run(_model(local_client), extra_tags={"model": "smollm2-135m"})  # type: ignore[arg-type]
    s = result.summary()
    assert (s["n"], s["n_success"]) == (8, 8)
    assert [c.tags["qid"] for c in result.calls] == [q.qid for q in bench.questions]
    for call in result.calls:
        assert isinstance(call.output, str) and call.output.strip()
        assert call.latency_ms > 0 and call.tags["model"] == "smollm2-135m"
        want = contains(
            call.output, next(q.expected for q in bench.questions if q.qid == call.tags["qid"])
        )
        assert call.metrics["accuracy"] == want
    # even a 135M model names the capital of France; most of this set should be right
    by_qid = {c.tags["qid"]: c.metrics["accuracy"] for c in result.calls}
    assert by_qid["cap-fr"] == 1.0
    assert s["accuracy"]["mean"] >= 0.5


def test_concurrent_run_against_the_local_model(local_client: NIMClient) -> None:
    bench = VerticalBench.from_jsonl(DATA / "vertical-smoke.jsonl", scorer=contains)
    result = bench.run(_model(local_client), concurrency=4)  # type: ignore[arg-type]
    s = result.summary()
    assert (s["n"], s["n_success"]) == (8, 8)
    assert [c.tags["qid"] for c in result.calls] == [q.qid for q in bench.questions]
    assert 0.0 <= s["accuracy"]["mean"] <= 1.0 and s["latency_ms"]["p95"] > 0


def test_open_book_financebench_through_the_local_model(local_client: NIMClient) -> None:
    bench = VerticalBench.from_jsonl(DATA / "financebench-smoke.jsonl", subset="metrics-generated")
    assert bench.scorer.__name__ == "numeric_match" and len(bench.questions) == 3
    assert all(q.question.startswith("Context from ACME_2024_10-K") for q in bench.questions)
    s = bench.run(_model(local_client)).summary()
    assert (s["n"], s["n_success"]) == (3, 3)
    assert s["accuracy"]["n"] == 3 and 0.0 <= s["accuracy"]["mean"] <= 1.0
