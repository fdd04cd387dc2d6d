"""Lineage-only fixtures: the five golden trials of samples/hello-lineage.py and a trial factory."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fieldkit.lineage import FailureLabel, Trial

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).with_name("data") / "golden_0_3_0.txt"


def _load_sample() -> Any:
    spec = importlib.util.spec_from_file_location(
        "hello_lineage", REPO / "samples" / "hello-lineage.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def five_trials() -> list[Trial]:
    trials: list[Trial] = _load_sample().five_trials()
    return trials


@pytest.fixture(scope="session")
def golden() -> str:
    return GOLDEN.read_text(encoding="utf-8")


def _make(
    exp_id: str,
    status: FailureLabel | str = FailureLabel.DISCARD,
    metric: float | None = None,
    *,
    parent: str = "",
    specialist: str = "s",
    hypothesis: str = "",
    notes: str = "",
    delta: float | None = None,
    **extra: Any,
) -> Trial:
    return Trial(
        exp_id=exp_id,
        timestamp="2026-05-11T10:00:00Z",
        specialist=specialist,
        parent_exp=parent,
        baseline_exp="",
        domain=specialist,
        hypothesis=hypothesis or f"hyp {exp_id}",
        expected_delta="",
        status=FailureLabel(status),
        core_metric=metric,
        val_bpb=metric,
        delta_vs_best=delta,
        train_s=None,
        total_s=None,
        job_name="",
        snapshot_path="",
        notes=notes,
        **extra,
    )


@pytest.fixture
def make() -> Callable[..., Trial]:
    """``make(exp_id, status, metric, parent=..., ...)`` → a Trial."""
    return _make
