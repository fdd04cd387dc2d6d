"""The async load generator: one ``httpx.AsyncClient`` (one connection pool) for a whole run.

Every request is timed on ``time.perf_counter`` (monotonic). Closed loop: ``concurrency`` workers
each send their next request when the previous one ends. Open loop: requests are sent at the
scheduled arrival times whatever is in flight (optionally capped by ``max_concurrency``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from fieldkit.servebench._arrivals import arrival_offsets
from fieldkit.servebench._metrics import RequestRecord
from fieldkit.servebench._sse import DONE, Chunk, parse_data_line
from fieldkit.servebench._workload import Prompt

__all__ = ["PointRun", "Target", "run_concurrency", "run_rate", "send_one"]

Progress = Callable[[RequestRecord], None]


@dataclass(frozen=True, slots=True)
class Target:
    """Where to send: the OpenAI-compatible root (``…/v1``), model id, optional API key, and
    whether to ask for ``ignore_eos`` (llama.cpp, vLLM, SGLang honour it)."""

    base_url: str
    model: str
    api_key: str | None = None
    ignore_eos: bool = True
    timeout_s: float = 300.0

    @property
    def root(self) -> str:
        return self.base_url.rstrip("/").removesuffix("/v1")

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def payload(self, prompt: Prompt) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": list(prompt.messages),
            "max_tokens": prompt.max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if self.ignore_eos:
            body["ignore_eos"] = True
        return body


@dataclass(slots=True)
class PointRun:
    """What one load point produced: records in send order, wall duration, the generator's own
    CPU seconds (event-loop thread), and why it stopped early if it did."""

    records: list[RequestRecord]
    duration_s: float
    generator_cpu_s: float
    aborted: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _error_kind(exc: BaseException) -> str:
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return "connect"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return "disconnected"
    return "transport"


async def send_one(
    client: httpx.AsyncClient, target: Target, prompt: Prompt, rec: RequestRecord, origin: float
) -> RequestRecord:
    """Send one streamed chat request and fill *rec* (times relative to its own send).

    A pooled keep-alive connection the server closed while idle fails before any response byte
    (``Server disconnected without sending a response``); that send is retried once on a fresh
    connection with the clock restarted, as the request never reached the server's handler.
    """
    await _attempt(client, target, prompt, rec, origin)
    if rec.error == "disconnected" and rec.ttft is None and _stale(rec.error_detail):
        rec.error = rec.error_detail = None
        rec.retried = True
        await _attempt(client, target, prompt, rec, origin)
    return rec


def _stale(detail: str | None) -> bool:
    return detail is not None and "without sending a response" in detail


async def _attempt(
    client: httpx.AsyncClient, target: Target, prompt: Prompt, rec: RequestRecord, origin: float
) -> RequestRecord:
    url = target.base_url.rstrip("/") + "/chat/completions"
    payload = target.payload(prompt)
    pieces: list[str] = []
    usage: dict[str, Any] | None = None
    t0 = time.perf_counter()
    rec.sent = t0 - origin
    last: float | None = None
    try:
        async with client.stream("POST", url, json=payload, headers=target.headers()) as resp:
            if resp.status_code != 200:
                body = await resp.aread()
                rec.error = f"http_{resp.status_code}"
                rec.error_detail = body[:300].decode("utf-8", "replace")
                return rec
            if "text/event-stream" not in resp.headers.get("content-type", ""):
                await resp.aread()
                rec.error = "not_streaming"
                rec.error_detail = f"content-type {resp.headers.get('content-type')!r}"
                return rec
            done = False
            async for line in resp.aiter_lines():
                now = time.perf_counter()
                if done:
                    continue  # drain to the end so the connection goes back to the pool
                try:
                    event = parse_data_line(line)
                except ValueError as exc:
                    rec.error, rec.error_detail = "bad_stream", str(exc)[:300]
                    done = True
                    continue
                if event is None:
                    continue
                if event is DONE:
                    done = True
                    continue
                assert isinstance(event, Chunk)
                if event.error is not None:
                    rec.error, rec.error_detail = "stream_error", event.error[:300]
                    done = True
                    continue
                if event.usage is not None:
                    usage = event.usage
                if event.text:
                    if last is None:
                        rec.ttft = now - t0
                    else:
                        rec.itl.append(now - last)
                    last = now
                    pieces.append(event.text)
        rec.e2e = time.perf_counter() - t0
    except httpx.HTTPError as exc:
        rec.error, rec.error_detail = _error_kind(exc), (str(exc) or type(exc).__name__)[:300]
        return rec
    rec.text = "".join(pieces)
    if rec.error is None and last is None:
        rec.error = "no_content"
    if usage is not None:
        p, c = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if isinstance(c, int):
            rec.output_tokens = c
            rec.input_tokens = p if isinstance(p, int) else None
            rec.token_source = "usage"
    return rec


async def run_concurrency(
    client: httpx.AsyncClient,
    target: Target,
    prompts: Sequence[Prompt],
    concurrency: int,
    progress: Progress | None = None,
) -> PointRun:
    """Closed loop: *concurrency* workers send *prompts* back to back."""
    records = [RequestRecord(i, 0.0) for i in range(len(prompts))]
    queue = iter(range(len(prompts)))
    abort: list[str] = []
    origin = time.perf_counter()
    cpu0 = time.thread_time()

    async def worker() -> None:
        for i in queue:
            if abort:
                return
            rec = await send_one(client, target, prompts[i], records[i], origin)
            if rec.error == "connect":
                abort.append("the server stopped accepting connections")
            if progress is not None:
                progress(rec)

    # More workers than requests would only idle: one per request at most.
    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(prompts))))))
    sent = [r for r in records if r.e2e is not None or r.error is not None]
    return PointRun(
        sent,
        _duration(sent, origin),
        time.thread_time() - cpu0,
        abort[0] if abort else None,
    )


async def run_rate(
    client: httpx.AsyncClient,
    target: Target,
    prompts: Sequence[Prompt],
    rate: float,
    *,
    burstiness: float = 1.0,
    seed: int = 0,
    max_concurrency: int | None = None,
    progress: Progress | None = None,
) -> PointRun:
    """Open loop: send at gamma/Poisson arrival times (see ``arrival_offsets``)."""
    offsets = arrival_offsets(len(prompts), rate, burstiness=burstiness, seed=seed)
    records = [RequestRecord(i, 0.0) for i in range(len(prompts))]
    gate = asyncio.Semaphore(max_concurrency) if max_concurrency else None
    abort: list[str] = []
    origin = time.perf_counter()
    cpu0 = time.thread_time()

    async def one(i: int) -> None:
        if gate is not None:
            await gate.acquire()
        try:
            if abort:
                return
            rec = await send_one(client, target, prompts[i], records[i], origin)
            if rec.error == "connect":
                abort.append("the server stopped accepting connections")
            if progress is not None:
                progress(rec)
        finally:
            if gate is not None:
                gate.release()

    tasks: list[asyncio.Task[None]] = []
    for i, due in enumerate(offsets):
        if abort:
            break
        wait = origin + due - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.create_task(one(i)))
    try:
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(*tasks, return_exceptions=True)
    sent = [r for r in records if r.e2e is not None or r.error is not None]
    return PointRun(
        sent, _duration(sent, origin), time.thread_time() - cpu0, abort[0] if abort else None
    )


def _duration(records: Sequence[RequestRecord], origin: float) -> float:
    """First send → last completion (or failure) of the point, in seconds."""
    del origin
    if not records:
        return 0.0
    end = max(r.sent + (r.e2e or 0.0) for r in records)
    return max(end - min(r.sent for r in records), 0.0)
