"""One trial's row for the trial log (pure): the harness's 17 columns plus the task metric,
``outcome``, ``diff_lines`` and ``commit``."""

from __future__ import annotations

import time
from dataclasses import dataclass

from fieldkit.lineage import Trial
from fieldkit.research._outcome import Outcome

__all__ = ["TrialRecord", "to_trial", "utc_stamp"]

_NOTE_CHARS = 1500


def utc_stamp(epoch: float | None = None) -> str:
    """``2026-04-28T06:21:17Z`` — the harness's timestamp form."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


@dataclass(frozen=True)
class TrialRecord:
    """What the loop learned from one trial."""

    exp_id: str
    parent: str
    outcome: Outcome
    hypothesis: str
    metric: float | None = None
    best_before: float | None = None
    diff_lines: int = 0
    run_s: float = 0.0
    total_s: float = 0.0
    note: str = ""
    commit: str = ""
    timestamp: str = ""


def to_trial(record: TrialRecord, metric_field: str) -> Trial:
    """The log row for *record*; the metric goes to ``core_metric`` and its own column.

    The note (reason and log tail) is kept on one line, lines joined by `` | ``, so the log
    stays one row per line for line-based tools; the full output is in ``.research/logs``."""
    delta = None
    if record.metric is not None and record.best_before is not None:
        delta = record.metric - record.best_before
    note = " | ".join(line.strip() for line in record.note.splitlines() if line.strip())
    note = note if len(note) <= _NOTE_CHARS else "…" + note[-_NOTE_CHARS:]
    extras = {
        "outcome": record.outcome.value,
        "diff_lines": str(record.diff_lines),
        "commit": record.commit,
    }
    if metric_field not in Trial.header():
        extras[metric_field] = "" if record.metric is None else repr(record.metric)
    return Trial(
        exp_id=record.exp_id,
        timestamp=record.timestamp or utc_stamp(),
        specialist="researcher",
        parent_exp=record.parent,
        baseline_exp="" if record.outcome is Outcome.BASELINE else "000",
        domain="research",
        hypothesis=record.hypothesis,
        expected_delta="",
        status=record.outcome.label,
        core_metric=record.metric,
        val_bpb=record.metric if metric_field == "val_bpb" else None,
        delta_vs_best=delta,
        train_s=round(record.run_s, 3),
        total_s=round(record.total_s, 3),
        job_name="",
        snapshot_path=f"git:{record.commit}" if record.commit else "",
        notes=note,
        extras=extras,
    )
