"""Repeated sweeps: each figure's mean and 95 % confidence interval across repeats (pure).

The interval is Student's t on the per-repeat values (each repeat is one sample), so with two
repeats it is wide — that width is the honest answer to "would this number hold on a rerun".
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fieldkit.servebench._run import LoadPoint

__all__ = ["REPEAT_FIGURES", "Estimate", "RepeatSummary", "summarize_repeats", "t_interval"]

# Two-sided 95 % Student t quantiles by degrees of freedom (1…30); beyond, _t95_large.
_T95 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip

REPEAT_FIGURES: tuple[tuple[str, str, str], ...] = (
    ("request_throughput", "", ""),
    ("output_throughput", "", ""),
    ("goodput", "", ""),
    ("ttft_median_ms", "ttft", "median"),
    ("ttft_p99_ms", "ttft", "p99"),
    ("tpot_median_ms", "tpot", "median"),
    ("tpot_p99_ms", "tpot", "p99"),
    ("e2e_median_ms", "e2e", "median"),
)
"""``(name, latency, statistic)``; an empty latency names a scalar metric."""


@dataclass(frozen=True, slots=True)
class Estimate:
    """Mean of ``n`` repeat values and the half-width of its 95 % interval (``None`` for n < 2)."""

    mean: float
    half_width: float | None
    n: int

    def to_json(self) -> dict[str, float | int | None]:
        return {"mean": self.mean, "ci95": self.half_width, "n": self.n}

    def __str__(self) -> str:
        if self.half_width is None:
            return f"{self.mean:.2f}"
        return f"{self.mean:.2f} ± {self.half_width:.2f}"


def _t95_large(df: int) -> float:
    """The 97.5 % Student-t quantile for *df* > 30 by the Cornish-Fisher expansion around the
    normal quantile (within 1e-4 of the exact value there; 1.96 only as df → ∞)."""
    z = 1.959963984540054
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def t_interval(values: Sequence[float]) -> Estimate:
    """Mean and 95 % Student-t half-width of *values* (at least one value)."""
    if not values:
        raise ValueError("no values")
    n = len(values)
    mean = math.fsum(values) / n
    if n < 2:
        return Estimate(mean, None, n)
    t = _T95[n - 2] if n - 1 <= len(_T95) else _t95_large(n - 1)
    return Estimate(mean, t * statistics.stdev(values) / math.sqrt(n), n)


@dataclass(frozen=True, slots=True)
class RepeatSummary:
    """One load across repeats: each figure's estimate (figures no repeat had are left out)."""

    mode: str
    load: float
    figures: dict[str, Estimate]

    def to_json(self) -> dict[str, object]:
        load: float | int | str = self.load if self.mode == "rate" else int(self.load)
        if isinstance(load, float) and math.isinf(load):
            load = "inf"
        return {
            "load": {self.mode: load},
            "repeats": max((e.n for e in self.figures.values()), default=0),
            **{k: e.to_json() for k, e in self.figures.items()},
        }


def _value(p: LoadPoint, latency: str, stat: str, name: str) -> float | None:
    if latency:
        try:
            return p.metrics.stat(latency, stat)
        except KeyError:  # a percentile not computed in this run
            return None
    value = getattr(p.metrics, name)
    return float(value) if isinstance(value, int | float) else None


def summarize_repeats(runs: Sequence[Sequence[LoadPoint]]) -> list[RepeatSummary]:
    """Per load (in first-seen order), the estimate of each figure over the repeats that ran it;
    partial points are left out."""
    loads: dict[tuple[str, float], list[LoadPoint]] = {}
    for points in runs:
        for p in points:
            if not p.partial:
                loads.setdefault((p.mode, p.load), []).append(p)
    out: list[RepeatSummary] = []
    for (mode, load), pts in loads.items():
        figures: dict[str, Estimate] = {}
        for name, latency, stat in REPEAT_FIGURES:
            values = [v for p in pts if (v := _value(p, latency, stat, name)) is not None]
            if values:
                figures[name] = t_interval(values)
        out.append(RepeatSummary(mode, load, figures))
    return out
