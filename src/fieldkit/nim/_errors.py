"""The errors ``fieldkit.nim`` raises on purpose; every one derives from :class:`NIMError`."""

from __future__ import annotations


class NIMError(Exception):
    """Base class for every error the NIM client raises deliberately."""


class NIMHTTPError(NIMError):
    """The server answered a non-retryable HTTP error (4xx other than 429, or an unknown 5xx).

    ``status_code`` is the HTTP status; ``body`` the full response text (``None`` if unread).
    """

    def __init__(self, message: str, *, status_code: int, body: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body


class NIMTimeoutError(NIMError):
    """The retry budget ran out. The last retryable error is the ``__cause__``.

    ``status_code`` is the last HTTP status seen (e.g. 429 vs 503), or ``None`` when the last
    failure was a transport error (timeout, refused or dropped connection); ``attempts`` is the
    number of requests made.
    """

    def __init__(
        self, message: str, *, status_code: int | None = None, attempts: int | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.attempts = attempts


class NIMServerError(NIMHTTPError, NIMTimeoutError):  # type: ignore[misc]
    """The server kept answering a retryable error status (429 or 5xx) until the retry budget ran
    out. ``status_code`` is the last status, ``body`` its full text, ``attempts`` the requests
    made. It is also a :class:`NIMTimeoutError`, so ``except NIMTimeoutError`` still catches an
    exhausted budget whatever its cause."""

    def __init__(self, message: str, *, status_code: int, body: str | None, attempts: int) -> None:
        NIMError.__init__(self, message)
        self.status_code = status_code
        self.body = body
        self.attempts = attempts


class NIMContextOverflowError(NIMError):
    """The request would not fit the model's context window; raised before any network call."""

    def __init__(self, *, estimated_tokens: int, ceiling: int) -> None:
        super().__init__(
            f"request estimated at {estimated_tokens} tokens; NIM ceiling is {ceiling}. "
            "Chunk inputs further (chunk_text(..., max_tokens=...)) or lower top-K."
        )
        self.estimated_tokens = estimated_tokens
        self.ceiling = ceiling


class NIMServerContextOverflowError(NIMContextOverflowError, NIMHTTPError):
    """The server rejected the request (HTTP 400) for exceeding its context window.

    Raised when the local estimate passed but the server's real tokenizer counted more; it is both
    a :class:`NIMContextOverflowError` and a :class:`NIMHTTPError` with status 400.
    """

    def __init__(self, *, estimated_tokens: int, ceiling: int, body: str) -> None:
        NIMError.__init__(
            self,
            f"NIM 400: the server counted {estimated_tokens} tokens; its context window is "
            f"{ceiling}. Chunk inputs further or pass a tokenizer-based token_counter.",
        )
        self.estimated_tokens = estimated_tokens
        self.ceiling = ceiling
        self.status_code = 400
        self.body = body


class NIMResponseError(NIMError, ValueError):
    """A success status with a body that is not the expected JSON (also a ``ValueError``, so
    code catching ``response.json()``'s error keeps working)."""


class NIMStreamError(NIMError):
    """A streamed reply broke after text had already been yielded (it is not retried, since
    the caller has consumed part of it). ``received`` is the number of deltas yielded."""

    def __init__(self, message: str, *, received: int) -> None:
        super().__init__(message)
        self.received = received


class _RetryableError(NIMError):
    """Internal: one failed attempt that may be retried. Becomes ``NIMTimeoutError.__cause__``."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
        body: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after
        self.body = body
