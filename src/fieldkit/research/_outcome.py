"""Trial outcomes and how each is written in the trial log's ``status`` column."""

from __future__ import annotations

from enum import Enum

from fieldkit.lineage import FailureLabel

__all__ = ["Outcome"]


class Outcome(str, Enum):  # noqa: UP042 - a str-mixin Enum keeps the plain str() of the value
    """What happened to one trial (kept verbatim in the log's ``outcome`` column)."""

    BASELINE = "baseline"
    KEEP = "keep"
    DISCARD = "discard"
    CRASH = "crash"
    TIMEOUT = "timeout"
    INVALID_EDIT = "invalid-edit"

    @property
    def label(self) -> FailureLabel:
        """The harness ``status`` this outcome is logged as (timeouts are train-budget
        overruns, invalid edits are preflight crashes), so lineage tools classify it."""
        return {
            Outcome.BASELINE: FailureLabel.BASELINE,
            Outcome.KEEP: FailureLabel.KEEP,
            Outcome.DISCARD: FailureLabel.DISCARD,
            Outcome.CRASH: FailureLabel.CRASH,
            Outcome.TIMEOUT: FailureLabel.TRAIN_BUDGET_OVERRUN,
            Outcome.INVALID_EDIT: FailureLabel.PREFLIGHT_CRASH,
        }[self]
