"""``AsyncNIMClient``: the asyncio twin of ``NIMClient`` (same methods, same pure logic)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from fieldkit._managed import AsyncCloses
from fieldkit.nim import _payloads as payloads
from fieldkit.nim._async_pool import AsyncClientPool
from fieldkit.nim._base import _NIMConfig, closed_error
from fieldkit.nim._deadline import async_transport, bounded
from fieldkit.nim._errors import NIMError
from fieldkit.nim._exchange import (
    JSON_HEADERS,
    Exchange,
    StreamExchange,
    Timeout,
    encode,
    timeout_arg,
)
from fieldkit.nim._payloads import ChatMessage
from fieldkit.nim._retry import RetryPolicy
from fieldkit.nim._streams import AsyncChatStream

_CONNECTIONS_PER_CLIENT = 4


@dataclass(eq=False, repr=False)
class AsyncNIMClient(_NIMConfig, AsyncCloses):
    """Asynchronous client: ``await client.chat(...)``, ``async for d in client.chat_stream(...)``.

    Same constructor, defaults, preflight, retry policy and errors as :class:`NIMClient`; one
    pooled ``httpx.AsyncClient``. Use ``async with`` or ``await client.aclose()``.
    """

    _client: httpx.AsyncClient | None = field(default=None)

    def __post_init__(self) -> None:
        self._policy: RetryPolicy = self._configure()
        factory = None
        if self._client is None:
            ssl_context = httpx.create_ssl_context()  # loaded once, shared by every shard

            def factory() -> httpx.AsyncClient:
                limits = self._limits(_CONNECTIONS_PER_CLIENT)
                wire = async_transport(verify=ssl_context, limits=limits)
                return httpx.AsyncClient(transport=wire, **self._client_kwargs())

            self._client = factory()
            self._endpoints = {}
        self._pool = AsyncClientPool(
            self._client,
            factory,
            per_client=_CONNECTIONS_PER_CLIENT,
            max_clients=-(-self.max_connections // _CONNECTIONS_PER_CLIENT),
        )

    # --- lifecycle ---------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Close the connection pool; idempotent."""
        client, self._client = self._client, None
        if client is not None:
            await self._pool.aclose()

    async def close(self) -> None:
        """Alias of :meth:`aclose`."""
        await self.aclose()

    def _http(self) -> httpx.AsyncClient:
        client = self._client
        if client is None:
            raise closed_error()
        return client

    # --- I/O only: every decision is the shared Exchange's ----------------------------------
    async def _request(
        self, method: str, url: str | httpx.URL, body: Any = None, timeout: Timeout = None
    ) -> httpx.Response:
        """Send with retries; return the first response with status < 400."""
        self._http()
        content = None if body is None else encode(body)
        headers = JSON_HEADERS if body is not None else None
        exchange = Exchange(self._policy, url, self._budget(timeout))
        delay: float | None
        while True:
            self._http()
            try:
                with self._pool.lease() as client, bounded(exchange.attempt()):
                    response = await client.request(
                        method, url, content=content, headers=headers, timeout=timeout_arg(timeout)
                    )
            except httpx.HTTPError as exc:
                delay = exchange.broke(exc)
            else:
                delay = exchange.answered(response)
                if delay is None:
                    return response
            await asyncio.sleep(delay)

    # --- API -----------------------------------------------------------------------------------
    async def health(self) -> bool:
        """``True`` iff ``GET {base_url}/models`` answers 200 (one attempt)."""
        client = self._http()
        try:
            return (await client.get("/models")).status_code == 200
        except httpx.HTTPError:
            return False

    async def chat(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        model: str | None = None,
        timeout: Timeout = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """As :meth:`NIMClient.chat`."""
        self._http()
        body = self._chat_body(messages, max_tokens, temperature, model, extra)
        await self._preflight(body, max_tokens, extra)
        response = await self._request("POST", self._endpoint("/chat/completions"), body, timeout)
        return payloads.chat_result(response.content)

    # --- preflight: the decisions are _NIMConfig's, the requests are made here ----------------
    def _preflight_now(self, body: dict[str, Any], max_tokens: int, extra: Any) -> bool:
        """Judge at once when no request is needed to decide; ``False`` if one is."""
        if self.context_window is None:
            return True
        _, _, estimate = self._estimate(body["messages"], max_tokens, extra)
        if self._needs_window(estimate) or self._needs_count(estimate):
            return False
        self._judge(estimate)
        return True

    async def _preflight(self, body: dict[str, Any], max_tokens: int, extra: Any) -> None:
        """As :meth:`NIMClient._preflight`."""
        if self.context_window is None:
            return
        texts, fixed, estimate = self._estimate(body["messages"], max_tokens, extra)
        if self._needs_window(estimate):
            self._learn_window(await self._fetch_window())
        tokens = estimate
        if self._needs_count(estimate):
            counted = await self._count_texts(texts)
            tokens = estimate if counted is None else fixed + counted
        self._judge(tokens)

    async def _get_quick(self, url: str, body: Any = None) -> httpx.Response:
        quick = min(self.timeout, 10.0)
        with self._pool.lease() as client, bounded(Exchange(self._policy, url, quick).attempt()):
            if body is None:
                return await client.get(url, timeout=quick)
            return await client.post(url, content=encode(body), headers=JSON_HEADERS, timeout=quick)

    async def _fetch_window(self) -> int | None:
        """As :meth:`NIMClient._fetch_window`."""
        for path in (self.base_url + "/models", self._root_url() + "/props"):
            try:
                response = await self._get_quick(path)
                if response.status_code == 200:
                    found = payloads.context_window_from_payload(
                        payloads.parse_json(response.content), self.model
                    )
                    if found is not None:
                        return found
            except (httpx.HTTPError, NIMError):
                continue
        return None

    async def _count_texts(self, texts: list[str]) -> int | None:
        """As :meth:`NIMClient._count_texts`."""
        if self._tokenize is False:
            return None
        total = 0
        try:
            for text in texts:
                if not text:
                    continue
                response = await self._get_quick(
                    self._root_url() + "/tokenize", payloads.tokenize_body(text)
                )
                if response.status_code != 200:
                    self._tokenize = False
                    return None
                total += payloads.token_count_result(response.content)
        except (httpx.HTTPError, NIMError):
            self._tokenize = False
            return None
        self._tokenize = True
        return total

    async def count_tokens(self, text: str) -> int:
        """As :meth:`NIMClient.count_tokens`."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        counted = await self._count_texts([text]) if self.server_tokens else None
        return self.token_counter(text) if counted is None else counted

    def chat_stream(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        model: str | None = None,
        timeout: Timeout = None,
        **extra: Any,
    ) -> AsyncChatStream:
        """As :meth:`NIMClient.chat_stream`, as an async iterator (validation happens now). To
        stop early, use ``async with client.chat_stream(...) as stream:`` or ``aclose()`` it."""
        self._http()
        body = self._chat_body(messages, max_tokens, temperature, model, extra, stream=True)
        judged = self._preflight_now(body, max_tokens, extra)
        check = None if judged else (body, max_tokens, extra)
        return AsyncChatStream(self._stream(encode(body), timeout, check))

    async def _stream(
        self, content: bytes, timeout: Timeout, check: tuple[Any, int, Any] | None = None
    ) -> AsyncGenerator[str, None]:
        if check is not None:  # the preflight needed the server: judged at the first iteration
            await self._preflight(*check)
        url = self._endpoint("/chat/completions")
        exchange = StreamExchange(self._policy, url, self._budget(timeout), self._idle(timeout))
        while True:
            self._http()
            response: httpx.Response | None = None
            try:
                with self._pool.lease() as client:
                    request = client.build_request(
                        "POST",
                        url,
                        content=content,
                        headers=JSON_HEADERS,
                        timeout=timeout_arg(timeout),
                    )
                    deadline = exchange.attempt()
                    with bounded(deadline):
                        response = await client.send(request, stream=True)
                    if response.status_code >= 400:
                        with bounded(deadline):
                            await response.aread()
                        delay = exchange.answered(response)
                    else:
                        exchange.begin()
                        lines = response.aiter_lines()
                        while True:
                            # the deadline is active only while reading, never across a yield
                            with bounded(exchange.deadline):
                                line = await anext(lines, None)
                            if line is None:
                                break
                            text = exchange.line(line)
                            if text is not None:
                                yield text
                            elif exchange.done:
                                return
                        tail = exchange.line("")  # a last event with no blank line after it
                        if tail is not None:
                            yield tail
                        delay = exchange.ended()
            except httpx.HTTPError as exc:
                delay = exchange.broke(exc)
            finally:
                if response is not None:
                    await response.aclose()
            if delay is None:
                return
            await asyncio.sleep(delay)

    async def chat_many(
        self,
        requests: Iterable[list[ChatMessage] | dict[str, Any]],
        *,
        concurrency: int = 8,
        **defaults: Any,
    ) -> list[dict[str, Any] | Exception]:
        """As :meth:`NIMClient.chat_many`: bounded concurrency, input order, per-item errors."""
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self._http()
        items = list(requests)
        gate = asyncio.Semaphore(concurrency)

        async def one(item: Any) -> dict[str, Any] | Exception:
            async with gate:
                try:
                    kwargs = payloads.normalize_request(item, defaults)
                    return await self.chat(**kwargs)
                except Exception as exc:  # per-item errors are the contract
                    return exc

        return list(await asyncio.gather(*(one(item) for item in items)))

    async def embed(
        self,
        texts: str | list[str],
        *,
        input_type: str = "passage",
        model: str | None = None,
        batch_size: int = 64,
        dimensions: int | None = None,
        truncate: str | None = "END",
        timeout: Timeout = None,
    ) -> list[list[float]]:
        """As :meth:`NIMClient.embed`."""
        self._http()
        bodies = self._embed_batches(texts, input_type, model, batch_size, dimensions, truncate)
        vectors: list[list[float]] = []
        for body in bodies:
            response = await self._request("POST", self._endpoint("/embeddings"), body, timeout)
            vectors.extend(
                payloads.embeddings_result(response.content, len(body["input"]), dimensions)
            )
        return vectors

    async def rerank(
        self,
        query: str,
        passages: list[str] | list[dict[str, Any]],
        *,
        model: str | None = None,
        top_n: int | None = None,
        batch_size: int = 512,
        truncate: str | None = None,
        url: str | None = None,
        timeout: Timeout = None,
    ) -> list[dict[str, Any]]:
        """As :meth:`NIMClient.rerank`."""
        self._http()
        batches = self._rank_batches(query, passages, model, batch_size, truncate, top_n)
        target = self._rank_url(url)
        merged: list[dict[str, Any]] = []
        for offset, count, body in batches:
            response = await self._request("POST", target, body, timeout)
            merged.extend(payloads.rankings_result(response.content, count, offset))
        return payloads.merge_rankings(merged, top_n)

    async def models(self, *, timeout: Timeout = None) -> list[str]:
        """As :meth:`NIMClient.models`."""
        response = await self._request("GET", self._endpoint("/models"), None, timeout)
        return payloads.model_ids_result(response.content)
