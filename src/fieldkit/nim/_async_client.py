"""``AsyncNIMClient``: the asyncio twin of ``NIMClient`` (same methods, same pure logic)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

from fieldkit.nim import _payloads as payloads
from fieldkit.nim._async_pool import AsyncClientPool
from fieldkit.nim._base import _NIMConfig, closed_error, logger, redact_url
from fieldkit.nim._errors import NIMError, NIMStreamError, _RetryableError
from fieldkit.nim._payloads import ChatMessage
from fieldkit.nim._retry import Attempts, RetryPolicy

_JSON_HEADERS = {"Content-Type": "application/json"}
_CONNECTIONS_PER_CLIENT = 4
Timeout = float | httpx.Timeout | None


def _encode(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(eq=False, repr=False)
class AsyncNIMClient(_NIMConfig):
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
                kwargs = self._client_kwargs(_CONNECTIONS_PER_CLIENT)
                return httpx.AsyncClient(verify=ssl_context, **kwargs)

            self._client = factory()
            self._endpoints: dict[str, httpx.URL] = {}
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

    async def __aenter__(self) -> AsyncNIMClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _http(self) -> httpx.AsyncClient:
        client = self._client
        if client is None:
            raise closed_error()
        return client

    # --- the retry loop ------------------------------------------------------------------------
    async def _request(
        self, method: str, url: str | httpx.URL, body: Any = None, timeout: Timeout = None
    ) -> httpx.Response:
        self._http()
        content = None if body is None else _encode(body)
        headers = _JSON_HEADERS if body is not None else None
        attempts = Attempts(self._policy)
        while True:
            try:
                self._http()
                with self._pool.lease() as client:
                    response = await client.request(
                        method,
                        url,
                        content=content,
                        headers=headers,
                        timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                    )
            except httpx.HTTPError as exc:
                error = payloads.classify_exception(exc)
                if not isinstance(error, _RetryableError):
                    raise error from exc
            else:
                status_error = payloads.classify_status(
                    response.status_code, response.text, response.headers
                )
                if status_error is None:
                    return response
                if not isinstance(status_error, _RetryableError):
                    raise status_error
                error = status_error
            delay = attempts.failed(error)
            logger.debug("retrying %s %s in %.2fs: %s", method, redact_url(str(url)), delay, error)
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
        response = await self._request("POST", self._endpoint("/chat/completions"), body, timeout)
        return payloads.parse_object(response.content, "chat response")

    def chat_stream(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        model: str | None = None,
        timeout: Timeout = None,
        **extra: Any,
    ) -> AsyncIterator[str]:
        """As :meth:`NIMClient.chat_stream`, as an async iterator (validation happens now)."""
        self._http()
        body = self._chat_body(messages, max_tokens, temperature, model, extra, stream=True)
        return self._stream(_encode(body), timeout)

    async def _stream(self, content: bytes, timeout: Timeout) -> AsyncIterator[str]:
        attempts = Attempts(self._policy)
        yielded = 0
        while True:
            self._http()
            error: NIMError
            try:
                with self._pool.lease() as client:
                    async with client.stream(
                        "POST",
                        self._endpoint("/chat/completions"),
                        content=content,
                        headers=_JSON_HEADERS,
                        timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                    ) as response:
                        if response.status_code >= 400:
                            await response.aread()
                            status_error = payloads.classify_status(
                                response.status_code, response.text, response.headers
                            )
                            assert status_error is not None
                            error = status_error
                        else:
                            decoder = payloads.SSEDecoder()
                            finished = False
                            async for line in response.aiter_lines():
                                data = decoder.feed(line)
                                if data is None:
                                    continue
                                text, fin, done = payloads.stream_event(data)
                                finished = finished or fin
                                if done:
                                    return
                                if text:
                                    yielded += 1
                                    yield text
                            if finished:
                                return
                            error = _RetryableError("stream ended before the reply finished")
                            if yielded:
                                raise NIMStreamError(
                                    f"stream ended after {yielded} deltas without finishing",
                                    received=yielded,
                                )
            except httpx.HTTPError as exc:
                if yielded:
                    raise NIMStreamError(
                        f"stream broke after {yielded} deltas: {exc}", received=yielded
                    ) from exc
                error = payloads.classify_exception(exc)
                if not isinstance(error, _RetryableError):
                    raise error from exc
            if not isinstance(error, _RetryableError):
                raise error
            delay = attempts.failed(error)
            logger.debug("retrying stream in %.2fs: %s", delay, error)
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
            payload = payloads.parse_object(response.content, "embedding response")
            vectors.extend(payloads.parse_embeddings(payload, len(body["input"])))
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
            payload = payloads.parse_object(response.content, "ranking response")
            merged.extend(payloads.parse_rankings(payload, count, offset))
        return payloads.merge_rankings(merged, top_n)

    async def models(self, *, timeout: Timeout = None) -> list[str]:
        """As :meth:`NIMClient.models`."""
        response = await self._request("GET", self._endpoint("/models"), None, timeout)
        return payloads.parse_model_ids(payloads.parse_object(response.content, "models response"))
