"""What the progress plot shows, decided without drawing: frontier, downsampling, annotations.

Pure functions over trials (no I/O, no matplotlib), so the rules are tested on their own:
the running-best frontier is monotone and touches only kept trials; kept trials are never
dropped, only the faint ones are thinned (deterministically, by even stride); the annotated
keeps are the ones that moved the frontier most.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from fieldkit.lineage._labels import FailureLabel
from fieldkit.lineage._render import one_line
from fieldkit.lineage._trial import Trial

__all__ = [
    "DEFAULT_MAX_POINTS",
    "Point",
    "ProgressData",
    "XAxis",
    "choose_annotations",
    "downsample",
    "frontier",
    "place_labels",
    "progress_data",
    "short_hypothesis",
    "y_limits",
]

XAxis = Literal["order", "time"]
DEFAULT_MAX_POINTS = 5000
_BOLD = (FailureLabel.KEEP, FailureLabel.BASELINE)


@dataclass(frozen=True)
class Point:
    """One plotted trial: x (trial number or epoch seconds), y (metric; None if it has none)."""

    x: float
    y: float | None
    exp_id: str
    status: FailureLabel
    hypothesis: str


@dataclass(frozen=True)
class ProgressData:
    """Everything the figure draws, in drawing order.

    ``faint`` is the (possibly thinned) non-kept trials with a metric; ``no_metric`` the
    (possibly thinned) trials without one (crashes, aborts), drawn as ticks on the x axis.
    ``keeps`` holds every kept/baseline trial with a metric; ``steps`` is the frontier.
    """

    metric_field: str
    lower_is_better: bool
    x_axis: XAxis
    keeps: tuple[Point, ...]
    faint: tuple[Point, ...]
    no_metric: tuple[Point, ...]
    steps: tuple[Point, ...]
    best: Point | None
    annotated: tuple[Point, ...]
    total: int
    thinned: int
    ylim: tuple[float, float] | None


def _better(a: float, b: float, lower: bool) -> bool:
    return a < b if lower else a > b


def frontier(points: Sequence[Point], *, lower_is_better: bool) -> tuple[Point, ...]:
    """The points that set a new running best, in x order (the first point always does).

    Points without a finite metric are ignored. The result's y values are strictly monotone
    (decreasing when lower is better), and every element is one of *points*.
    """
    out: list[Point] = []
    best: float | None = None
    for p in points:
        if p.y is None or not math.isfinite(p.y):
            continue
        if best is None or _better(p.y, best, lower_is_better):
            out.append(p)
            best = p.y
    return tuple(out)


def downsample(items: Sequence[Point], budget: int) -> tuple[Point, ...]:
    """At most *budget* items picked by even stride (first and last kept), order preserved.

    Deterministic: the same input always gives the same output.
    """
    n = len(items)
    if budget <= 0:
        return ()
    if n <= budget:
        return tuple(items)
    if budget == 1:
        return (items[0],)
    return tuple(items[(i * (n - 1)) // (budget - 1)] for i in range(budget))


def choose_annotations(
    steps: Sequence[Point], n: int, *, lower_is_better: bool
) -> tuple[Point, ...]:
    """The *n* frontier steps with the largest gain over the previous step, in x order.

    The first step has no predecessor; it ranks last (ties keep x order). Never more than
    ``len(steps)``; ``()`` for n ≤ 0.
    """
    if n <= 0 or not steps:
        return ()
    gains: list[tuple[float, int]] = []
    for i, p in enumerate(steps):
        if i == 0:
            gain = -math.inf
        else:
            prev = steps[i - 1].y
            assert prev is not None and p.y is not None
            gain = (prev - p.y) if lower_is_better else (p.y - prev)
        gains.append((gain, i))
    chosen = sorted(gains, key=lambda g: (-g[0], g[1]))[:n]
    return tuple(steps[i] for i in sorted(i for _g, i in chosen))


def short_hypothesis(text: str, width: int = 48) -> str:
    """The hypothesis on one line, cut at the first sentence end or *width* characters (…)."""
    line = one_line(text).strip()
    for stop in (". ", ": ", "; "):
        cut = line.find(stop)
        if 0 < cut < width:
            line = line[:cut]
            break
    if len(line) > width:
        line = line[: width - 1].rstrip() + "…"
    return line


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    i = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[i]


_Y_MAX = 1e300


def _bounded(v: float) -> float:
    return min(_Y_MAX, max(-_Y_MAX, v))


def y_limits(
    keep_values: Sequence[float], other_values: Sequence[float], *, lower_is_better: bool
) -> tuple[float, float] | None:
    """A y range that shows every kept trial and the bulk of the rest.

    Faint outliers on the bad side (beyond the 90th percentile, or beyond the worst keep if
    that is further) are left outside; they are drawn clipped to the edge. ``None`` if there
    is nothing finite to show.
    """
    # Values beyond ±1e300 (1e308 is finite) would overflow the span and the plot's own
    # transforms: the range stops there and such points are drawn at its edge.
    keeps = sorted(_bounded(v) for v in keep_values if math.isfinite(v))
    others = sorted(_bounded(v) for v in other_values if math.isfinite(v))
    if not keeps and not others:
        return None
    if lower_is_better:
        lo = min(keeps[:1] + others[:1])
        hi_candidates = keeps[-1:] + ([_quantile(others, 0.9)] if others else [])
        hi = max(hi_candidates)
    else:
        hi = max(keeps[-1:] + others[-1:])
        lo_candidates = keeps[:1] + ([_quantile(others, 0.1)] if others else [])
        lo = min(lo_candidates)
    span = hi - lo
    pad = span * 0.06 if span > 0 else (abs(hi) * 0.01 or 1.0)
    return (lo - pad, hi + pad)


def _epoch(stamp: str) -> float | None:
    text = stamp.strip()
    if not text:
        return None
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when.timestamp()


def progress_data(
    trials: Sequence[Trial],
    *,
    metric_field: str,
    lower_is_better: bool = True,
    x_axis: XAxis = "order",
    annotate: int = 5,
    max_points: int = DEFAULT_MAX_POINTS,
) -> ProgressData:
    """Turn a trial log into what the plot draws.

    ``x_axis="order"`` numbers trials 0, 1, 2… in log order; ``"time"`` uses their timestamps
    (epoch seconds; trials whose timestamp does not parse are left out and counted in
    ``thinned``). Kept and baseline trials are never thinned; the others are cut to
    *max_points* with and *max_points* // 4 without a metric. The best trial is the best kept
    one (the baseline while none is kept), as ``store.best()`` ranks it.
    """
    if x_axis not in ("order", "time"):
        raise ValueError(f"x_axis must be 'order' or 'time', got {x_axis!r}")
    if max_points < 1:
        raise ValueError(f"max_points must be >= 1, got {max_points}")
    keeps: list[Point] = []
    faint: list[Point] = []
    no_metric: list[Point] = []
    unplaced = 0
    for i, t in enumerate(trials):
        if x_axis == "order":
            x: float | None = float(i)
        else:
            x = _epoch(t.timestamp)
            if x is None:
                unplaced += 1
                continue
        y = t.metric(metric_field)
        if y is not None and not math.isfinite(y):
            y = None
        assert x is not None
        p = Point(x, y, t.exp_id, t.status, t.hypothesis)
        if y is None:
            no_metric.append(p)
        elif t.status in _BOLD:
            keeps.append(p)
        else:
            faint.append(p)
    if x_axis == "time":  # appends can be out of timestamp order; lines must run left to right
        keeps.sort(key=lambda p: p.x)
        faint.sort(key=lambda p: p.x)
        no_metric.sort(key=lambda p: p.x)
    shown_faint = downsample(faint, max_points)
    shown_none = downsample(no_metric, max(1, max_points // 4))
    steps = frontier(keeps, lower_is_better=lower_is_better)
    only_keeps = [p for p in keeps if p.status is FailureLabel.KEEP]
    ranked = frontier(only_keeps, lower_is_better=lower_is_better) if only_keeps else steps
    best = ranked[-1] if ranked else None
    ylim = y_limits(
        [p.y for p in keeps if p.y is not None],
        [p.y for p in shown_faint if p.y is not None],
        lower_is_better=lower_is_better,
    )
    return ProgressData(
        metric_field=metric_field,
        lower_is_better=lower_is_better,
        x_axis=x_axis,
        keeps=tuple(keeps),
        faint=shown_faint,
        no_metric=shown_none,
        steps=steps,
        best=best,
        annotated=choose_annotations(steps, annotate, lower_is_better=lower_is_better),
        total=len(trials),
        thinned=unplaced + (len(faint) - len(shown_faint)) + (len(no_metric) - len(shown_none)),
        ylim=ylim,
    )


def place_labels(
    anchors: Sequence[tuple[float, float, float]],
    ylim: tuple[float, float],
    *,
    lower_is_better: bool,
    row_height: float,
    obstacles: Sequence[tuple[float, float, float]] = (),
) -> list[tuple[float, float]]:
    """Text positions for labels ``(x, y, width)`` on the better side of their points.

    *ylim* is cut into rows of *row_height*; each label takes the row nearest its point,
    past the point, where it overlaps no label already placed in x (so connector lines stay
    short and labels never overlap while a row is free). Text that would run past the last
    anchor is shifted left to end there. With no free row, the row furthest from the point
    is shared. Returns ``(text_x, text_y)`` per label.
    """
    lo, hi = ylim
    x_right = max((x for x, _y, _w in anchors), default=0.0)
    x_left = min((x for x, _y, _w in anchors), default=0.0)
    n_rows = max(1, int((hi - lo) / row_height)) if row_height > 0 else 1
    rows: list[list[tuple[float, float]]] = [[] for _ in range(n_rows)]

    def row_y(r: int) -> float:
        return lo + row_height * (r + 0.5) if lower_is_better else hi - row_height * (r + 0.5)

    out: list[tuple[float, float]] = []
    for x, y, width in anchors:
        x0 = max(x_left, min(x, x_right - width))
        span = (x0, x0 + width)
        past = [r for r in range(n_rows) if (row_y(r) < y if lower_is_better else row_y(r) > y)]
        chosen = None
        for r in reversed(past):  # nearest the point first
            if all(span[1] <= a or span[0] >= b for a, b in rows[r]) and not any(
                abs(oy - row_y(r)) < 0.6 * row_height and oa <= span[1] and ob >= span[0]
                for oa, ob, oy in obstacles
            ):
                chosen = r
                break
        fallback = 0
        r = fallback if chosen is None else chosen
        rows[r].append(span)
        out.append((x0, row_y(r)))
    return out
