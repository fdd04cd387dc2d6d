"""Property tests for the progress plot's pure rules (frontier, thinning, labels)."""

from __future__ import annotations

import itertools
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from fieldkit.lineage import FailureLabel, Trial
from fieldkit.lineage._progress import (
    choose_annotations,
    downsample,
    frontier,
    place_labels,
    short_hypothesis,
    y_limits,
)
from fieldkit.lineage.views import Point, progress_data

_STATUSES = [FailureLabel.KEEP, FailureLabel.DISCARD, FailureLabel.CRASH, FailureLabel.SIZE_BLOCKED]
_values = st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False), st.just(math.nan))


def _trial(i: int, status: FailureLabel, value: float | None) -> Trial:
    return Trial(
        f"{i:04d}", "2026-05-11T10:00:00Z", "s", "", "", "s", f"hyp {i}. more", "", status,
        value, value, None, None, None, "", "", "",
    )  # fmt: skip


_logs = st.lists(st.tuples(st.sampled_from(_STATUSES), _values), max_size=120)


def _points(ys: list[float | None]) -> list[Point]:
    return [Point(float(i), y, str(i), FailureLabel.KEEP, "") for i, y in enumerate(ys)]


@given(st.lists(_values, max_size=80), st.booleans())
def test_frontier_is_strictly_monotone_and_tracks_the_running_best(
    ys: list[float | None], lower: bool
) -> None:
    pts = _points(ys)
    steps = frontier(pts, lower_is_better=lower)
    vals = [p.y for p in steps]
    assert all(v is not None and math.isfinite(v) for v in vals)
    for a, b in itertools.pairwise(vals):
        assert a is not None and b is not None
        assert (b < a) if lower else (b > a)
    finite = [y for y in ys if y is not None and math.isfinite(y)]
    if finite:
        assert vals[-1] == (min(finite) if lower else max(finite))
        assert steps[0].y == finite[0]
    else:
        assert steps == ()
    assert all(p in pts for p in steps)


@given(st.lists(st.integers(), max_size=300), st.integers(0, 100))
def test_downsample_is_bounded_ordered_deterministic_and_keeps_the_ends(
    items: list[int], budget: int
) -> None:
    pts = _points([float(v) for v in items])
    out = downsample(pts, budget)
    assert len(out) == min(len(pts), budget)
    assert out == downsample(pts, budget)
    xs = [p.x for p in out]
    assert xs == sorted(set(xs))
    if len(pts) > budget >= 2:
        assert out[0] is pts[0] and out[-1] is pts[-1]


@given(_logs, st.integers(1, 20), st.booleans())
@settings(max_examples=150)
def test_progress_data_never_drops_a_keep(
    log: list[tuple[FailureLabel, float | None]], budget: int, lower: bool
) -> None:
    trials = [_trial(i, s, v) for i, (s, v) in enumerate(log)]
    data = progress_data(
        trials, metric_field="core_metric", lower_is_better=lower, max_points=budget
    )
    kept_ids = {
        t.exp_id
        for t in trials
        if t.status is FailureLabel.KEEP
        and t.core_metric is not None
        and not math.isnan(t.core_metric)
    }
    assert {p.exp_id for p in data.keeps} == kept_ids
    assert len(data.faint) <= budget
    shown = len(data.keeps) + len(data.faint) + len(data.no_metric)
    assert shown + data.thinned == len(trials)
    assert all(p in data.keeps for p in data.steps)
    if kept_ids:
        assert data.best is not None
        best_val = (min if lower else max)(
            t.core_metric for t in trials if t.exp_id in kept_ids and t.core_metric is not None
        )
        assert data.best.y == best_val
    assert set(data.annotated) <= set(data.steps)


@given(st.lists(st.floats(-100, 100), max_size=40), st.integers(0, 50), st.booleans())
def test_annotations_are_the_biggest_steps_in_x_order(ys: list[float], n: int, lower: bool) -> None:
    steps = frontier(_points(list(ys)), lower_is_better=lower)
    chosen = choose_annotations(steps, n, lower_is_better=lower)
    assert len(chosen) == min(n, len(steps))
    assert [p.x for p in chosen] == sorted(p.x for p in chosen)
    gain = {s.x: (abs(s.y - steps[i - 1].y) if i else -1.0) for i, s in enumerate(steps)}  # type: ignore[operator]
    if chosen and len(chosen) < len(steps):
        worst_in = min(gain[p.x] for p in chosen)
        best_out = max(gain[s.x] for s in steps if s not in chosen)
        assert worst_in >= best_out


@given(
    st.lists(st.tuples(st.floats(0, 1000), st.floats(0.5, 9.5), st.floats(1, 200)), max_size=12),
    st.booleans(),
)
def test_placed_labels_do_not_overlap_while_rows_are_free(
    anchors: list[tuple[float, float, float]], lower: bool
) -> None:
    spots = place_labels(anchors, (0.0, 10.0), lower_is_better=lower, row_height=0.5)
    assert len(spots) == len(anchors)
    boxes = [(tx, tx + w, ty) for (tx, ty), (_x, _y, w) in zip(spots, anchors, strict=True)]
    assert all(0.0 <= ty <= 10.0 for _a, _b, ty in boxes)
    # Labels sharing a row overlap only when every row past the point was taken (fallback).
    if len(anchors) <= 1:
        return
    for i, (a0, a1, ay) in enumerate(boxes):
        for b0, b1, by in boxes[i + 1 :]:
            if ay == by and not (a1 <= b0 or b1 <= a0):
                assert ay in (0.25, 9.75)


def test_short_hypothesis_cuts_at_the_first_sentence_or_width() -> None:
    assert short_hypothesis("Raise lr 2x. Then more text") == "Raise lr 2x"
    assert short_hypothesis("a\tb\nc") == "a b c"
    long = "x" * 100
    assert short_hypothesis(long, 10) == "x" * 9 + "…"


def test_y_limits_show_every_keep_and_leave_far_outliers_out() -> None:
    keeps = [1.08, 1.075, 1.072]
    others = [1.073 + i * 1e-5 for i in range(100)] + [2.5, 3.0]
    lo, hi = y_limits(keeps, others, lower_is_better=True) or (0.0, 0.0)
    assert lo < 1.072 and hi > 1.08 and hi < 2.5
    assert y_limits([], [], lower_is_better=True) is None
