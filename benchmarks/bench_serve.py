"""fieldkit bench serve's load generator against the 0-latency simulator: its own CPU per
request and the request rate it sustains at concurrency 16, beside a naive openai-python
``AsyncOpenAI`` streaming loop doing the same timing (TTFT on the first content chunk).

The simulator runs in its own process (``fieldkit simulate``), so this process's CPU time is the
load generator's alone; both generators hit the same server in the same run.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from benchmarks._table import Row
from benchmarks.bench_nim import _simulator

DESCRIPTION = "bench serve generator CPU/request and max rate vs openai-python (0-latency sim)"

MODEL = "meta/llama-3.1-8b-instruct"
CONCURRENCY = 16


def _ours(url: str, n: int) -> tuple[float, float, float]:
    """(requests/s, CPU ms per request, median TTFT ms) of fieldkit's generator."""
    from fieldkit.servebench import ServeBenchConfig, Target, run_serve_bench, synthetic_prompts

    cfg = ServeBenchConfig(
        Target(url, MODEL),
        synthetic_prompts(n, 32, 16, seed=0),
        loads=(CONCURRENCY,),
        num_requests=n,
        warmup=8,
        scrape_metrics=False,
    )
    cpu0 = time.process_time()
    (point,) = run_serve_bench(cfg).points
    cpu = time.process_time() - cpu0
    s = point.summary
    assert s["failed"] == 0, s["errors"]
    return s["request_throughput"], cpu / n * 1000.0, s["ttft_ms"]["median"]


async def _openai_loop(url: str, n: int) -> tuple[float, float]:
    import openai

    from fieldkit.servebench import synthetic_prompts

    prompts = synthetic_prompts(n, 32, 16, seed=0)
    ttfts: list[float] = []
    async with openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0) as client:

        async def one(i: int) -> None:
            t0 = time.perf_counter()
            stream = await client.chat.completions.create(
                model=MODEL,
                messages=list(prompts[i].messages),  # type: ignore[arg-type]
                max_tokens=prompts[i].max_tokens,
                stream=True,
                stream_options={"include_usage": True},
            )
            first: float | None = None
            async for chunk in stream:
                if first is None and chunk.choices and chunk.choices[0].delta.content:
                    first = time.perf_counter() - t0
            if first is not None:
                ttfts.append(first)

        async def worker(queue: list[int]) -> None:
            while queue:
                await one(queue.pop())

        await asyncio.gather(*(one(i) for i in range(8)))  # warm-up
        ttfts.clear()
        queue = list(range(n))
        start = time.perf_counter()
        await asyncio.gather(*(worker(queue) for _ in range(CONCURRENCY)))
        wall = time.perf_counter() - start
    ttfts.sort()
    return n / wall, ttfts[len(ttfts) // 2] * 1000.0


def _baseline(url: str, n: int) -> tuple[float, float, float]:
    cpu0 = time.process_time()
    rps, ttft = asyncio.run(_openai_loop(url, n))
    return rps, (time.process_time() - cpu0) / n * 1000.0, ttft


def run(quick: bool) -> list[Row]:
    n = 200 if quick else 1000
    with _simulator(0.0) as url:
        ours: Any = _ours(url, n)
        base: Any = _baseline(url, n)
    label = "openai AsyncOpenAI stream loop"
    return [
        Row(
            f"generator CPU per streamed request (c={CONCURRENCY}, {n} req)",
            ours[1],
            base[1],
            "ms",
            "lower",
            label,
            "this process's CPU; the simulator runs in its own process",
        ),
        Row(
            f"sustained request rate, 0-latency simulator (c={CONCURRENCY})",
            ours[0],
            base[0],
            "req/s",
            "higher",
            label,
            "bounded by the Python simulator as much as by the generator",
        ),
        Row(
            "median TTFT seen by the generator (0-latency simulator)",
            ours[2],
            base[2],
            "ms",
            "lower",
            label,
            "both time the first content chunk",
        ),
    ]
