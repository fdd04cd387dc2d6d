"""fieldkit bench serve's load generator against the 0-latency simulator: its own CPU per
request and the request rate it sustains at concurrency 16, beside a naive openai-python
``AsyncOpenAI`` streaming loop doing the same timing (TTFT on the first content chunk).

The simulator runs in its own process, so this process's CPU time is the load generator's alone;
both generators hit the same server in the same run. Two servers: replies sent in one burst
(``fieldkit simulate``), and 16 one-token chunks 1 ms apart (each chunk its own socket read, as
from a real model server).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

from benchmarks._table import Row
from benchmarks.bench_nim import _simulator

DESCRIPTION = "bench serve generator CPU/request and max rate vs openai-python (0-latency sim)"

MODEL = "meta/llama-3.1-8b-instruct"
CONCURRENCY = 16


_PACED = (
    "import threading\n"
    "from fieldkit.testing import NIMSimulator\n"
    "sim = NIMSimulator(port=0).start()\n"
    "sim.set_token_timing(0.0, 0.001, 16)\n"
    "print(sim.base_url, flush=True)\n"
    "try:\n"
    "    threading.Event().wait()\n"
    "except KeyboardInterrupt:\n"
    "    sim.stop()\n"
)


@contextlib.contextmanager
def _paced_simulator() -> Iterator[str]:
    """A simulator process streaming 16 one-token chunks 1 ms apart."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _PACED], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError("the paced simulator did not start")
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


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
    with _paced_simulator() as url:
        ours_p: Any = _ours(url, n)
        base_p: Any = _baseline(url, n)
    label = "openai AsyncOpenAI stream loop"
    cpu_note = "this process's CPU; the simulator runs in its own process"
    return [
        Row(
            f"generator CPU per streamed request, burst reply (c={CONCURRENCY}, {n} req)",
            ours[1],
            base[1],
            "ms",
            "lower",
            label,
            cpu_note,
        ),
        Row(
            f"generator CPU per request, 16 chunks 1 ms apart (c={CONCURRENCY}, {n} req)",
            ours_p[1],
            base_p[1],
            "ms",
            "lower",
            label,
            cpu_note,
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
