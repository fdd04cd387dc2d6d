"""Service-level objectives: ``ttft=500ms``-style parsing and the per-request check (pure).

A request meets the SLOs when every named latency is at or under its limit (vLLM's goodput rule);
a failed request never does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from fieldkit.servebench._latency import LATENCIES

__all__ = ["SLO_METRICS", "SLOError", "SLOs", "parse_slos"]

SLO_METRICS: dict[str, str] = {m.name: m.name for m in LATENCIES}
"""Accepted SLO names (``e2el`` is accepted as vLLM spells it) → the latency they bound."""
_ALIASES = {"e2el": "e2e"}
_UNITS = {"ms": 1.0, "s": 1000.0, "us": 0.001}
# No overlapping quantifiers: matching is linear in the spec's length.
_SPEC = re.compile(r"(\w+) *[=:] *((?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?) *([A-Za-z]*)")


class SLOError(ValueError):
    """An SLO spec is malformed; the message names the spec and what is accepted."""


@dataclass(frozen=True, slots=True)
class SLOs:
    """Latency limits in milliseconds, keyed by metric (``ttft``, ``tpot``, ``itl``, ``e2e``).

    ``itl`` bounds a request's largest inter-token gap; the others bound the request's value.
    """

    limits_ms: Mapping[str, float]

    def __bool__(self) -> bool:
        return bool(self.limits_ms)

    def met_by(self, values_ms: Mapping[str, float | None]) -> bool:
        """Whether one successful request's latencies (ms) are all within the limits; a metric the
        request has no value for (e.g. TPOT of a one-token reply) does not fail it."""
        for name, limit in self.limits_ms.items():
            value = values_ms.get(name)
            if value is not None and value > limit:
                return False
        return True

    def describe(self) -> str:
        return ", ".join(f"{k}≤{v:g}ms" for k, v in self.limits_ms.items())


def parse_slos(specs: Iterable[str]) -> SLOs:
    """Parse ``["ttft=500ms", "tpot=50ms"]`` (units ``ms``, ``s``, ``us``; bare numbers are ms).

    Raises :class:`SLOError` for an unknown metric, a missing/negative/non-finite value, an unknown
    unit or a metric given twice.
    """
    limits: dict[str, float] = {}
    for raw in specs:
        for spec in (s for s in raw.split(",") if s.strip()):
            m = _SPEC.fullmatch(spec.strip())
            if m is None:
                raise SLOError(f"bad SLO {spec!r}: expected NAME=VALUE[ms|s|us], e.g. ttft=500ms")
            name, number, unit = m.group(1).lower(), m.group(2), (m.group(3) or "ms").lower()
            name = _ALIASES.get(name, name)
            if name not in SLO_METRICS:
                known = ", ".join(SLO_METRICS)
                raise SLOError(f"unknown SLO metric {m.group(1)!r} in {spec!r}; known: {known}")
            if unit not in _UNITS:
                raise SLOError(f"unknown unit {unit!r} in SLO {spec!r}; use ms, s or us")
            value = float(number) * _UNITS[unit]
            if not math.isfinite(value) or value <= 0:
                raise SLOError(f"SLO {spec!r} must be a positive time")
            if name in limits:
                raise SLOError(f"SLO {name!r} given twice")
            limits[name] = value
    return SLOs(limits)
