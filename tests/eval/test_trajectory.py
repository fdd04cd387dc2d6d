"""Trajectory: the 0.3.0 pinned fixture, skipped-line reporting, and the analysis fixes."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from fieldkit.eval import Trajectory, TrajectoryIter

HEADER = {"_meta": "trajectory log", "baseline_val_bpb": 10.95, "baseline_cfg": {"lr": 1e-3}}
ROWS = [
    {
        "iter": 1,
        "proposal": {"knob": "lr", "new_value": 1e-3},
        "decision": "keep",
        "val_bpb": 10.90,
    },
    {
        "iter": 2,
        "proposal": {"knob": "lr", "new_value": 1e-3},
        "decision": "revert",
        "val_bpb": 10.92,
    },
    {
        "iter": 3,
        "proposal": {"knob": "n_head", "new_value": 8},
        "decision": "keep",
        "val_bpb": 10.85,
    },
    {
        "iter": 4,
        "proposal": {"knob": "n_head", "new_value": 8},
        "decision": "revert",
        "val_bpb": 10.88,
    },
    {
        "iter": 5,
        "proposal": {"knob": "d_model", "new_value": 512},
        "decision": "keep",
        "val_bpb": 10.80,
    },
]


def write(path: Path, lines: list[Any]) -> Path:
    path.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def traj(tmp_path: Path) -> Trajectory:
    return Trajectory.from_jsonl(write(tmp_path / "t.jsonl", [HEADER, *ROWS]))


def test_load(traj: Trajectory) -> None:
    assert len(traj.iters) == 5
    assert traj.baseline == 10.95
    assert traj.header["_meta"] == "trajectory log"
    assert (traj.iters[0].knob, traj.iters[0].decision, traj.iters[0].value) == ("lr", "keep", 1e-3)
    assert traj.iters[0].raw == ROWS[0]
    assert traj.n_skipped == 0


def test_iter_frozen() -> None:
    it = TrajectoryIter(1, "k", 1, "keep", 1.0, {})
    with pytest.raises(AttributeError):
        it.score = 2.0  # type: ignore[misc]


def test_without_header(tmp_path: Path) -> None:
    t = Trajectory.from_jsonl(write(tmp_path / "t.jsonl", ROWS[:2]))
    assert t.baseline is None and len(t.iters) == 2 and t.header == {}


def test_stage_filter(tmp_path: Path) -> None:
    rows = [
        ROWS[0],
        {**ROWS[1], "stage": "proposed"},
        {**ROWS[2], "stage": "failed"},
        {**ROWS[3], "stage": "evaluated"},
    ]
    t = Trajectory.from_jsonl(write(tmp_path / "t.jsonl", rows))
    assert [i.iter for i in t.iters] == [1, 4]
    assert t.n_skipped == 0


def test_malformed_lines_skipped_and_counted(tmp_path: Path) -> None:
    no_score = {k: v for k, v in ROWS[1].items() if k != "val_bpb"}
    lines = [
        HEADER,
        ROWS[0],
        "not json {",
        "",
        no_score,
        ROWS[2],
        "[1, 2]",
        "42",
        {**ROWS[3], "proposal": "lr=3"},
        {**ROWS[4], "val_bpb": "NaN"},
    ]
    t = Trajectory.from_jsonl(write(tmp_path / "t.jsonl", lines))
    assert [i.iter for i in t.iters] == [1, 3]
    assert t.n_skipped == 6


def test_malformed_first_iteration_is_not_a_header(tmp_path: Path) -> None:
    first = {"proposal": {"knob": "lr"}, "val_bpb": 1.0}  # lacks "iter"
    t = Trajectory.from_jsonl(write(tmp_path / "t.jsonl", [first, ROWS[0]]))
    assert t.header == {} and t.n_skipped == 1 and len(t.iters) == 1


def test_bad_baseline_is_none(tmp_path: Path) -> None:
    t = Trajectory.from_jsonl(write(tmp_path / "t.jsonl", [{"baseline_val_bpb": "n/a"}, ROWS[0]]))
    assert t.baseline is None and len(t.iters) == 1


def test_empty_file(tmp_path: Path) -> None:
    t = Trajectory.from_jsonl(write(tmp_path / "t.jsonl", []))
    assert t.iters == [] and t.baseline is None and t.header == {}


def test_score_field(tmp_path: Path) -> None:
    rows = [
        {"baseline_loss": 5.0},
        {"iter": 1, "proposal": {"knob": "a", "new_value": 1}, "decision": "keep", "loss": 4.5},
        {"iter": 2, "proposal": {"knob": "b", "new_value": 1}, "decision": "x", "loss": 4.8},
    ]
    t = Trajectory.from_jsonl(write(tmp_path / "t.jsonl", rows), score_field="loss")
    assert t.baseline == 5.0 and [i.score for i in t.iters] == [4.5, 4.8]


def test_knob_coverage(traj: Trajectory) -> None:
    cov = traj.knob_coverage()
    assert cov == {"knobs_touched": 3, "knob_count": {"lr": 2, "n_head": 2, "d_model": 1}}
    assert list(cov["knob_count"]) == ["lr", "n_head", "d_model"]
    cov = traj.knob_coverage(["lr", "n_head", "d_model", "weight_decay", "beta1"])
    assert cov["knobs_total"] == 5
    assert cov["knobs_untouched"] == ["weight_decay", "beta1"]
    assert cov["knobs_touched_pct"] == 60.0


def test_coverage_pct_never_above_100(traj: Trajectory) -> None:
    cov = traj.knob_coverage(["lr", "lr"])
    assert cov["knobs_total"] == 1 and cov["knobs_touched_pct"] == 100.0


def test_repeat_rate(traj: Trajectory) -> None:
    assert traj.repeat_rate() == 0.4
    assert traj.repeat_rate(window=2) == [
        {"first": 1, "last": 2, "n": 2, "repeats": 1, "rate": 0.5},
        {"first": 3, "last": 4, "n": 2, "repeats": 1, "rate": 0.5},
        {"first": 5, "last": 5, "n": 1, "repeats": 0, "rate": 0.0},
    ]
    with pytest.raises(ValueError, match="window"):
        traj.repeat_rate(window=0)
    with pytest.raises(ValueError, match="window"):
        Trajectory([]).repeat_rate(window=-1)
    assert Trajectory([]).repeat_rate() == 0.0
    assert Trajectory([]).repeat_rate(window=3) == []


def test_mode_dominance(traj: Trajectory) -> None:
    top = traj.mode_dominance(top_n=2)
    assert {(m["knob"], m["n"]) for m in top} == {("lr", 2), ("n_head", 2)}
    assert len(traj.mode_dominance()) == 3


def test_cumulative_best_and_best(traj: Trajectory) -> None:
    assert traj.cumulative_best() == [10.90, 10.90, 10.85, 10.85, 10.80]
    cb = traj.cumulative_best(baseline=10.84)
    assert cb[0] == 10.84 and cb[2] == 10.84 and cb[4] == 10.80
    assert [i.iter for i in traj.keeps()] == [1, 3, 5]
    best = traj.best()
    assert best is not None and (best.iter, best.score) == (5, 10.80)
    assert Trajectory([]).best() is None and Trajectory([]).cumulative_best() == []


def test_higher_is_better() -> None:
    iters = [TrajectoryIter(i + 1, "k", i, "keep", s, {}) for i, s in enumerate([0.6, 0.55, 0.7])]
    t = Trajectory(iters, baseline=0.5, score_field="score", lower_is_better=False)
    assert t.cumulative_best() == [0.6, 0.6, 0.7]
    best = t.best()
    assert best is not None and best.score == 0.7


def test_list_values() -> None:
    iters = [
        TrajectoryIter(i, "layers", v, "keep", 1.0, {})
        for i, v in enumerate([[1, 2, 3], [1, 2, 3], [1, 2, 4]], 1)
    ]
    t = Trajectory(iters)
    assert t.repeat_rate() == round(1 / 3, 3)
    modes = t.mode_dominance()
    assert len(modes) == 2 and modes[0] == {"knob": "layers", "value": [1, 2, 3], "n": 2}


def test_values_compared_by_type() -> None:
    iters = [TrajectoryIter(i, "flag", v, "keep", 1.0, {}) for i, v in enumerate([1, 1.0, True], 1)]
    assert Trajectory(iters).repeat_rate() == 0.0
    dicts = [
        TrajectoryIter(i, "cfg", v, "keep", 1.0, {})
        for i, v in enumerate([{"a": 1, 2: "b"}, {2: "b", "a": 1}], 1)
    ]
    assert Trajectory(dicts).repeat_rate() == 0.5  # mixed-type keys do not crash


def test_empty_knobs_never_repeat() -> None:
    iters = [TrajectoryIter(i, "", None, "keep", 1.0, {}) for i in (1, 2, 3)]
    t = Trajectory(iters)
    assert t.repeat_rate() == 0.0 and t.mode_dominance() == []


def test_nan_scores_do_not_poison() -> None:
    iters = [
        TrajectoryIter(1, "a", 1, "keep", math.nan, {}),
        TrajectoryIter(2, "b", 1, "keep", 2.0, {}),
        TrajectoryIter(3, "c", 1, "keep", 1.0, {}),
    ]
    t = Trajectory(iters)
    best = t.best()
    assert best is not None and best.iter == 3
    assert t.cumulative_best()[1:] == [2.0, 1.0]
