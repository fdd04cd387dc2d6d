"""fieldkit bench serve's client CPU per request against the real llama-server (SmolLM2-135M),
beside a plain httpx streaming loop and openai-python's ``AsyncOpenAI`` doing the same timing.

The three clients send the same prompts (32 output tokens, ``ignore_eos``) at the same
concurrency to one llama-server, in interleaved rounds (fieldkit, httpx, AsyncOpenAI, then
again), so a busy box slows them alike. The server is another process: this process's CPU time
per request is the client's alone. Each figure is the mean of the rounds; the spread is printed.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks._table import Row

DESCRIPTION = "bench serve client CPU/request vs plain httpx and AsyncOpenAI (real llama-server)"

CONCURRENCY = 2
OUTPUT = 32


def _prompts(n: int, seed: int) -> list[Any]:
    from fieldkit.servebench import synthetic_prompts

    return synthetic_prompts(n, 32, OUTPUT, seed=seed)


def _ours(url: str, model: str, n: int, seed: int) -> None:
    from fieldkit.servebench import ServeBenchConfig, Target, run_serve_bench

    cfg = ServeBenchConfig(
        Target(url, model),
        _prompts(n, seed),
        loads=(CONCURRENCY,),
        num_requests=n,
        warmup=1,
        scrape_metrics=False,
    )
    (point,) = run_serve_bench(cfg).points
    assert point.metrics.failed == 0, point.metrics.errors


async def _pool(n: int, one: Callable[[int], Awaitable[None]]) -> None:
    queue = list(range(n))

    async def worker() -> None:
        while queue:
            await one(queue.pop())

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def _httpx_loop(url: str, model: str, n: int, seed: int) -> None:
    import httpx

    prompts = _prompts(n, seed)
    async with httpx.AsyncClient(timeout=300) as client:

        async def one(i: int) -> None:
            body = {
                "model": model,
                "messages": list(prompts[i].messages),
                "max_tokens": OUTPUT,
                "stream": True,
                "stream_options": {"include_usage": True},
                "ignore_eos": True,
            }
            for attempt in range(2):  # llama-server closes idle keep-alive connections
                t0 = time.perf_counter()
                first = None
                try:
                    async with client.stream("POST", url + "/chat/completions", json=body) as resp:
                        async for line in resp.aiter_lines():
                            if not line.startswith("data: ") or line == "data: [DONE]":
                                continue
                            obj = json.loads(line[6:])
                            choices = obj.get("choices") or [{}]
                            if first is None and choices[0].get("delta", {}).get("content"):
                                first = time.perf_counter() - t0
                    return
                except httpx.RemoteProtocolError:
                    if attempt:
                        raise

        await one(0)  # warm-up
        await _pool(n, one)


async def _openai_loop(url: str, model: str, n: int, seed: int) -> None:
    import openai

    prompts = _prompts(n, seed)
    async with openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=1) as client:

        async def one(i: int) -> None:
            t0 = time.perf_counter()
            stream = await client.chat.completions.create(
                model=model,
                messages=list(prompts[i].messages),
                max_tokens=OUTPUT,
                stream=True,
                stream_options={"include_usage": True},
                extra_body={"ignore_eos": True},
            )
            first = None
            async for chunk in stream:
                if first is None and chunk.choices and chunk.choices[0].delta.content:
                    first = time.perf_counter() - t0

        await one(0)
        await _pool(n, one)


def _cpu_ms(fn: Callable[[], object], n: int) -> float:
    cpu0 = time.process_time()
    fn()
    return (time.process_time() - cpu0) / n * 1000.0


def run(quick: bool) -> list[Row]:
    from fieldkit.serve import LocalServer

    n, rounds = (16, 2) if quick else (32, 3)
    cpu: dict[str, list[float]] = {"ours": [], "httpx": [], "openai": []}
    with LocalServer(threads=1, extra_args=("-np", str(CONCURRENCY))) as srv:
        url, model = srv.base_url, srv.model or "model"
        for r in range(rounds):
            seed = 1000 + r
            cpu["ours"].append(_cpu_ms(lambda s=seed: _ours(url, model, n, s), n))
            cpu["httpx"].append(
                _cpu_ms(lambda s=seed: asyncio.run(_httpx_loop(url, model, n, s)), n)
            )
            cpu["openai"].append(
                _cpu_ms(lambda s=seed: asyncio.run(_openai_loop(url, model, n, s)), n)
            )

    def spread(xs: list[float]) -> str:
        return f"rounds: {', '.join(f'{x:.2f}' for x in xs)} ms"

    ours = statistics.fmean(cpu["ours"])
    rows = [
        Row(
            f"client CPU per request, {OUTPUT} chunks, c={CONCURRENCY}, {n} req × {rounds} rounds",
            ours,
            statistics.fmean(cpu["httpx"]),
            "ms",
            "lower",
            "plain httpx aiter_lines loop",
            f"ours {spread(cpu['ours'])}; httpx {spread(cpu['httpx'])}",
        ),
        Row(
            "client CPU per request (same runs)",
            ours,
            statistics.fmean(cpu["openai"]),
            "ms",
            "lower",
            "openai AsyncOpenAI stream loop",
            f"openai {spread(cpu['openai'])}",
        ),
    ]
    return rows
