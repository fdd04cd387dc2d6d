"""`fieldkit bench serve` against a real llama-server with the real SmolLM2 model (short runs).

Runs in CI (scripts/test builds llama.cpp first); a missing server is an error, not a skip. One
server for the module, one thread and ``--metrics`` so the server's own view is checked too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from fieldkit.cli import app
from fieldkit.serve import LocalServer
from fieldkit.servebench import (
    Prompt,
    ServeBenchConfig,
    ServeBenchError,
    Target,
    run_serve_bench,
    synthetic_prompts,
)


@pytest.fixture(scope="module")
def metrics_server() -> Iterator[LocalServer]:
    with LocalServer(ctx=2048, threads=1, extra_args=("--metrics",)) as server:
        yield server


def test_cli_sweep_against_llama_server(metrics_server: LocalServer) -> None:
    args = ["bench", "serve", "--base-url", metrics_server.base_url, "--no-progress"]
    args += ["-c", "1,2", "-n", "3", "--input-len", "16", "--output-len", "6", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["load"] for r in records] == [{"concurrency": 1}, {"concurrency": 2}]
    for r in records:
        assert r["model"] == metrics_server.model
        assert r["completed"] == 3 and r["errors"] == {}, r
        # ignore_eos is honoured: exactly max_tokens per reply, counted by the server.
        assert r["output_tokens"] == 18 and r["token_source"] == "usage"
        assert r["input_tokens"] >= 3 * 16
        ttft, e2e = r["ttft_ms"], r["e2e_ms"]
        assert 0 < ttft["median"] <= e2e["median"]
        assert r["tpot_ms"]["mean"] > 0 and r["itl_ms"]["mean"] > 0
        view = r["server_metrics"]
        assert view["server"] == "llama.cpp"
        assert view["generation_tokens"] == 18
        assert view["prompt_tokens"] + view["prompt_tokens_cached"] >= 3 * 16


def test_wrong_model_against_llama_server(metrics_server: LocalServer) -> None:
    cfg = ServeBenchConfig(
        Target(metrics_server.base_url, "not-a-model.gguf"), synthetic_prompts(1, 4, 2)
    )
    with pytest.raises(ServeBenchError, match="not served"):
        run_serve_bench(cfg)


def test_open_loop_against_llama_server(metrics_server: LocalServer) -> None:
    assert metrics_server.model is not None
    cfg = ServeBenchConfig(
        Target(metrics_server.base_url, metrics_server.model),
        synthetic_prompts(3, 8, 4, seed=1),
        mode="rate",
        loads=(4.0,),
        num_requests=3,
        seed=2,
    )
    (point,) = run_serve_bench(cfg).points
    assert point.summary["completed"] == 3
    seen = [(r.output_tokens, r.chunks, len(r.itl), r.text) for r in point.records]
    # The server counts 4 tokens; it may send them in fewer chunks (an emoji's byte tokens
    # arrive together), and ITL has one gap per chunk after the first.
    assert all(n == 4 and 1 <= c <= 4 and gaps == c - 1 for n, c, gaps, _ in seen), seen


class _NoUsageTarget(Target):
    """Asks without ``stream_options.include_usage``, as a client of a server lacking it would."""

    def payload(self, prompt: Prompt) -> dict[str, Any]:
        body = super().payload(prompt)
        del body["stream_options"]
        return body


def test_tokenizer_endpoint_counts_when_usage_is_missing(metrics_server: LocalServer) -> None:
    assert metrics_server.model is not None
    prompts = synthetic_prompts(2, 8, 5, seed=3)
    with_usage = ServeBenchConfig(
        Target(metrics_server.base_url, metrics_server.model),
        prompts,
        num_requests=2,
        scrape_metrics=False,
    )
    (reference,) = run_serve_bench(with_usage).points
    assert all(r.input_token_source == "usage" for r in reference.records)
    usage_counts = {r.index: r.input_tokens for r in reference.records}
    cfg = ServeBenchConfig(
        _NoUsageTarget(metrics_server.base_url, metrics_server.model),
        prompts,
        num_requests=2,
        scrape_metrics=False,
    )
    (point,) = run_serve_bench(cfg).points
    for rec in point.records:
        assert rec.ok
        if rec.token_source == "usage":  # this llama-server sends usage unasked
            assert rec.output_tokens == 5
        else:
            assert rec.token_source == "tokenizer"
            # The reply re-tokenized by the server: 5 here (±1 for merges across tokens).
            assert 4 <= (rec.output_tokens or 0) <= 6
            # The prompt with its chat template applied, as the server's usage counts it.
            assert rec.input_token_source == "tokenizer"
            assert rec.input_tokens == usage_counts[rec.index]
            assert rec.input_tokens_estimated is not None


def test_completions_endpoint_on_the_real_server(metrics_server: LocalServer) -> None:
    assert metrics_server.model is not None
    target = Target(metrics_server.base_url, metrics_server.model, endpoint="completions")
    cfg = ServeBenchConfig(
        target, synthetic_prompts(2, 8, 6, seed=5), num_requests=2, scrape_metrics=False
    )
    (point,) = run_serve_bench(cfg).points
    assert point.metrics.completed == 2 and point.metrics.errors == {}
    for rec in point.records:
        assert rec.ttft is not None and rec.output_tokens == 6  # ignore_eos honoured
        assert rec.input_tokens is not None and rec.input_tokens < 20  # no chat template
    assert point.warnings == []
