"""Latency vs throughput across a sweep, as PNG or SVG (matplotlib, the ``plot`` extra)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fieldkit._lazy import require

if TYPE_CHECKING:
    from fieldkit.servebench._run import LoadPoint

__all__ = ["plot_sweep"]


def plot_sweep(points: Sequence[LoadPoint], path: str | Path, *, title: str = "") -> Path:
    """Write TTFT, TPOT and E2E (median and p99) against output-token throughput, one marker per
    load point labelled with its load; the file type follows the suffix (``.png``/``.svg``)."""
    out = Path(path)
    if out.suffix.lower() not in (".png", ".svg"):
        raise ValueError(f"the plot file must end in .png or .svg, got {out.name!r}")
    mpl = require("matplotlib", "plot", purpose="bench serve --plot")
    mpl.use("Agg")
    plt = require("matplotlib.pyplot", "plot", purpose="bench serve --plot")
    pts = [p for p in points if p.summary["completed"]]
    xs = [p.summary["output_throughput"] for p in pts]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4), constrained_layout=True)
    for ax, key, name in zip(
        axes, ("ttft_ms", "tpot_ms", "e2e_ms"), ("TTFT", "TPOT", "E2E"), strict=True
    ):
        for stat, style in (("median", "o-"), ("p99", "s--")):
            ys = [p.summary[key][stat] for p in pts]
            ax.plot(xs, ys, style, label=f"{name} {stat}")
        for p, x, y in zip(pts, xs, [p.summary[key]["median"] for p in pts], strict=True):
            if y is not None:
                ax.annotate(f"{p.load:g}", (x, y), textcoords="offset points", xytext=(4, 4))
        ax.set_xlabel("output tokens/s")
        ax.set_ylabel(f"{name} (ms)")
        ax.grid(True, alpha=0.3)
        ax.legend()
    if pts:
        fig.suptitle(title or f"latency vs throughput ({pts[0].mode} sweep)")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
