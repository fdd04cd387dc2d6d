"""What to do after each attempt of one logical request — written once for both clients.

Sans-I/O: the sync and async clients only send bytes, read lines and sleep; they hand every
outcome (a response, a transport exception, an SSE line, the end of a stream) to an
:class:`Exchange` / :class:`StreamExchange`, which answers "done", "raise this" or "sleep N
seconds and try again". Classification, the attempt budget, Retry-After and logging live here.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

import httpx

from fieldkit.nim import _payloads as payloads
from fieldkit.nim._base import logger, redact_url
from fieldkit.nim._errors import NIMError, NIMStreamError, _RetryableError
from fieldkit.nim._retry import Attempts, RetryPolicy

JSON_HEADERS = {"Content-Type": "application/json"}
Timeout = float | httpx.Timeout | None


def encode(body: Any) -> bytes:
    """Compact UTF-8 JSON for a request body."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def timeout_arg(timeout: Timeout) -> Any:
    """The httpx ``timeout=`` argument for a per-call override (``None`` → the client's)."""
    return timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT


class _Response(Protocol):
    """The parts of a (fully read) ``httpx.Response`` an exchange looks at."""

    @property
    def status_code(self) -> int: ...
    @property
    def text(self) -> str: ...
    @property
    def headers(self) -> httpx.Headers: ...


class Exchange:
    """Retry state of one logical request (one ``chat``/``embed`` batch/``models`` call)."""

    __slots__ = ("_attempts", "_what")

    def __init__(self, policy: RetryPolicy, what: str | httpx.URL) -> None:
        self._attempts = Attempts(policy)
        self._what = what

    def answered(self, response: _Response) -> float | None:
        """``None`` if *response* succeeded (status < 400); else seconds to wait before the next
        attempt. Raises the final error (``NIMHTTPError`` …, or ``NIMTimeoutError`` when the
        budget is spent)."""
        status = response.status_code
        if status < 400:
            return None
        error = payloads.classify_status(status, response.text, response.headers)
        assert error is not None
        return self._retry(error, None)

    def broke(self, exc: httpx.HTTPError) -> float:
        """A transport failure: seconds to wait, or raise (non-retryable / budget spent)."""
        return self._retry(payloads.classify_exception(exc), exc)

    def _retry(self, error: NIMError, cause: BaseException | None) -> float:
        if not isinstance(error, _RetryableError):
            raise error from cause
        error.__cause__ = cause  # NIMTimeoutError → last attempt's error → httpx exception
        delay = self._attempts.failed(error)
        logger.debug("retrying %s in %.2fs: %s", redact_url(str(self._what)), delay, error)
        return delay


class StreamExchange(Exchange):
    """An :class:`Exchange` for a streamed chat reply: also decodes the SSE lines.

    Failures before the first text delta are retried like any request; once text has been
    handed to the caller, a break raises ``NIMStreamError`` instead (never a silent retry that
    would repeat text, never a silent truncation).
    """

    __slots__ = ("_decoder", "_finished", "done", "yielded")

    def __init__(self, policy: RetryPolicy, what: str | httpx.URL) -> None:
        super().__init__(policy, what)
        self.yielded = 0
        self.done = False
        self._decoder = payloads.SSEDecoder()
        self._finished = False

    def begin(self) -> None:
        """A 2xx stream is starting (again): fresh decoder state."""
        self._decoder = payloads.SSEDecoder()
        self._finished = False

    def line(self, line: str) -> str | None:
        """Feed one line; returns a text delta to yield, else ``None`` (then ``done`` tells
        whether the ``[DONE]`` sentinel arrived and reading should stop). Feed ``""`` once at the
        end of the body: it completes a last event that had no blank line after it."""
        data = self._decoder.feed(line)
        if data is None:
            return None
        text, finished, done = payloads.stream_event(data)
        self._finished = self._finished or finished
        self.done = done
        if text:
            self.yielded += 1
        return text or None

    def ended(self) -> float | None:
        """The body ended (no ``[DONE]``): ``None`` if the reply had finished, else seconds to
        wait before retrying — or ``NIMStreamError`` once text was yielded."""
        if self._finished or self.done:
            return None
        if self.yielded:
            raise NIMStreamError(
                f"stream ended after {self.yielded} deltas without finishing",
                received=self.yielded,
            )
        return self._retry(_RetryableError("stream ended before the reply finished"), None)

    def broke(self, exc: httpx.HTTPError) -> float:
        if self.yielded:
            raise NIMStreamError(
                f"stream broke after {self.yielded} deltas: {exc}", received=self.yielded
            ) from exc
        return super().broke(exc)
