"""What to do after each attempt of one logical request — written once for both clients.

Sans-I/O: the sync and async clients only send bytes, read lines and sleep; they hand every
outcome (a response, a transport exception, an SSE line, the end of a stream) to an
:class:`Exchange` / :class:`StreamExchange`, which answers "done", "raise this" or "sleep N
seconds and try again". Classification, the attempt budget, Retry-After, logging and the
deadlines live here.

Deadlines: a numeric ``timeout`` bounds each attempt as a whole, connect to last byte
(:meth:`Exchange.attempt` starts a :class:`Deadline` the client activates around its socket
I/O). A stream gets ``timeout`` to deliver its headers, then an idle limit: at most
``idle_timeout`` seconds between data events — keep-alive comments and bytes that do not
complete an event do not count as progress.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, Protocol

import httpx

from fieldkit.nim import _payloads as payloads
from fieldkit.nim._base import logger, redact_url
from fieldkit.nim._errors import NIMError, NIMResponseError, NIMStreamError, _RetryableError
from fieldkit.nim._retry import Attempts, RetryPolicy

JSON_HEADERS = {"Content-Type": "application/json"}
Timeout = float | httpx.Timeout | None


def encode(body: Any) -> bytes:
    """Compact UTF-8 JSON for a request body."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def timeout_arg(timeout: Timeout) -> Any:
    """The httpx ``timeout=`` argument for a per-call override (``None`` → the client's)."""
    return timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT


def attempt_budget(timeout: Timeout, default: float | None) -> float | None:
    """Seconds one attempt may take: a number as given; an ``httpx.Timeout`` → its largest
    phase limit (``None`` if it has none); ``None`` → *default* (the client's ``timeout``)."""
    if timeout is None:
        return default
    if isinstance(timeout, httpx.Timeout):
        limits = [t for t in (timeout.connect, timeout.read, timeout.write, timeout.pool) if t]
        return max(limits) if limits else None
    return float(timeout)


class Deadline:
    """A moment on the monotonic clock by which a blocking step must be done (``None``: never).

    ``what`` names the limit for the error message. :meth:`extend` moves it to *seconds* from
    now (a stream's idle limit restarting after progress).
    """

    __slots__ = ("_clock", "at", "what")

    def __init__(
        self,
        seconds: float | None,
        what: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self.what = what
        self.at = None if seconds is None else clock() + seconds

    def remaining(self) -> float | None:
        """Seconds left (may be ≤ 0), or ``None`` for no limit."""
        return None if self.at is None else self.at - self._clock()

    def expired(self) -> bool:
        left = self.remaining()
        return left is not None and left <= 0

    def extend(self, seconds: float | None, what: str) -> None:
        self.what = what
        self.at = None if seconds is None else self._clock() + seconds


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

    __slots__ = ("_attempts", "_budget", "_clock", "_what", "deadline")

    def __init__(
        self,
        policy: RetryPolicy,
        what: str | httpx.URL,
        budget: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._attempts = Attempts(policy)
        self._what = what
        self._budget = budget
        self._clock = clock
        self.deadline = Deadline(None, "", clock)

    def attempt(self) -> Deadline:
        """Start an attempt: its deadline, *budget* seconds from now (activate it around the
        attempt's socket I/O)."""
        self.deadline = Deadline(self._budget, f"{self._budget}s attempt timeout", self._clock)
        return self.deadline

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

    __slots__ = ("_decoder", "_finished", "_idle", "done", "yielded")

    def __init__(
        self,
        policy: RetryPolicy,
        what: str | httpx.URL,
        budget: float | None = None,
        idle: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(policy, what, budget, clock)
        self.yielded = 0
        self.done = False
        self._idle = idle
        self._decoder = payloads.SSEDecoder()
        self._finished = False

    def begin(self) -> None:
        """A 2xx stream is starting (again): fresh decoder state; from now on the deadline is
        the idle limit."""
        self._decoder = payloads.SSEDecoder()
        self._finished = False
        self.deadline.extend(self._idle, self._idle_what())

    def _idle_what(self) -> str:
        return f"stream idle for {self._idle}s without an event (keep-alives do not count)"

    def line(self, line: str) -> str | None:
        """Feed one line; returns a text delta to yield, else ``None`` (then ``done`` tells
        whether the ``[DONE]`` sentinel arrived and reading should stop). Feed ``""`` once at the
        end of the body: it completes a last event that had no blank line after it.

        A data event restarts the idle limit; anything else past the limit raises
        ``httpx.ReadTimeout`` (handled like any timeout: retried before the first delta)."""
        data = self._decoder.feed(line)
        if data is None:
            if line and self.deadline.expired():
                raise httpx.ReadTimeout(f"deadline passed: {self.deadline.what}")
            return None
        self.deadline.extend(self._idle, self._idle_what())
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
        if not self._decoder.events:
            # A 200 with no event at all is the server's answer, not a transient break.
            reason = self._decoder.stray or "(no reason given)"
            raise NIMResponseError(f"NIM answered 200 with an empty stream: {reason}")
        return self._retry(_RetryableError("stream ended before the reply finished"), None)

    def broke(self, exc: httpx.HTTPError) -> float:
        if self.yielded:
            raise NIMStreamError(
                f"stream broke after {self.yielded} deltas: {exc}", received=self.yielded
            ) from exc
        return super().broke(exc)
