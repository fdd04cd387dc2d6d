"""The ablation curve: best kept (or baseline) value after each row, in the task's direction."""

from __future__ import annotations

from fieldkit.lineage import FailureLabel, Trial
from fieldkit.research import best_so_far


def _t(exp_id: str, status: FailureLabel, value: float | None) -> Trial:
    return Trial(
        exp_id, "", "", "", "", "", "", "", status, None, value, None, None, None, "", "", ""
    )


ROWS = [
    _t("000", FailureLabel.BASELINE, 1.0),
    _t("001", FailureLabel.DISCARD, 0.1),  # a discard never moves the curve
    _t("002", FailureLabel.KEEP, 0.9),
    _t("003", FailureLabel.CRASH, None),
    _t("004", FailureLabel.KEEP, 1.2),
]


def test_lower_is_better_curve() -> None:
    assert best_so_far(ROWS, "val_bpb", True) == [1.0, 1.0, 0.9, 0.9, 0.9]


def test_higher_is_better_curve() -> None:
    assert best_so_far(ROWS, "val_bpb", False) == [1.0, 1.0, 1.0, 1.0, 1.2]
