"""Draw the progress plot of a trial log with matplotlib (the ``plot`` extra, imported lazily).

The figure is built without pyplot (no global state, no display, no GUI backend): a plain
``matplotlib.figure.Figure`` on the Agg canvas, safe in threads and headless servers. What is
drawn is decided by ``_progress.progress_data``; this module only styles it.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fieldkit._lazy import require
from fieldkit.lineage._labels import FailureLabel
from fieldkit.lineage._progress import (
    DEFAULT_MAX_POINTS,
    ProgressData,
    XAxis,
    place_labels,
    progress_data,
    short_hypothesis,
)

__all__ = ["draw_progress", "plot_store", "save_figure"]

_KEEP = "#1a7f37"
_BEST = "#d4a017"
_FAINT: dict[FailureLabel, tuple[str, str]] = {  # status → (colour, marker)
    FailureLabel.DISCARD: ("#8c959f", "o"),
    FailureLabel.SIZE_BLOCKED: ("#bc8cff", "s"),
    FailureLabel.EVAL_BUDGET_OVERRUN: ("#f0883e", "D"),
    FailureLabel.TRAIN_BUDGET_OVERRUN: ("#f0883e", "v"),
    FailureLabel.DISQUALIFIED: ("#57606a", "P"),
    FailureLabel.CRASH: ("#cf222e", "x"),
    FailureLabel.PREFLIGHT_CRASH: ("#cf222e", "1"),
    FailureLabel.HARNESS_ABORT: ("#6e7781", "|"),
}


def _mpl() -> tuple[Any, Any]:
    require("matplotlib", "plot", purpose="lineage plots")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    return Figure, FigureCanvasAgg


def _clip(y: float, ylim: tuple[float, float] | None) -> tuple[float, bool]:
    if ylim is None:
        return y, False
    lo, hi = ylim
    if y < lo:
        return lo, True
    if y > hi:
        return hi, True
    return y, False


def _x(data: ProgressData, xs: Sequence[float]) -> list[Any]:
    if data.x_axis == "time":
        return [datetime.fromtimestamp(x, tz=UTC) for x in xs]
    return list(xs)


def _draw_faint(ax: Any, data: ProgressData) -> None:
    """The faint points, one series per status; points outside the y range are drawn at its
    edge as triangles, under one legend entry."""
    n_faint = max(1, len(data.faint))
    size = 14.0 if n_faint <= 2000 else 6.0 if n_faint <= 20000 else 3.0
    alpha = 0.45 if n_faint <= 2000 else 0.25
    # Faint points, one series per status (legend shows the whole log's count, not the sample).
    by_status: dict[FailureLabel, list[tuple[float, float, bool]]] = {}
    for p in data.faint:
        assert p.y is not None
        y, clipped = _clip(p.y, data.ylim)
        by_status.setdefault(p.status, []).append((p.x, y, clipped))
    n_clipped = sum(1 for pts in by_status.values() for _x0, _y0, c in pts if c)
    edge_label = f"outside the y range ({n_clipped:,}), drawn at the edge"
    for status, pts in sorted(by_status.items(), key=lambda kv: -len(kv[1])):
        colour, marker = _FAINT.get(status, ("#8c959f", "o"))
        inside = [(x, y) for x, y, c in pts if not c]
        outside = [(x, y) for x, y, c in pts if c]
        if inside:
            ax.scatter(
                _x(data, [x for x, _ in inside]), [y for _, y in inside], s=size, c=colour,
                marker=marker, alpha=alpha, linewidths=0.8 if marker in "x1|" else 0,
                label=status.value.replace("_", " "), zorder=2, rasterized=n_faint > 2000,
            )  # fmt: skip
        if outside:
            ax.scatter(
                _x(data, [x for x, _ in outside]), [y for _, y in outside], s=size * 1.5,
                c=colour, marker="^" if data.lower_is_better else "v", alpha=alpha * 0.8,
                linewidths=0, zorder=2, clip_on=False, label=edge_label,
            )  # fmt: skip
            edge_label = "_nolegend_"  # one legend entry for every clipped series


def draw_progress(data: ProgressData, *, title: str | None = None) -> Any:
    """A ``matplotlib.figure.Figure`` of *data* (no pyplot; render it with ``savefig``)."""
    figure_cls, canvas_cls = _mpl()
    fig = figure_cls(figsize=(12, 6.5), dpi=100, layout="constrained")
    canvas_cls(fig)
    ax = fig.add_subplot()
    _draw_faint(ax, data)
    if data.no_metric:
        ax.scatter(
            _x(data, [p.x for p in data.no_metric]), [0.0] * len(data.no_metric),
            transform=ax.get_xaxis_transform(), marker="|", s=60, c="#cf222e", alpha=0.5,
            linewidths=1.0, label="no metric (crash, abort…)", zorder=2, clip_on=False,
        )  # fmt: skip
    # The frontier: a step line through the running best, run on to the last trial.
    if data.steps:
        xs = [p.x for p in data.steps]
        ys = [_clip(p.y or 0.0, data.ylim)[0] for p in data.steps]
        last_x = max([xs[-1]] + [p.x for p in data.faint] + [p.x for p in data.no_metric])
        xs.append(last_x)
        ys.append(ys[-1])
        ax.step(
            _x(data, xs), ys, where="post", color=_KEEP, linewidth=2.0, alpha=0.9,
            label="running best", zorder=3,
        )  # fmt: skip
    if data.keeps:
        # Thousands of white-edged markers would bury the frontier under their edges.
        many = len(data.keeps) > 300
        kx = [p.x for p in data.keeps]
        ky = [_clip(p.y or 0.0, data.ylim)[0] for p in data.keeps]
        ax.scatter(
            _x(data, kx), ky, s=10 if many else 42, c=_KEEP,
            edgecolors="none" if many else "white", linewidths=0 if many else 0.8,
            label="keep", zorder=4,
        )  # fmt: skip
    if data.best is not None and data.best.y is not None:
        ax.scatter(
            _x(data, [data.best.x]), [_clip(data.best.y, data.ylim)[0]], s=260, marker="*", c=_BEST,
            edgecolors="black", linewidths=0.8, zorder=5,
            label=f"best: exp_{data.best.exp_id} ({data.best.y:.6g})",
        )  # fmt: skip
    _annotate(ax, data)
    if data.ylim is not None:
        ax.set_ylim(*data.ylim)
    direction = "lower is better" if data.lower_is_better else "higher is better"
    ax.set_ylabel(f"{data.metric_field} ({direction})")
    ax.set_xlabel("trial # (log order)" if data.x_axis == "order" else "time (UTC)")
    ax.grid(True, alpha=0.25, linewidth=0.6)
    ax.spines[["top", "right"]].set_visible(False)
    keeps = sum(1 for p in data.keeps if p.status is FailureLabel.KEEP)
    head = title or "Research progress"
    sub = f"{data.total:,} trials, {keeps:,} kept"
    if data.thinned:
        sub += f" ({data.thinned:,} faint points thinned for legibility)"
    ax.set_title(f"{head}\n{sub}", fontsize=12, loc="left")
    ax.legend(loc="upper right", fontsize=8, framealpha=0.85, markerscale=1.2)
    _literal_text(fig)
    return fig


def _literal_text(fig: Any) -> None:
    """Every label drawn as written: ``$…$`` in a hypothesis or a name is text, not mathtext
    (which rejects unknown macros such as ``$\\undefinedmacro$`` when the figure is saved)."""
    from matplotlib.text import Text

    for text in fig.findobj(Text):
        text.set_parse_math(False)


def _annotate(ax: Any, data: ProgressData) -> None:
    """Label the chosen keeps in free rows on the better side of the frontier."""
    if not data.annotated or data.ylim is None:
        return
    labels = [f"exp_{p.exp_id}: {short_hypothesis(p.hypothesis)}" for p in data.annotated]
    x_lo, x_hi = ax.get_xlim() if data.x_axis == "order" else _span(data)
    char_w = (x_hi - x_lo) / 190.0  # ~190 characters of 7.5 pt text across a 12 in axes
    right = max(
        [p.x for p in data.faint] + [p.x for p in data.keeps] + [p.x for p in data.no_metric]
    )
    anchors = [
        (p.x, _clip(p.y or 0.0, data.ylim)[0], (len(s) + 2) * char_w)
        for p, s in zip(data.annotated, labels, strict=True)
    ]
    anchors_with_edge = [*anchors, (right, anchors[0][1], 0.0)]
    span = data.ylim[1] - data.ylim[0]
    steps = [(p.x, _clip(p.y or 0.0, data.ylim)[0]) for p in data.steps]
    steps.append((right, steps[-1][1]))
    obstacles = [(a[0], b[0], a[1]) for a, b in itertools.pairwise(steps)]
    obstacles += [(p.x, p.x, _clip(p.y or 0.0, data.ylim)[0]) for p in data.keeps]
    spots = place_labels(
        anchors_with_edge,
        data.ylim,
        lower_is_better=data.lower_is_better,
        row_height=span / 14,
        obstacles=obstacles,
    )[:-1]
    for p, label, (tx, ty) in zip(data.annotated, labels, spots, strict=True):
        py = _clip(p.y or 0.0, data.ylim)[0]
        ax.annotate(
            label, xy=(_x(data, [p.x])[0], py), xytext=(_x(data, [tx])[0], ty),
            fontsize=7.5, color="#0b3d1d", ha="left", va="center",
            arrowprops={"arrowstyle": "-", "color": _KEEP, "alpha": 0.6, "linewidth": 0.7,
                        "shrinkA": 0, "shrinkB": 3},
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": _KEEP, "alpha": 0.85,
                  "linewidth": 0.5},
            zorder=6, annotation_clip=False,
        )  # fmt: skip


def _span(data: ProgressData) -> tuple[float, float]:
    xs = [p.x for p in data.keeps] + [p.x for p in data.faint] + [p.x for p in data.no_metric]
    return (min(xs), max(xs)) if xs else (0.0, 1.0)


def save_figure(fig: Any, out: str | os.PathLike[str]) -> Path:
    """Write *fig* to *out* (format from the suffix: .png, .svg or .pdf); returns the path."""
    path = Path(out)
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in ("png", "svg", "pdf"):
        raise ValueError(f"--out must end in .png, .svg or .pdf, got {path.name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Fixed metadata so the same log renders to the same bytes (no creation date).
    meta: dict[str, Any] = {"Software": None} if suffix == "png" else {"Date": None}
    if suffix == "svg":
        meta = {"Date": None}
    fig.savefig(path, format=suffix, dpi=150, metadata=meta)
    return path


def plot_store(
    store: Any,
    *,
    out: str | os.PathLike[str] | None = None,
    x_axis: XAxis = "order",
    annotate: int = 5,
    max_points: int = DEFAULT_MAX_POINTS,
    title: str | None = None,
) -> Any:
    """The progress figure of any lineage store (its metric and direction); saved if *out*."""
    if isinstance(annotate, bool) or not isinstance(annotate, int) or annotate < 0:
        raise ValueError(f"annotate must be an int >= 0, got {annotate!r}")
    if title is None:
        results_path = getattr(store, "results_path", None)
        name = results_path.parent.name if results_path is not None else store.table
        title = f"{name}: {store.metric_field} of every trial"
    trials = store.all_trials()
    if not trials:
        raise ValueError("the trial log is empty: nothing to plot")
    metric_field = store.metric_field
    data = progress_data(
        trials,
        metric_field=metric_field,
        lower_is_better=store.lower_is_better,
        x_axis=x_axis,
        annotate=annotate,
        max_points=max_points,
    )
    if not data.keeps and not data.faint:
        raise ValueError(f"no trial has a {metric_field!r} value: nothing to plot")
    fig = draw_progress(data, title=title)
    if out is not None:
        save_figure(fig, out)
    return fig
