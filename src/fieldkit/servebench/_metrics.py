"""Per-request records and the typed per-load-point metrics (pure; vLLM's definitions).

- TTFT: request sent → first content-bearing chunk.
- TPOT: ``(e2e − ttft) / (output_tokens − 1)``; undefined for replies of one token or fewer.
- ITL: every gap between consecutive content-bearing chunks.
- E2E: request sent → end of the reply (``data: [DONE]`` or the end of the stream).
Throughputs divide by the point's wall duration (first send → last completion).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from fieldkit._stats import percentile
from fieldkit.servebench._latency import LATENCIES, LatencyMetric
from fieldkit.servebench._slo import SLOs

__all__ = [
    "COUNT_FIELDS",
    "DEFAULT_PERCENTILES",
    "STAT_KEYS",
    "LatencyStats",
    "PointMetrics",
    "RequestRecord",
    "latency_stats",
    "percentile_key",
    "point_metrics",
    "steady_state",
    "summarize_point",
]

DEFAULT_PERCENTILES: tuple[float, ...] = (50.0, 90.0, 95.0, 99.0)


def percentile_key(p: float) -> str:
    """``50 → "median"``, ``99 → "p99"``, ``99.9 → "p99.9"``."""
    return "median" if p == 50 else f"p{p:g}"


STAT_KEYS: tuple[str, ...] = ("mean", *(percentile_key(p) for p in DEFAULT_PERCENTILES))

# The point's counts, duration and throughputs (``PointMetrics`` fields), in the order every
# flat export (CSV columns, MLflow metrics) lists them first.
COUNT_FIELDS: tuple[str, ...] = (
    "requests",
    "completed",
    "failed",
    "duration_s",
    "request_throughput",
    "output_throughput",
    "total_token_throughput",
    "input_tokens",
    "input_tokens_estimated",
    "output_tokens",
)


@dataclass(slots=True)
class RequestRecord:
    """One request as the load generator saw it; times are seconds on a monotonic clock.

    ``sent`` is relative to the point's start. ``error`` is ``None`` on success, else a kind
    (``http_503``, ``timeout``, ``connect``, ``disconnected``, ``no_content``, ``bad_stream``…).
    ``token_source`` says where ``output_tokens`` came from (``usage``, ``tokenizer`` or
    ``estimated``); ``input_tokens`` is only ever the server's count (``input_token_source``:
    ``usage`` or ``tokenizer`` with the chat template applied), ``input_tokens_estimated`` the
    client's estimate. ``usage_rejected`` says why a server's ``usage`` was not believed.
    ``retried``: the first send hit a keep-alive connection the server had closed, and the
    request was sent again (timed from the second send).
    """

    index: int
    sent: float
    ttft: float | None = None
    e2e: float | None = None
    itl: list[float] = field(default_factory=list)
    input_tokens: int | None = None
    output_tokens: int | None = None
    token_source: str | None = None
    error: str | None = None
    error_detail: str | None = None
    retried: bool = False
    text: str = field(default="", repr=False)
    max_tokens: int | None = None
    chunks: int = 0
    input_token_source: str | None = None
    input_tokens_estimated: int | None = None
    usage_rejected: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def tpot(self) -> float | None:
        """Seconds per output token after the first; ``None`` for ≤ 1 output token."""
        if self.ttft is None or self.e2e is None or not self.output_tokens:
            return None
        if self.output_tokens <= 1:
            return None
        return (self.e2e - self.ttft) / (self.output_tokens - 1)

    @property
    def short_output(self) -> bool:
        """Fewer output tokens than ``max_tokens`` asked, by a count the server gave (``usage``
        or its tokenizer): a client-side estimate is too rough to accuse the server."""
        return (
            self.ok
            and self.token_source in ("usage", "tokenizer")
            and self.max_tokens is not None
            and self.output_tokens is not None
            and self.output_tokens < self.max_tokens
        )

    def values_s(self, metric: LatencyMetric) -> list[float]:
        """This request's samples of *metric* in seconds (ITL: every gap; others: one value)."""
        if metric.name == "itl":
            return list(self.itl)
        value = {"ttft": self.ttft, "tpot": self.tpot, "e2e": self.e2e}[metric.name]
        return [] if value is None else [value]

    def latencies_ms(self) -> dict[str, float | None]:
        """Each latency in milliseconds (ITL: the largest gap) — what SLOs are checked on."""
        out: dict[str, float | None] = {}
        for m in LATENCIES:
            xs = self.values_s(m)
            out[m.name] = max(xs) * 1000.0 if xs else None
        return out

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("text")
        out["tpot"] = self.tpot
        return out


@dataclass(frozen=True, slots=True)
class LatencyStats:
    """Mean and percentiles (linear interpolation) of one latency, in ms, over ``count``
    samples; every value ``None`` without samples."""

    mean: float | None
    percentiles: tuple[tuple[float, float | None], ...]
    count: int

    def get(self, key: str) -> float | None:
        """``"mean"``, ``"median"`` or ``"pNN"``; ``KeyError`` for a percentile not computed."""
        if key == "mean":
            return self.mean
        for p, v in self.percentiles:
            if percentile_key(p) == key:
                return v
        raise KeyError(key)

    def keys(self) -> tuple[str, ...]:
        return ("mean", *(percentile_key(p) for p, _ in self.percentiles))

    def to_json(self) -> dict[str, float | None]:
        return {k: self.get(k) for k in self.keys()}


def _stats(values_s: Sequence[float], percentiles: Sequence[float]) -> LatencyStats:
    xs = sorted(v * 1000.0 for v in values_s if not math.isnan(v))
    if not xs:
        return LatencyStats(None, tuple((p, None) for p in percentiles), 0)
    return LatencyStats(
        math.fsum(xs) / len(xs), tuple((p, percentile(xs, p)) for p in percentiles), len(xs)
    )


def latency_stats(
    values_s: Sequence[float], percentiles: Sequence[float] = DEFAULT_PERCENTILES
) -> dict[str, float | None]:
    """``mean, median, p90, p95, p99`` in milliseconds (linear-interpolated percentiles);
    all ``None`` for no values."""
    return _stats(values_s, percentiles).to_json()


@dataclass(frozen=True, slots=True)
class PointMetrics:
    """Everything measured at one load point, typed (the role of vLLM's ``BenchmarkMetrics``).

    Token totals cover successful requests. ``input_tokens`` is the server's count (``None``
    when the server gave none); ``input_tokens_estimated`` the client's estimate for requests
    the server did not count. Goodput is successful requests meeting every SLO per second of
    the point (``None`` without SLOs); ``slo_attainment`` their share of all requests sent.
    ``short_outputs`` counts replies shorter than ``max_tokens`` by a server-given count, whether
    or not ``ignore_eos`` was asked (a run warns about them only when it was).
    """

    requests: int
    completed: int
    failed: int
    errors: dict[str, int]
    retried_stale_connection: int
    duration_s: float
    request_throughput: float
    output_throughput: float
    total_token_throughput: float
    input_tokens: int | None
    input_tokens_estimated: int
    input_token_source: str | None
    output_tokens: int
    token_source: str | None
    implausible_usage: int
    short_outputs: int
    latency: dict[str, LatencyStats]
    slos: dict[str, float] | None = None
    good_requests: int | None = None
    goodput: float | None = None
    slo_attainment: float | None = None

    def stat(self, metric: str, key: str) -> float | None:
        """One statistic, e.g. ``stat("ttft", "p99")`` (ms)."""
        return self.latency[metric].get(key)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "requests": self.requests,
            "completed": self.completed,
            "failed": self.failed,
            "errors": dict(self.errors),
            "retried_stale_connection": self.retried_stale_connection,
            "duration_s": self.duration_s,
            "request_throughput": self.request_throughput,
            "output_throughput": self.output_throughput,
            "total_token_throughput": self.total_token_throughput,
            "input_tokens": self.input_tokens,
            "input_tokens_estimated": self.input_tokens_estimated,
            "input_token_source": self.input_token_source,
            "output_tokens": self.output_tokens,
            "token_source": self.token_source,
            "implausible_usage": self.implausible_usage,
            "short_outputs": self.short_outputs,
        }
        for m in LATENCIES:
            out[m.key] = self.latency[m.name].to_json()
        if self.slos is not None:
            out["slos"] = dict(self.slos)
            out["good_requests"] = self.good_requests
            out["slo_attainment"] = self.slo_attainment
        out["goodput"] = self.goodput
        return out


def _sources(values: Sequence[str | None]) -> str | None:
    found = sorted({v for v in values if v})
    return ",".join(found) if found else None


def point_metrics(
    records: Sequence[RequestRecord],
    duration_s: float,
    slos: SLOs | None = None,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
) -> PointMetrics:
    """The typed metrics of one point from its request records."""
    ok = [r for r in records if r.ok]
    out_tokens = sum(r.output_tokens or 0 for r in ok)
    counted = [r.input_tokens for r in ok if r.input_tokens is not None]
    in_tokens = sum(counted) if counted else None
    estimated = sum(r.input_tokens_estimated or 0 for r in ok if r.input_tokens is None)
    dur = duration_s if duration_s > 0 else float("nan")
    total_in = (in_tokens or 0) + estimated
    good: int | None = None
    if slos:
        good = sum(1 for r in ok if slos.met_by(r.latencies_ms()))
    return PointMetrics(
        requests=len(records),
        completed=len(ok),
        failed=len(records) - len(ok),
        errors=dict(sorted(Counter(r.error for r in records if r.error).items())),
        retried_stale_connection=sum(1 for r in records if r.retried),
        duration_s=duration_s,
        request_throughput=len(ok) / dur if ok else 0.0,
        output_throughput=out_tokens / dur if ok else 0.0,
        total_token_throughput=(total_in + out_tokens) / dur if ok else 0.0,
        input_tokens=in_tokens,
        input_tokens_estimated=estimated,
        input_token_source=_sources([r.input_token_source for r in ok]),
        output_tokens=out_tokens,
        token_source=_sources([r.token_source for r in ok]),
        implausible_usage=sum(1 for r in records if r.usage_rejected),
        short_outputs=sum(1 for r in records if r.short_output),
        latency={
            m.name: _stats([v for r in ok for v in r.values_s(m)], percentiles) for m in LATENCIES
        },
        slos=dict(slos.limits_ms) if slos else None,
        good_requests=good,
        goodput=(good / dur if good else 0.0) if good is not None else None,
        slo_attainment=(good / len(records) if records else 0.0) if good is not None else None,
    )


def summarize_point(
    records: Sequence[RequestRecord],
    duration_s: float,
    slos: SLOs | None = None,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
) -> dict[str, Any]:
    """:func:`point_metrics` as the JSON object ``bench serve --json`` prints per point."""
    return point_metrics(records, duration_s, slos, percentiles).to_json()


def steady_state(
    records: Sequence[RequestRecord],
) -> tuple[list[RequestRecord], float, tuple[float, float]] | None:
    """The requests of the steady part of a point: sent at or after the first completion
    (ramp-up over) and finished by the last send (drain not begun); with the window's length
    and bounds in seconds. ``None`` when fewer than two requests fall inside."""
    if not records:
        return None

    def end(r: RequestRecord) -> float:
        return r.sent + (r.e2e or 0.0)

    start, stop = min(end(r) for r in records), max(r.sent for r in records)
    inside = [r for r in records if r.sent >= start and end(r) <= stop]
    if len(inside) < 2 or stop <= start:
        return None
    return inside, stop - start, (start, stop)
