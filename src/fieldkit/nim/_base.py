"""Configuration and pure per-call preparation shared by ``NIMClient`` and ``AsyncNIMClient``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from fieldkit.nim import _payloads as payloads
from fieldkit.nim._errors import NIMError
from fieldkit.nim._retry import RetryPolicy
from fieldkit.nim._tokens import (
    DEFAULT_CHUNK_TOKENS,
    TokenCounter,
    chunk_text,
    estimate_tokens,
)

NIM_CONTEXT_WINDOW: int = 8192
"""The preflight's context window when the server does not report one (or none is given)."""

UNDERCOUNT_FACTOR = 4
"""How far the chars/4 estimate can under-count (digit-heavy text: ~4×). A prompt whose estimate
is within this factor of the window is counted exactly by the server when it can."""

INPUT_TYPES = ("passage", "query")

logger = logging.getLogger("fieldkit.nim")


def redact_url(url: str) -> str:
    """*url* with any password replaced by ``***`` (for repr and logs)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return url
    if parsed.password:
        return str(parsed.copy_with(password="***"))
    return url


@dataclass(eq=False, repr=False)
class _NIMConfig:
    """Fields common to both clients; the first five are the positional ``NIMClient`` arguments."""

    base_url: str
    model: str
    api_key: str = "local"
    timeout: float = 60.0
    max_retries: int = 4
    context_window: int | Literal["auto"] | None = field(default="auto", kw_only=True)
    token_counter: TokenCounter = field(default=estimate_tokens, kw_only=True)
    server_tokens: bool = field(default=True, kw_only=True)
    stream_idle_timeout: float | None = field(default=None, kw_only=True)
    reserve_completion: bool = field(default=True, kw_only=True)
    backoff_base: float = field(default=0.5, kw_only=True)
    backoff_max: float = field(default=8.0, kw_only=True)
    jitter: bool = field(default=True, kw_only=True)
    max_retry_after: float = field(default=60.0, kw_only=True)
    embed_model: str | None = field(default=None, kw_only=True)
    rerank_model: str | None = field(default=None, kw_only=True)
    rerank_url: str | None = field(default=None, kw_only=True)
    max_connections: int = field(default=100, kw_only=True)
    # Absolute-URL cache when the client owns its pool; None when the caller supplied its own
    # ``_client`` (then paths stay relative so that client's base URL applies).
    _endpoints: dict[str, httpx.URL] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    chunk = staticmethod(chunk_text)

    def _configure(self) -> RetryPolicy:
        """Validate fields, normalise ``base_url``; return the retry policy."""
        if not isinstance(self.base_url, str) or not self.base_url.strip():
            raise ValueError("base_url must be a non-empty URL string")
        self.base_url = self.base_url.rstrip("/")
        if not isinstance(self.model, str) or not self.model:
            raise ValueError("model must be a non-empty string")
        if not self.timeout or self.timeout <= 0:
            raise ValueError(f"timeout must be positive seconds, got {self.timeout!r}")
        window = self.context_window
        if (
            window != "auto"
            and window is not None
            and (isinstance(window, bool) or not isinstance(window, int) or window <= 0)
        ):
            raise ValueError(
                f"context_window must be a positive int, 'auto' or None, got {window!r}"
            )
        idle = self.stream_idle_timeout
        if idle is not None and not idle > 0:
            raise ValueError(f"stream_idle_timeout must be positive seconds or None, got {idle!r}")
        self._window: int | None = window if isinstance(window, int) else None
        self._discovered = window != "auto"
        self._tokenize: bool | None = None if self._counts_remotely() else False
        if self.max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {self.max_connections}")
        return RetryPolicy(
            max_retries=self.max_retries,
            backoff_base=self.backoff_base,
            backoff_max=self.backoff_max,
            jitter=self.jitter,
            max_retry_after=self.max_retry_after,
        )

    def _client_kwargs(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "headers": {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"},
            "timeout": self.timeout,
        }

    def _limits(self, max_connections: int | None = None) -> httpx.Limits:
        connections = max_connections or self.max_connections
        return httpx.Limits(max_connections=connections, max_keepalive_connections=connections)

    # --- deadlines ---------------------------------------------------------------------------
    def _budget(self, timeout: Any) -> float | None:
        """Seconds one attempt may take (the per-call ``timeout``, else the client's)."""
        from fieldkit.nim._exchange import attempt_budget  # _exchange imports this module

        return attempt_budget(timeout, self.timeout)

    def _idle(self, timeout: Any) -> float | None:
        """A stream's idle limit: ``stream_idle_timeout``, else the attempt budget."""
        if self.stream_idle_timeout is not None:
            return self.stream_idle_timeout
        return self._budget(timeout)

    # --- context window and token counts (decisions only; the clients do the I/O) -------------
    def _counts_remotely(self) -> bool:
        return self.server_tokens and self.token_counter is estimate_tokens

    def _root_url(self) -> str:
        """The server root: ``base_url`` without a trailing ``/v1`` (``/tokenize``, ``/props``)."""
        base = self.base_url
        return base[: -len("/v1")] if base.endswith("/v1") else base

    def _estimate(
        self, items: list[payloads.ChatMessage], max_tokens: int, extra: Mapping[str, Any]
    ) -> tuple[list[str], int, int]:
        """``(texts, fixed, estimate)``: the prompt texts to count, the tokens not in them
        (message overhead, reserved completion) and the local estimate of the total."""
        texts, fixed = payloads.prompt_parts(
            items, max_tokens, reserve_completion=self.reserve_completion, extra=extra
        )
        return texts, fixed, fixed + sum(self.token_counter(t) for t in texts)

    def _needs_window(self, estimate: int) -> bool:
        """Whether the window must be asked of the server before judging *estimate*: only for
        prompts that could overflow the smallest window in use today."""
        return not self._discovered and estimate * UNDERCOUNT_FACTOR > NIM_CONTEXT_WINDOW // 2

    def _learn_window(self, window: int | None) -> None:
        self._discovered = True
        if window is not None:
            self._window = window

    def _window_in_force(self) -> int | None:
        if self.context_window is None:
            return None
        return self._window if self._window is not None else NIM_CONTEXT_WINDOW

    def _needs_count(self, estimate: int) -> bool:
        """Whether to count the prompt with the server (``/tokenize``) before judging it."""
        window = self._window_in_force()
        return (
            window is not None
            and self._tokenize is not False
            and estimate * UNDERCOUNT_FACTOR > window
        )

    def _judge(self, tokens: int) -> None:
        """Raise ``NIMContextOverflowError`` when *tokens* exceed the window in force."""
        payloads.check_window(tokens, self._window_in_force())

    @property
    def discovered_context_window(self) -> int | None:
        """The window the preflight uses once known: the given one, or the server's after
        discovery (``None`` before discovery or when the server reports none)."""
        return self._window

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={redact_url(self.base_url)!r}, model={self.model!r}, "
            f"timeout={self.timeout!r}, max_retries={self.max_retries!r}, "
            f"context_window={self.context_window!r})"
        )

    # --- pure per-call preparation ---------------------------------------------------------
    def _chat_body(
        self,
        messages: Any,
        max_tokens: int,
        temperature: float,
        model: str | None,
        extra: Mapping[str, Any],
        *,
        stream: bool = False,
    ) -> dict[str, Any]:
        """Validate and build the body (the preflight is the clients' ``_preflight``)."""
        items = payloads.check_messages(messages)
        payloads.check_max_tokens(max_tokens)
        return payloads.chat_body(
            model or self.model, items, max_tokens, temperature, extra, stream=stream
        )

    def _embed_batches(
        self,
        texts: Any,
        input_type: str,
        model: str | None,
        batch_size: int,
        dimensions: int | None,
        truncate: str | None,
    ) -> list[dict[str, Any]]:
        items = payloads.check_texts(texts)
        if input_type not in INPUT_TYPES:
            raise ValueError(f"input_type must be 'passage' or 'query', got {input_type!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        name = model or self.embed_model or self.model
        return [
            payloads.embed_body(
                name,
                items[i : i + batch_size],
                input_type,
                dimensions=dimensions,
                truncate=truncate,
            )
            for i in range(0, len(items), batch_size)
        ]

    def _rank_batches(
        self,
        query: str,
        passages: Any,
        model: str | None,
        batch_size: int,
        truncate: str | None,
        top_n: int | None,
    ) -> list[tuple[int, int, dict[str, Any]]]:
        """``(offset, count, body)`` per batch of passages."""
        if not isinstance(query, str):
            raise TypeError("query must be a str")
        items = payloads.check_passages(passages)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if top_n is not None and top_n < 0:
            raise ValueError(f"top_n must be >= 0 or None, got {top_n}")
        name = model or self.rerank_model or self.model
        return [
            (
                i,
                len(items[i : i + batch_size]),
                payloads.rank_body(name, query, items[i : i + batch_size], truncate),
            )
            for i in range(0, len(items), batch_size)
        ]

    def _rank_url(self, url: str | None) -> str | httpx.URL:
        return url or self.rerank_url or self._endpoint("/ranking")

    def _endpoint(self, path: str) -> str | httpx.URL:
        """Absolute URL of *path*, parsed once (saves httpx a URL join per request). Relative
        when the caller supplied its own ``_client`` (its base URL then applies)."""
        cache = self._endpoints
        if cache is None:
            return path
        url = cache.get(path)
        if url is None:
            url = cache[path] = httpx.URL(self.base_url + path)
        return url


def closed_error() -> NIMError:
    return NIMError("client closed")


__all__ = ["DEFAULT_CHUNK_TOKENS", "NIM_CONTEXT_WINDOW", "closed_error", "logger", "redact_url"]
