"""The async load generator: one ``httpx.AsyncClient`` (one connection pool) for a whole run.

Every request is timed on ``time.perf_counter`` (monotonic). Closed loop: ``concurrency`` workers
each send their next request when the previous one ends. Open loop: requests are sent at the
scheduled arrival times whatever is in flight (optionally capped by ``max_concurrency``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from fieldkit.servebench._arrivals import arrival_offsets
from fieldkit.servebench._metrics import RequestRecord
from fieldkit.servebench._sse import DONE, Chunk, LineTooLong, iter_lines, parse_data_line
from fieldkit.servebench._workload import Prompt

__all__ = ["ErrorStreak", "PointRun", "Target", "run_concurrency", "run_rate", "send_one"]

# Failures that say the server is not answering at all (as opposed to refusing one request).
_DEAD_KINDS = frozenset({"timeout", "connect", "disconnected"})
_PATHS = {
    "chat": "/chat/completions",
    "completions": "/completions",
    "embeddings": "/embeddings",
    "rerank": "/rerank",
}
MAX_REPLY_BYTES = 64 << 20
"""Largest non-streamed reply read (embeddings, rerank); a larger one fails as ``bad_reply``."""
DRAIN_S = 0.5
TEMPLATE_TOKENS = 4096
"""Tokens a chat template may add to a prompt: a prompt count above its bytes plus this is
impossible."""

Progress = Callable[[RequestRecord], None]


@dataclass(frozen=True, slots=True)
class Target:
    """Where to send: the OpenAI-compatible root (``…/v1``), model id, optional API key, and
    whether to ask for ``ignore_eos`` (llama.cpp, vLLM, SGLang honour it). ``timeout_s`` bounds
    each request as a whole — connect, send and the full streamed reply. ``endpoint`` is
    ``"chat"`` (``/chat/completions``, messages), ``"completions"`` (``/completions``, the
    messages' contents joined by newlines as one raw prompt), ``"embeddings"`` (``/embeddings``
    of that text) or ``"rerank"`` (``/rerank``: its first 8 words as the query, the text cut in
    4 passages as the documents); the last two are not streamed and have no output tokens.
    """

    base_url: str
    model: str
    api_key: str | None = None
    ignore_eos: bool = True
    timeout_s: float = 300.0
    endpoint: Literal["chat", "completions", "embeddings", "rerank"] = "chat"

    @property
    def generates(self) -> bool:
        """Whether the endpoint streams generated tokens (chat, completions)."""
        return self.endpoint in ("chat", "completions")

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + _PATHS[self.endpoint]

    @property
    def root(self) -> str:
        return self.base_url.rstrip("/").removesuffix("/v1")

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def payload(self, prompt: Prompt) -> dict[str, Any]:
        if self.endpoint == "embeddings":
            return {"model": self.model, "input": prompt.text}
        if self.endpoint == "rerank":
            words = prompt.text.split()
            size = max(1, -(-len(words) // 4))
            docs = [" ".join(words[i : i + size]) for i in range(0, len(words), size)]
            return {"model": self.model, "query": " ".join(words[:8]), "documents": docs}
        body: dict[str, Any] = {"model": self.model}
        if self.endpoint == "chat":
            body["messages"] = list(prompt.messages)
        else:
            body["prompt"] = prompt.text
        body.update(
            {
                "max_tokens": prompt.max_tokens,
                "stream": True,
                "stream_options": {"include_usage": True},
            }
        )
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
    Both sends together stay within ``target.timeout_s``.
    """
    rec.max_tokens = prompt.max_tokens if target.generates else None
    deadline = asyncio.get_running_loop().time() + target.timeout_s
    await _attempt(client, target, prompt, rec, origin, deadline)
    if rec.error == "disconnected" and rec.ttft is None and _stale(rec.error_detail):
        rec.error = rec.error_detail = None
        rec.retried = True
        await _attempt(client, target, prompt, rec, origin, deadline)
    return rec


def _stale(detail: str | None) -> bool:
    return detail is not None and "without sending a response" in detail


async def _attempt(
    client: httpx.AsyncClient,
    target: Target,
    prompt: Prompt,
    rec: RequestRecord,
    origin: float,
    deadline: float,
) -> RequestRecord:
    t0 = time.perf_counter()
    rec.sent = t0 - origin
    rec.ttft, rec.itl, rec.chunks = None, [], 0
    try:
        async with asyncio.timeout_at(deadline):
            if target.generates:
                await _exchange(client, target, prompt, rec, t0)
            else:
                await _exchange_once(client, target, prompt, rec, t0)
    except TimeoutError:
        rec.error = "timeout"
        rec.error_detail = f"no complete reply within --timeout {target.timeout_s:g} s"
    except httpx.HTTPError as exc:
        rec.error, rec.error_detail = _error_kind(exc), (str(exc) or type(exc).__name__)[:300]
    return rec


async def _exchange(
    client: httpx.AsyncClient, target: Target, prompt: Prompt, rec: RequestRecord, t0: float
) -> None:
    url = target.url
    pieces: list[str] = []
    usage: dict[str, Any] | None = None
    last: float | None = None
    async with client.stream(
        "POST", url, json=target.payload(prompt), headers=target.headers()
    ) as resp:
        if resp.status_code != 200:
            body = await _head(resp)
            rec.error = f"http_{resp.status_code}"
            rec.error_detail = body.decode("utf-8", "replace")
            return
        if "text/event-stream" not in resp.headers.get("content-type", ""):
            rec.error = "not_streaming"
            rec.error_detail = f"content-type {resp.headers.get('content-type')!r}"
            return
        lines = iter_lines(resp.aiter_bytes())
        end: float | None = None
        try:
            async for line in lines:
                now = time.perf_counter()
                event = parse_data_line(line)
                if event is None:
                    continue
                if event is DONE:
                    end = now
                    break
                assert isinstance(event, Chunk)
                if event.error is not None:
                    rec.error, rec.error_detail = "stream_error", event.error[:300]
                    return
                if event.usage is not None:
                    usage = event.usage
                if event.text:
                    if last is None:
                        rec.ttft = now - t0
                    else:
                        rec.itl.append(now - last)
                    last = now
                    rec.chunks += 1
                    pieces.append(event.text)
        except (LineTooLong, ValueError) as exc:
            rec.error, rec.error_detail = "bad_stream", str(exc)[:300]
            return
        if end is not None:
            await _drain(lines)
    rec.e2e = (end or time.perf_counter()) - t0
    rec.text = "".join(pieces)
    if last is None:
        rec.error = "no_content"
    if usage is not None:
        _take_usage(rec, usage, prompt)


async def _exchange_once(
    client: httpx.AsyncClient, target: Target, prompt: Prompt, rec: RequestRecord, t0: float
) -> None:
    """One non-streamed request (embeddings, rerank): E2E is the whole reply; the reply must
    carry a non-empty ``data`` (embeddings) or ``results`` (rerank) list."""
    async with client.stream(
        "POST", target.url, json=target.payload(prompt), headers=target.headers()
    ) as resp:
        if resp.status_code != 200:
            rec.error, rec.error_detail = (
                f"http_{resp.status_code}",
                ((await _head(resp)).decode("utf-8", "replace")),
            )
            return
        body = bytearray()  # appended in place: linear up to the cap
        async for data in resp.aiter_bytes():
            body += data
            if len(body) > MAX_REPLY_BYTES:
                rec.error = "bad_reply"
                rec.error_detail = f"a reply larger than {MAX_REPLY_BYTES} bytes"
                return
    rec.e2e = time.perf_counter() - t0
    try:
        obj = json.loads(body)
    except (ValueError, RecursionError):
        rec.error, rec.error_detail = "bad_reply", "the reply is not JSON"
        return
    key = "data" if target.endpoint == "embeddings" else "results"
    items = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(items, list) or not items:
        rec.error, rec.error_detail = "bad_reply", f"the reply has no {key!r} list"
        return
    usage = obj.get("usage")
    p = _count(usage.get("prompt_tokens")) if isinstance(usage, dict) else None
    if p is not None and 0 <= p <= len(prompt.text.encode()) + TEMPLATE_TOKENS:
        rec.input_tokens, rec.input_token_source = p, "usage"
    rec.output_tokens = 0


async def _drain(lines: AsyncIterator[str]) -> None:
    """Read what follows ``[DONE]`` for at most :data:`DRAIN_S`, so that the connection can go
    back to the pool; a server still sending after that (keep-alives) gets it closed."""
    with contextlib.suppress(TimeoutError, LineTooLong, httpx.HTTPError):
        async with asyncio.timeout(DRAIN_S):
            async for _ in lines:
                pass


async def _head(resp: httpx.Response, limit: int = 300) -> bytes:
    """The first *limit* bytes of an error body; the rest is not read."""
    got = b""
    async for data in resp.aiter_bytes():
        got += data
        if len(got) >= limit:
            break
    return got[:limit]


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _take_usage(rec: RequestRecord, usage: dict[str, Any], prompt: Prompt) -> None:
    """Believe the server's ``usage`` only where it is possible: a completion count between the
    content chunks seen and ``max_tokens``, a prompt count within the prompt's bytes plus a
    template allowance. Otherwise record why, and leave the counts to the fallbacks."""
    c, p = _count(usage.get("completion_tokens")), _count(usage.get("prompt_tokens"))
    if c is None:
        return
    prompt_bytes = sum(len(str(m.get("content", "")).encode()) for m in prompt.messages)
    if c < rec.chunks or c > prompt.max_tokens:
        rec.usage_rejected = (
            f"completion_tokens {c} outside [{rec.chunks} chunks, {prompt.max_tokens} max_tokens]"
        )
    elif p is not None and not 0 <= p <= prompt_bytes + TEMPLATE_TOKENS:
        rec.usage_rejected = f"prompt_tokens {p} impossible for a {prompt_bytes}-byte prompt"
    else:
        rec.output_tokens, rec.token_source = c, "usage"
        if p is not None:
            rec.input_tokens, rec.input_token_source = p, "usage"


class ErrorStreak:
    """Counts consecutive dead-server failures (timeouts, refused or dropped connections);
    ``note`` is set once *limit* of them happened in a row (``limit=0``: never)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.run = limit, 0
        self.note: str | None = None

    def record(self, rec: RequestRecord) -> None:
        if rec.error in _DEAD_KINDS:
            self.run += 1
            if self.limit and self.run >= self.limit and self.note is None:
                why = (
                    "the server stopped accepting connections"
                    if rec.error == "connect"
                    else "the server is not answering"
                )
                self.note = f"{why} ({self.run} requests in a row failed: {rec.error})"
        else:
            self.run = 0


async def run_concurrency(
    client: httpx.AsyncClient,
    target: Target,
    prompts: Sequence[Prompt],
    concurrency: int,
    progress: Progress | None = None,
    *,
    max_consecutive_errors: int = 3,
) -> PointRun:
    """Closed loop: *concurrency* workers send *prompts* back to back; no new request is sent
    once *max_consecutive_errors* dead-server failures happened in a row.

    Prompts of one ``conversation`` are one unit of work: its turns go in order, each sent with
    the earlier turns and the server's actual replies as history; after a failed turn the rest
    of that conversation is recorded as ``conversation_broken``, not sent.
    """
    records = [RequestRecord(i, 0.0) for i in range(len(prompts))]
    units: dict[object, list[int]] = {}
    for i, p in enumerate(prompts):
        units.setdefault(("c", p.conversation) if p.conversation is not None else i, []).append(i)
    queue = iter(list(units.values()))
    sent_prompts = list(prompts)
    streak = ErrorStreak(max_consecutive_errors)
    origin = time.perf_counter()
    cpu0 = time.thread_time()

    async def worker() -> None:
        for unit in queue:
            history: list[dict[str, Any]] = []
            for k, i in enumerate(unit):
                if streak.note:
                    return
                prompt = prompts[i]
                if len(unit) > 1:
                    prompt = Prompt((*history, *prompt.messages), prompt.max_tokens)
                    sent_prompts[i] = prompt
                rec = await send_one(client, target, prompt, records[i], origin)
                streak.record(rec)
                if progress is not None:
                    progress(rec)
                if not rec.ok:
                    for j in unit[k + 1 :]:
                        records[j].error = "conversation_broken"
                        records[j].error_detail = f"turn {k + 1} of this conversation failed"
                        records[j].sent = rec.sent
                    break
                history = [*prompt.messages, {"role": "assistant", "content": rec.text}]

    # More workers than units of work would only idle: one per unit at most.
    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(units))))))
    sent = [r for r in records if r.e2e is not None or r.error is not None]
    run = PointRun(sent, _duration(sent), time.thread_time() - cpu0, streak.note)
    run.extra["sent_prompts"] = sent_prompts
    return run


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
    max_consecutive_errors: int = 3,
    offsets: Sequence[float] | None = None,
) -> PointRun:
    """Open loop: send at gamma/Poisson arrival times (see ``arrival_offsets``), or at the given
    *offsets* (seconds from the start, a trace replay); no new request is sent once
    *max_consecutive_errors* dead-server failures happened in a row."""
    if offsets is None:
        offsets = arrival_offsets(len(prompts), rate, burstiness=burstiness, seed=seed)
    records = [RequestRecord(i, 0.0) for i in range(len(prompts))]
    gate = asyncio.Semaphore(max_concurrency) if max_concurrency else None
    streak = ErrorStreak(max_consecutive_errors)
    origin = time.perf_counter()
    cpu0 = time.thread_time()

    async def one(i: int) -> None:
        if gate is not None:
            await gate.acquire()
        try:
            if streak.note:
                return
            rec = await send_one(client, target, prompts[i], records[i], origin)
            streak.record(rec)
            if progress is not None:
                progress(rec)
        finally:
            if gate is not None:
                gate.release()

    tasks: list[asyncio.Task[None]] = []
    for i, due in enumerate(offsets):
        if streak.note:
            break
        wait = origin + due - time.perf_counter()
        while wait > 0 and not streak.note:  # wake up to notice an ended point
            await asyncio.sleep(min(wait, 0.5))
            wait = origin + due - time.perf_counter()
        if streak.note:
            break
        tasks.append(asyncio.create_task(one(i)))
    try:
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(*tasks, return_exceptions=True)
    sent = [r for r in records if r.e2e is not None or r.error is not None]
    return PointRun(sent, _duration(sent), time.thread_time() - cpu0, streak.note)


def _duration(records: Sequence[RequestRecord]) -> float:
    """First send → last completion (or failure) of the point, in seconds."""
    if not records:
        return 0.0
    end = max(r.sent + (r.e2e or 0.0) for r in records)
    return max(end - min(r.sent for r in records), 0.0)
