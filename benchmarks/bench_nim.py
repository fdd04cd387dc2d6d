"""fieldkit.nim against the loopback simulator: per-request overhead vs openai-python, and
AsyncNIMClient throughput at concurrency 64 vs the sync client sequentially (20 ms latency).

The simulator runs in its own process (``fieldkit simulate``) so client and server do not share
a GIL; both clients talk to the same server in the same run.
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

DESCRIPTION = "NIM client overhead vs openai-python, async c=64 vs sequential (simulator)"

MODEL = "meta/llama-3.1-8b-instruct"
MESSAGES = [{"role": "user", "content": "Say hello in five words."}]


@contextlib.contextmanager
def _simulator(latency: float = 0.0) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fieldkit", "simulate", "--port", "0", "--latency", str(latency)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError("the simulator did not start")
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _per_request_ms(call: Any, n: int) -> float:
    for _ in range(min(50, n)):  # warm the connection pool and code paths
        call()
    start = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - start) / n * 1000.0


def _overhead(url: str, n: int) -> tuple[float, float]:
    import openai

    from fieldkit.nim import NIMClient

    with NIMClient(url, MODEL) as ours:
        ours_ms = _per_request_ms(lambda: ours.chat(MESSAGES, max_tokens=32, temperature=0.0), n)
    theirs_client = openai.OpenAI(base_url=url, api_key="local")
    try:
        theirs_ms = _per_request_ms(
            lambda: theirs_client.chat.completions.create(
                model=MODEL,
                messages=MESSAGES,
                max_tokens=32,
                temperature=0.0,  # type: ignore[arg-type]
            ),
            n,
        )
    finally:
        theirs_client.close()
    return ours_ms, theirs_ms


def _throughput(url: str, n_seq: int, n_async: int, concurrency: int) -> tuple[float, float]:
    from fieldkit.nim import AsyncNIMClient, NIMClient

    with NIMClient(url, MODEL) as sync_client:
        sync_client.chat(MESSAGES, max_tokens=32)
        start = time.perf_counter()
        for _ in range(n_seq):
            sync_client.chat(MESSAGES, max_tokens=32)
        seq_rate = n_seq / (time.perf_counter() - start)

    async def run_async() -> float:
        async with AsyncNIMClient(url, MODEL) as client:
            await client.chat_many([MESSAGES] * concurrency, concurrency=concurrency)  # warm-up
            start = time.perf_counter()
            out = await client.chat_many(
                [MESSAGES] * n_async, concurrency=concurrency, max_tokens=32
            )
            elapsed = time.perf_counter() - start
        failed = sum(isinstance(r, Exception) for r in out)
        if failed:
            raise RuntimeError(f"{failed} async requests failed")
        return n_async / elapsed

    return asyncio.run(run_async()), seq_rate


def run(quick: bool) -> list[Row]:
    n_overhead = 300 if quick else 2000
    n_seq = 30 if quick else 150
    n_async = 640 if quick else 3200
    with _simulator() as url:
        ours_ms, theirs_ms = _overhead(url, n_overhead)
    with _simulator(latency=0.02) as url:
        async_rate, seq_rate = _throughput(url, n_seq, n_async, 64)
    return [
        Row(
            "chat() wall time per request, sequential, 0 ms server latency",
            ours_ms,
            theirs_ms,
            "ms/request",
            better="lower",
            baseline_label="openai-python OpenAI().chat.completions.create",
            note=f"{n_overhead} requests each, same simulator process",
        ),
        Row(
            "chat throughput, 20 ms server latency",
            async_rate,
            seq_rate,
            "requests/s",
            better="higher",
            baseline_label="NIMClient.chat sequential",
            note=f"AsyncNIMClient.chat_many concurrency=64, {n_async} requests",
        ),
    ]
