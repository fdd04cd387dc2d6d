"""Retry policy and the per-request attempt state machine, shared by the sync and async clients.

Sans-I/O: the clients feed each attempt's outcome in and get back "return", "raise" or "sleep N
seconds and try again". Backoff is exponential with jitter; ``Retry-After`` (seconds, HTTP date,
or ``retry-after-ms``) is re-read on every attempt and honoured as a floor.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from fieldkit.nim._errors import NIMServerError, NIMTimeoutError, _RetryableError


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait, or ``None``.

    ``retry-after-ms`` (milliseconds) wins over ``Retry-After``, which may be delta-seconds (a
    float is accepted) or an HTTP date. Negative or unparsable values → ``None``; a date in the
    past → ``0.0``. Header names are matched case-insensitively.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    ms = lowered.get("retry-after-ms")
    if ms is not None:
        try:
            value = float(ms.strip())
        except ValueError:
            value = -1.0
        if value >= 0 and value == value and value != float("inf"):
            return value / 1000.0
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        current = time.time() if now is None else now
        return max(0.0, when.timestamp() - current)
    if seconds < 0 or seconds != seconds or seconds == float("inf"):
        return None
    return seconds


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many attempts and how long to wait between them.

    After the k-th failure the base wait is ``min(backoff_max, backoff_base × 2^(k−1))`` (defaults:
    0.5, 1, 2, 4, 8, 8 …). With ``jitter`` the wait is drawn uniformly from [half, full] of it, so
    workers do not retry in lock-step. A ``Retry-After`` from the server is a floor, capped at
    ``max_retry_after``.
    """

    max_retries: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    jitter: bool = True
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise TypeError(f"max_retries must be an int, got {self.max_retries!r}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.backoff_base < 0 or self.backoff_max < 0 or self.max_retry_after < 0:
            raise ValueError("backoff_base, backoff_max and max_retry_after must be >= 0")

    @property
    def attempts(self) -> int:
        """Total attempts allowed (``max_retries + 1``)."""
        return self.max_retries + 1

    def backoff(self, failures: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after the *failures*-th consecutive failure (before Retry-After)."""
        exponent = min(max(failures - 1, 0), 62)
        base = min(self.backoff_max, self.backoff_base * (2.0**exponent))
        if not self.jitter:
            return base
        return base * (0.5 + 0.5 * rand())

    def delay(
        self,
        failures: int,
        retry_after: float | None,
        rand: Callable[[], float] = random.random,
    ) -> float:
        """The wait before the next attempt: backoff, raised to ``Retry-After`` if larger."""
        wait = self.backoff(failures, rand)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_retry_after))
        return wait


@dataclass(slots=True)
class Attempts:
    """Counts the attempts of one logical request and decides what follows a failure."""

    policy: RetryPolicy
    made: int = 0
    last: _RetryableError | None = field(default=None)

    def failed(self, error: _RetryableError) -> float:
        """Record a retryable failure; return seconds to sleep, or raise when the budget is spent
        (chained from *error*): ``NIMServerError`` if the last failure was an HTTP status,
        else ``NIMTimeoutError`` (transport failures: timeouts, refused or dropped connections)."""
        self.made += 1
        self.last = error
        if self.made >= self.policy.attempts:
            if error.status_code is not None:
                raise NIMServerError(
                    f"NIM request failed after {self.made} attempts: {error}",
                    status_code=error.status_code,
                    body=error.body,
                    attempts=self.made,
                ) from error
            raise NIMTimeoutError(
                f"NIM request failed after {self.made} attempts: {error}",
                status_code=error.status_code,
                attempts=self.made,
            ) from error
        return self.policy.delay(self.made, error.retry_after)
