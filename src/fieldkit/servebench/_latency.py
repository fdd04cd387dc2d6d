"""The serving latencies, named once: what each one times and how it is labelled.

Every place that lists latencies (SLO names, per-point statistics, tables, plots) iterates
:data:`LATENCIES`, so a new latency is added here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["LATENCIES", "LatencyMetric", "LatencyName", "latency_metric"]

LatencyName = Literal["ttft", "tpot", "itl", "e2e"]


@dataclass(frozen=True, slots=True)
class LatencyMetric:
    """One latency: its short ``name`` (SLO and JSON key stem), table ``label`` and meaning."""

    name: LatencyName
    label: str
    meaning: str

    @property
    def key(self) -> str:
        """The JSON key of its statistics, in milliseconds (``ttft_ms``)."""
        return f"{self.name}_ms"


LATENCIES: tuple[LatencyMetric, ...] = (
    LatencyMetric("ttft", "TTFT", "request sent → first content-bearing chunk"),
    LatencyMetric("tpot", "TPOT", "(E2E − TTFT) / (output tokens − 1)"),
    LatencyMetric("itl", "ITL", "gap between consecutive content-bearing chunks"),
    LatencyMetric("e2e", "E2E", "request sent → end of the reply"),
)


def latency_metric(name: str) -> LatencyMetric:
    """The metric called *name*; ``KeyError`` for an unknown one."""
    for m in LATENCIES:
        if m.name == name:
            return m
    raise KeyError(name)
