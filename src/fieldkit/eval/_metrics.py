"""``summarize_metric`` (the published keys and shape) and latency percentiles.

The summary keeps the published keys and upper-middle median; NaN values are dropped so they
cannot break sorting, min or max.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from fieldkit._stats import percentile

__all__ = ["PERCENTILES", "percentile", "percentiles", "summarize_metric"]

PERCENTILES: tuple[int, ...] = (50, 90, 95, 99)


def _clean(values: Iterable[float | None]) -> list[float]:
    out: list[float] = []
    for v in values:
        if v is None:
            continue
        if isinstance(v, float) and math.isnan(v):
            continue
        out.append(v)
    return out


def summarize_metric(values: Iterable[float | None]) -> dict[str, Any]:
    """``{"n", "mean", "median", "min", "max"}`` over the non-None, non-NaN values.

    ``mean`` is rounded to 2 places; ``median`` is the element at index ``n // 2`` of the sorted
    values (the upper middle for even n); nothing → ``{"n": 0}``.
    """
    xs = sorted(_clean(values))
    if not xs:
        return {"n": 0}
    n = len(xs)
    return {
        "n": n,
        "mean": round(math.fsum(xs) / n, 2),
        "median": xs[n // 2],
        "min": xs[0],
        "max": xs[-1],
    }


def percentiles(
    values: Iterable[float | None], qs: Sequence[int] = PERCENTILES
) -> dict[str, float]:
    """``{"p50": ..., "p90": ..., ...}`` rounded to 2 places; ``{}`` when there are no values."""
    xs = sorted(_clean(values))
    if not xs:
        return {}
    return {f"p{q}": round(percentile(xs, q), 2) for q in qs}
