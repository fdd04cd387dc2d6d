"""``research status``: best so far, pace, recent outcomes and time since the last trial (pure)."""

from __future__ import annotations

import calendar
import time
from collections.abc import Sequence
from dataclasses import dataclass

from fieldkit.lineage import FailureLabel, Trial

__all__ = ["ResearchStatus", "summarize"]


def _epoch(stamp: str) -> float | None:
    try:
        return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return None


@dataclass(frozen=True)
class ResearchStatus:
    """A run's state as ``research status`` shows it."""

    trials: int
    counts: dict[str, int]
    best_exp: str | None
    best_value: float | None
    baseline_value: float | None
    trials_per_hour: float | None
    last_outcomes: tuple[tuple[str, str], ...]
    since_last_s: float | None

    def as_dict(self) -> dict[str, object]:
        return {
            "trials": self.trials,
            "counts": self.counts,
            "best": {"exp_id": self.best_exp, "metric": self.best_value},
            "baseline": self.baseline_value,
            "trials_per_hour": self.trials_per_hour,
            "last_outcomes": [{"exp_id": e, "outcome": o} for e, o in self.last_outcomes],
            "since_last_s": self.since_last_s,
        }


def summarize(
    trials: Sequence[Trial], metric: str, best: Trial | None, *, now: float
) -> ResearchStatus:
    """The status of a log holding *trials* (baseline included), at epoch time *now*."""
    counts: dict[str, int] = {}
    baseline: float | None = None
    for t in trials:
        outcome = t.extras.get("outcome") or t.status.value
        counts[outcome] = counts.get(outcome, 0) + 1
        if t.status is FailureLabel.BASELINE and baseline is None:
            baseline = t.metric(metric)
    real = [t for t in trials if t.status is not FailureLabel.BASELINE]
    stamps = [s for s in (_epoch(t.timestamp) for t in trials) if s is not None]
    pace = None
    if len(stamps) >= 2 and max(stamps) > min(stamps):
        pace = (len(stamps) - 1) * 3600.0 / (max(stamps) - min(stamps))
    last = tuple((t.exp_id, t.extras.get("outcome") or t.status.value) for t in trials[-5:])
    return ResearchStatus(
        trials=len(real),
        counts=dict(sorted(counts.items())),
        best_exp=best.exp_id if best is not None else None,
        best_value=best.metric(metric) if best is not None else None,
        baseline_value=baseline,
        trials_per_hour=pace,
        last_outcomes=last,
        since_last_s=(now - max(stamps)) if stamps else None,
    )
