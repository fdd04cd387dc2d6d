"""The 10-class trial status enum, value-identical to the cxcscmu harness's ``status`` column."""

from __future__ import annotations

from enum import Enum

__all__ = ["FailureLabel"]


class FailureLabel(str, Enum):  # noqa: UP042 - a str-mixin Enum keeps str() as published
    """Outcome of one trial. ``.value`` round-trips byte-identically to the TSV ``status`` cell."""

    KEEP = "keep"
    DISCARD = "discard"
    CRASH = "crash"
    EVAL_BUDGET_OVERRUN = "eval_budget_overrun"
    TRAIN_BUDGET_OVERRUN = "train_budget_overrun"
    SIZE_BLOCKED = "size_blocked"
    PREFLIGHT_CRASH = "preflight_crash"
    HARNESS_ABORT = "harness_abort"
    DISQUALIFIED = "disqualified"
    BASELINE = "baseline"

    @property
    def is_informational(self) -> bool:
        """False only for ``harness_abort`` (a bookkeeping kill); every other class is signal."""
        return self is not FailureLabel.HARNESS_ABORT
