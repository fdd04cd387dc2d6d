"""Per-request records and per-load-point statistics (pure; vLLM's definitions).

- TTFT: request sent → first content-bearing chunk.
- TPOT: ``(e2e − ttft) / (output_tokens − 1)``; undefined for replies of one token or fewer.
- ITL: every gap between consecutive content-bearing chunks.
- E2E: request sent → last byte of the reply.
Throughputs divide by the point's wall duration (first send → last completion).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from fieldkit.eval._metrics import percentile
from fieldkit.servebench._slo import SLOs

__all__ = ["STAT_KEYS", "RequestRecord", "latency_stats", "summarize_point"]

STAT_KEYS: tuple[str, ...] = ("mean", "median", "p90", "p95", "p99")


@dataclass(slots=True)
class RequestRecord:
    """One request as the load generator saw it; times are seconds on a monotonic clock.

    ``sent`` is relative to the point's start. ``error`` is ``None`` on success, else a kind
    (``http_503``, ``timeout``, ``connect``, ``disconnected``, ``no_content``, ``bad_stream``…).
    ``token_source`` says where the token counts came from: ``usage``, ``tokenizer`` or
    ``estimated``. ``retried``: the first send hit a keep-alive connection the server had
    closed, and the request was sent again (timed from the second send).
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

    def latencies_ms(self) -> dict[str, float | None]:
        """TTFT, TPOT, E2E and the largest ITL in milliseconds (what SLOs are checked on)."""

        def ms(v: float | None) -> float | None:
            return None if v is None else v * 1000.0

        return {
            "ttft": ms(self.ttft),
            "tpot": ms(self.tpot),
            "e2e": ms(self.e2e),
            "itl": ms(max(self.itl)) if self.itl else None,
        }

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("text")
        out["tpot"] = self.tpot
        return out


def latency_stats(values_s: Sequence[float]) -> dict[str, float | None]:
    """``mean, median, p90, p95, p99`` in milliseconds (linear-interpolated percentiles);
    all ``None`` for no values."""
    xs = sorted(v * 1000.0 for v in values_s if not math.isnan(v))
    if not xs:
        return dict.fromkeys(STAT_KEYS)
    return {
        "mean": math.fsum(xs) / len(xs),
        "median": percentile(xs, 50),
        "p90": percentile(xs, 90),
        "p95": percentile(xs, 95),
        "p99": percentile(xs, 99),
    }


def summarize_point(
    records: Sequence[RequestRecord], duration_s: float, slos: SLOs | None = None
) -> dict[str, Any]:
    """The per-point report: counts, throughputs, latency stats (ms), errors by kind, goodput.

    Goodput is successful requests meeting every SLO per second of the point's duration
    (``None`` without SLOs); ``slo_attainment`` is their share of all requests sent.
    """
    ok = [r for r in records if r.ok]
    out_tokens = sum(r.output_tokens or 0 for r in ok)
    in_tokens = sum(r.input_tokens or 0 for r in ok)
    dur = duration_s if duration_s > 0 else float("nan")
    sources = Counter(r.token_source for r in ok if r.token_source)
    summary: dict[str, Any] = {
        "requests": len(records),
        "completed": len(ok),
        "failed": len(records) - len(ok),
        "errors": dict(sorted(Counter(r.error for r in records if r.error).items())),
        "retried_stale_connection": sum(1 for r in records if r.retried),
        "duration_s": duration_s,
        "request_throughput": len(ok) / dur if ok else 0.0,
        "output_throughput": out_tokens / dur if ok else 0.0,
        "total_token_throughput": (in_tokens + out_tokens) / dur if ok else 0.0,
        "input_tokens": in_tokens,
        "output_tokens": out_tokens,
        "token_source": ",".join(sorted(sources)) if sources else None,
        "ttft_ms": latency_stats([r.ttft for r in ok if r.ttft is not None]),
        "tpot_ms": latency_stats([t for r in ok if (t := r.tpot) is not None]),
        "itl_ms": latency_stats([g for r in ok for g in r.itl]),
        "e2e_ms": latency_stats([r.e2e for r in ok if r.e2e is not None]),
    }
    if slos:
        good = sum(1 for r in ok if slos.met_by(r.latencies_ms()))
        summary["slos"] = dict(slos.limits_ms)
        summary["good_requests"] = good
        summary["goodput"] = good / dur if good else 0.0
        summary["slo_attainment"] = good / len(records) if records else 0.0
    else:
        summary["goodput"] = None
    return summary
