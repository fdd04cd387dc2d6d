"""``NIMClient``: the synchronous OpenAI-compatible client."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from fieldkit._managed import Closes
from fieldkit.nim import _payloads as payloads
from fieldkit.nim._base import _NIMConfig, closed_error
from fieldkit.nim._deadline import bounded, transport
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
from fieldkit.nim._streams import ChatStream


@dataclass(eq=False, repr=False)
class NIMClient(_NIMConfig, Closes):
    """Synchronous client for a NIM (or any OpenAI-compatible) endpoint.

    ``NIMClient(base_url, model, api_key="local", timeout=60.0, max_retries=4)`` positionally, plus
    keyword-only settings (context window, token counter, backoff, embedding/rerank models). One
    pooled keep-alive ``httpx.Client`` is shared by all calls; it is thread-safe, so one client
    may serve many threads. ``api_key`` never appears in ``repr``.
    """

    _client: httpx.Client | None = field(default=None)

    def __post_init__(self) -> None:
        self._policy: RetryPolicy = self._configure()
        self._lock = threading.Lock()
        if self._client is None:
            self._client = httpx.Client(
                transport=transport(limits=self._limits()), **self._client_kwargs()
            )
            self._endpoints = {}

    # --- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        """Close the HTTP connection pool; idempotent and safe to call from several threads."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _http(self) -> httpx.Client:
        client = self._client
        if client is None:
            raise closed_error()
        return client

    # --- I/O only: every decision is the shared Exchange's ----------------------------------
    def _request(
        self, method: str, url: str | httpx.URL, body: Any = None, timeout: Timeout = None
    ) -> httpx.Response:
        """Send with retries; return the first response with status < 400."""
        client = self._http()
        content = None if body is None else encode(body)
        headers = JSON_HEADERS if body is not None else None
        exchange = Exchange(self._policy, url, self._budget(timeout))
        delay: float | None
        while True:
            try:
                with bounded(exchange.attempt()):
                    response = client.request(
                        method, url, content=content, headers=headers, timeout=timeout_arg(timeout)
                    )
            except httpx.HTTPError as exc:
                delay = exchange.broke(exc)
            else:
                delay = exchange.answered(response)
                if delay is None:
                    return response
            time.sleep(delay)

    # --- chat, health, warm-up ---------------------------------------------------------------
    def health(self) -> bool:
        """``True`` iff ``GET {base_url}/models`` answers 200 (one attempt, never raises for
        transport errors). A closed client raises ``NIMError("client closed")``."""
        client = self._http()
        try:
            return client.get("/models").status_code == 200
        except httpx.HTTPError:
            return False

    def chat(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        model: str | None = None,
        timeout: Timeout = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """POST ``/chat/completions`` and return the parsed chat.completion dict.

        Preflight first (``NIMContextOverflowError``, no request made); retries 429/5xx and
        transport failures; ``NIMHTTPError`` for other 4xx; ``NIMTimeoutError`` when retries run
        out. ``extra`` kwargs go into the body (e.g. ``top_p``, ``stop``, ``tools``); ``model``
        and ``timeout`` override the client's for this call.
        """
        self._http()
        body = self._chat_body(messages, max_tokens, temperature, model, extra)
        self._preflight(body, max_tokens, extra)
        response = self._request("POST", self._endpoint("/chat/completions"), body, timeout)
        return payloads.chat_result(response.content)

    # --- preflight: the decisions are _NIMConfig's, the requests are made here ----------------
    def _preflight(self, body: dict[str, Any], max_tokens: int, extra: dict[str, Any]) -> None:
        """Refuse (``NIMContextOverflowError``, no chat request) a prompt over the window."""
        if self.context_window is None:
            return
        texts, fixed, estimate = self._estimate(body["messages"], max_tokens, extra)
        if self._needs_window(estimate):
            self._learn_window(self._fetch_window())
        tokens = estimate
        if self._needs_count(estimate):
            counted = self._count_texts(texts)
            tokens = estimate if counted is None else fixed + counted
        self._judge(tokens)

    def _fetch_window(self) -> int | None:
        """The server's context window (``/models``, then llama-server's ``/props``), or ``None``;
        one attempt each, never raises."""
        quick = min(self.timeout, 10.0)
        for path in (self.base_url + "/models", self._root_url() + "/props"):
            try:
                with bounded(Exchange(self._policy, path, quick).attempt()):
                    response = self._http().get(path, timeout=quick)
                if response.status_code == 200:
                    found = payloads.context_window_from_payload(
                        payloads.parse_json(response.content), self.model
                    )
                    if found is not None:
                        return found
            except (httpx.HTTPError, NIMError):
                continue
        return None

    def _count_texts(self, texts: list[str]) -> int | None:
        """Total tokens of *texts* by the server's ``/tokenize``, or ``None`` where it has none
        (remembered: it is not asked again)."""
        if self._tokenize is False:
            return None
        total = 0
        url = self._root_url() + "/tokenize"
        quick = min(self.timeout, 10.0)
        try:
            for text in texts:
                if not text:
                    continue
                with bounded(Exchange(self._policy, url, quick).attempt()):
                    response = self._http().post(
                        url,
                        content=encode(payloads.tokenize_body(text)),
                        headers=JSON_HEADERS,
                        timeout=quick,
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

    def count_tokens(self, text: str) -> int:
        """Tokens in *text* by the server's tokenizer (``POST /tokenize``, llama-server and vLLM),
        or the chars/4 estimate when the server has no such endpoint (or ``server_tokens`` is
        off). Usable as ``chunk_text(..., counter=client.count_tokens)``."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        counted = self._count_texts([text]) if self.server_tokens else None
        return self.token_counter(text) if counted is None else counted

    # --- streaming, embeddings, reranking, batches -------------------------------------------
    def chat_stream(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        model: str | None = None,
        timeout: Timeout = None,
        **extra: Any,
    ) -> ChatStream:
        """Stream the reply as text deltas (server-sent events).

        Validation and the preflight happen at the call. Failures before the first delta are
        retried like ``chat``; a stream that breaks after text was yielded raises
        ``NIMStreamError`` (never silently truncated). ``close()`` the returned stream (or use it
        in a ``with``) to stop early.
        """
        self._http()
        body = self._chat_body(messages, max_tokens, temperature, model, extra, stream=True)
        self._preflight(body, max_tokens, extra)
        return ChatStream(self._stream(encode(body), timeout))

    def _stream(self, content: bytes, timeout: Timeout) -> Generator[str, None, None]:
        url = self._endpoint("/chat/completions")
        exchange = StreamExchange(self._policy, url, self._budget(timeout), self._idle(timeout))
        while True:
            client = self._http()
            request = client.build_request(
                "POST", url, content=content, headers=JSON_HEADERS, timeout=timeout_arg(timeout)
            )
            response: httpx.Response | None = None
            try:
                deadline = exchange.attempt()
                with bounded(deadline):
                    response = client.send(request, stream=True)
                if response.status_code >= 400:
                    with bounded(deadline):
                        response.read()
                    delay = exchange.answered(response)
                else:
                    exchange.begin()
                    lines = response.iter_lines()
                    while True:
                        # the deadline is active only while reading, never across a yield
                        with bounded(exchange.deadline):
                            line = next(lines, None)
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
                    response.close()
            if delay is None:
                return
            time.sleep(delay)

    def chat_many(
        self,
        requests: Iterable[list[ChatMessage] | dict[str, Any]],
        *,
        concurrency: int = 8,
        **defaults: Any,
    ) -> list[dict[str, Any] | Exception]:
        """Run many ``chat`` calls with at most *concurrency* in flight.

        Each request is a message list or a dict of ``chat`` kwargs (with ``messages``); *defaults*
        apply to every request. Results come back in input order; a failed item holds its
        exception instead of aborting the batch.
        """
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self._http()
        items = list(requests)

        def one(item: Any) -> dict[str, Any] | Exception:
            try:
                kwargs = payloads.normalize_request(item, defaults)
                return self.chat(**kwargs)
            except Exception as exc:  # per-item errors are the contract
                return exc

        if not items:
            return []
        with ThreadPoolExecutor(max_workers=min(concurrency, len(items))) as pool:
            return list(pool.map(one, items))

    def embed(
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
        """Embed *texts* via ``POST /embeddings`` (NIM: ``input_type`` ``"passage"``/``"query"``).

        Sent in batches of *batch_size*, each retried like ``chat``; one vector per text, in
        input order. ``model`` defaults to the client's ``embed_model``, else ``model``.
        """
        self._http()
        bodies = self._embed_batches(texts, input_type, model, batch_size, dimensions, truncate)
        vectors: list[list[float]] = []
        for body in bodies:
            response = self._request("POST", self._endpoint("/embeddings"), body, timeout)
            vectors.extend(
                payloads.embeddings_result(response.content, len(body["input"]), dimensions)
            )
        return vectors

    def rerank(
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
        """Score *passages* against *query* with NIM's ranking endpoint.

        Returns ``[{"index": i, "logit": float}, ...]`` sorted by logit descending (ties by
        index), ``index`` pointing into *passages*; cut to *top_n* if given. POSTs
        ``{model, query: {text}, passages: [{text}]}`` to *url*, else the client's
        ``rerank_url``, else ``{base_url}/ranking``; large lists go in batches.
        """
        self._http()
        batches = self._rank_batches(query, passages, model, batch_size, truncate, top_n)
        target = self._rank_url(url)
        merged: list[dict[str, Any]] = []
        for offset, count, body in batches:
            response = self._request("POST", target, body, timeout)
            merged.extend(payloads.rankings_result(response.content, count, offset))
        return payloads.merge_rankings(merged, top_n)

    def models(self, *, timeout: Timeout = None) -> list[str]:
        """Ids of the models the server offers (``GET /models``, retried like ``chat``)."""
        response = self._request("GET", self._endpoint("/models"), None, timeout)
        return payloads.model_ids_result(response.content)
