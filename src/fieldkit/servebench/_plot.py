"""Latency vs throughput across a sweep, as PNG or SVG (matplotlib, the ``plot`` extra).

Drawn on a ``matplotlib.figure.Figure`` of its own: no pyplot state and no backend switch, so
the caller's matplotlib setup is left as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fieldkit._lazy import require
from fieldkit.servebench._latency import LATENCIES
from fieldkit.servebench._metrics import percentile_key
from fieldkit.servebench._render import LOW_SAMPLE, sweep_percentiles

if TYPE_CHECKING:
    from fieldkit.servebench._run import LoadPoint

__all__ = ["plot_sweep"]


def plot_sweep(points: Sequence[LoadPoint], path: str | Path, *, title: str = "") -> Path:
    """Write TTFT, TPOT and E2E (the median, else the lowest percentile computed, and the
    highest percentile computed) against output-token throughput, one marker per load point
    labelled with its load, with each SLO as a dashed line; a fourth panel shows req/s, goodput
    and failed requests per point. A tail marker resting on fewer than 100 requests is drawn
    hollow. The file type follows the suffix."""
    out = Path(path)
    if out.suffix.lower() not in (".png", ".svg"):
        raise ValueError(f"the plot file must end in .png or .svg, got {out.name!r}")
    figure_mod = require("matplotlib.figure", "plot", purpose="bench serve --plot")
    fig: Any = figure_mod.Figure(figsize=(13, 8), layout="constrained")
    axes = fig.subplots(2, 2).flatten()
    pts = [p for p in points if p.metrics.completed]
    xs = [p.metrics.output_throughput for p in pts]
    low = any(p.metrics.completed < LOW_SAMPLE for p in pts)
    mid_p, tail_p = sweep_percentiles(pts)
    mid, tail = percentile_key(mid_p), percentile_key(tail_p)
    for ax, lm in zip(axes[:3], [m for m in LATENCIES if m.name != "itl"], strict=True):
        med = [p.metrics.stat(lm.name, mid) for p in pts]
        ax.plot(xs, med, "o-", label=f"{lm.label} {mid}")
        ys = [p.metrics.stat(lm.name, tail) for p in pts]
        ax.plot(xs, ys, "--", color="C1", label=f"{lm.label} {tail}")
        for p, x, y in zip(pts, xs, ys, strict=True):
            if y is not None:
                hollow = p.metrics.completed < LOW_SAMPLE
                ax.plot([x], [y], "s", color="C1", fillstyle="none" if hollow else "full")
        for p, x, y in zip(pts, xs, med, strict=True):
            if y is not None:
                ax.annotate(f"{p.load:g}", (x, y), textcoords="offset points", xytext=(4, 4))
        limit = pts[0].metrics.slos.get(lm.name) if pts and pts[0].metrics.slos else None
        if limit is not None:
            ax.axhline(limit, color="red", linestyle=":", label=f"SLO {limit:g} ms")
        ax.set_xlabel("output tokens/s")
        ax.set_ylabel(f"{lm.label} (ms)")
        ax.grid(True, alpha=0.3)
        ax.legend()
    ax = axes[3]
    labels = [f"{p.load:g}" for p in points]
    pos = list(range(len(points)))
    ax.bar(
        [i - 0.2 for i in pos], [p.metrics.request_throughput for p in points], 0.4, label="req/s"
    )
    if any(p.metrics.goodput is not None for p in points):
        ax.bar(
            [i + 0.2 for i in pos],
            [p.metrics.goodput or 0.0 for p in points],
            0.4,
            label="goodput (req/s within SLOs)",
        )
    for i, p in enumerate(points):
        verdict = "" if p.meets_slos is None else ("pass" if p.meets_slos else "FAIL")
        failed = f"{p.metrics.failed} failed" if p.metrics.failed else ""
        text = " ".join(t for t in (verdict, failed, "partial" if p.partial else "") if t)
        if text:
            ax.annotate(
                text,
                (i, p.metrics.request_throughput),
                textcoords="offset points",
                xytext=(0, 4),
                ha="center",
                fontsize=8,
            )
    ax.set_xticks(pos, labels)
    ax.set_xlabel(points[0].mode if points else "load")
    ax.set_ylabel("requests/s")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend()
    note = f"\nhollow markers: tail percentile of fewer than {LOW_SAMPLE} requests" if low else ""
    fig.suptitle((title or "latency vs throughput") + note)
    fig.savefig(out)
    return out
