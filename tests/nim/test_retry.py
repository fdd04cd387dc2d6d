"""Retry policy, Retry-After parsing and the attempt state machine (pure, no sleeping)."""

from __future__ import annotations

import email.utils

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldkit.nim import NIMTimeoutError, RetryPolicy, parse_retry_after
from fieldkit.nim._errors import _RetryableError
from fieldkit.nim._retry import Attempts

NOW = 1_800_000_000.0


def test_0_3_0_backoff_schedule_without_jitter() -> None:
    policy = RetryPolicy(jitter=False)
    assert [policy.backoff(k) for k in range(1, 8)] == [0.5, 1, 2, 4, 8, 8, 8]


@given(st.integers(min_value=1, max_value=200), st.floats(min_value=0, max_value=1))
@settings(max_examples=200, deadline=None)
def test_jitter_stays_between_half_and_full_backoff(failures: int, r: float) -> None:
    policy = RetryPolicy()
    full = RetryPolicy(jitter=False).backoff(failures)
    wait = policy.backoff(failures, rand=lambda: r)
    assert full / 2 <= wait <= full


def test_retry_after_is_a_floor_capped_by_max_retry_after() -> None:
    policy = RetryPolicy(jitter=False, max_retry_after=10.0)
    assert policy.delay(1, 3.0) == 3.0
    assert policy.delay(5, 3.0) == 8.0  # backoff already longer
    assert policy.delay(1, 3600.0) == 10.0
    assert policy.delay(1, None) == 0.5


@pytest.mark.parametrize("bad", [-1, True, 1.5])
def test_bad_max_retries_is_rejected(bad: object) -> None:
    with pytest.raises((ValueError, TypeError), match="max_retries"):
        RetryPolicy(max_retries=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Retry-After": "2"}, 2.0),
        ({"retry-after": " 1.5 "}, 1.5),
        ({"Retry-After": "-3"}, None),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "nan"}, None),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "Retry-After": "9"}, 0.25),
        ({"retry-after-ms": "junk", "Retry-After": "9"}, 9.0),
        ({"Retry-After": email.utils.formatdate(NOW + 30, usegmt=True)}, 30.0),
        ({"Retry-After": email.utils.formatdate(NOW - 30, usegmt=True)}, 0.0),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers, now=NOW) == expected


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False))
@settings(max_examples=100, deadline=None)
def test_retry_after_seconds_round_trip(seconds: float) -> None:
    assert parse_retry_after({"Retry-After": repr(seconds)}) == seconds


@given(st.integers(min_value=0, max_value=10_000_000))
@settings(max_examples=100, deadline=None)
def test_retry_after_http_date_round_trip(delta: int) -> None:
    header = email.utils.formatdate(NOW + delta, usegmt=True)
    assert parse_retry_after({"Retry-After": header}, now=NOW) == pytest.approx(delta)


def test_attempts_exhaust_with_status_and_cause() -> None:
    attempts = Attempts(RetryPolicy(max_retries=2, jitter=False, backoff_base=0.0))
    first = _RetryableError("NIM 503: busy", status_code=503)
    assert attempts.failed(first) == 0.0
    assert attempts.failed(_RetryableError("timeout: slow")) == 0.0
    last = _RetryableError("NIM 429: slow down", status_code=429, retry_after=1.25)
    with pytest.raises(NIMTimeoutError) as info:
        attempts.failed(last)
    assert info.value.status_code == 429
    assert info.value.attempts == 3
    assert info.value.__cause__ is last
    assert str(info.value) == "NIM request failed after 3 attempts: NIM 429: slow down"


def test_retry_after_is_re_read_on_every_attempt() -> None:
    attempts = Attempts(RetryPolicy(max_retries=5, jitter=False, backoff_base=0.0))
    delays = [
        attempts.failed(_RetryableError("x", status_code=503, retry_after=ra))
        for ra in (2.0, None, 0.5)
    ]
    assert delays == [2.0, 0.0, 0.5]


def test_zero_retries_means_one_attempt() -> None:
    attempts = Attempts(RetryPolicy(max_retries=0))
    with pytest.raises(NIMTimeoutError, match="after 1 attempts"):
        attempts.failed(_RetryableError("timeout: x"))
