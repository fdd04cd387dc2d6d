"""Text rendering of load points: a latency table per point and a one-line-per-point sweep
summary (rich, plain text, no colour)."""

from __future__ import annotations

from collections.abc import Sequence
from io import StringIO
from typing import TYPE_CHECKING

from fieldkit.servebench._latency import LATENCIES
from fieldkit.servebench._metrics import percentile_key

if TYPE_CHECKING:
    from fieldkit.servebench._repeat import RepeatSummary
    from fieldkit.servebench._run import LoadPoint

__all__ = ["LOW_SAMPLE", "render_point", "render_repeats", "render_sweep"]

LOW_SAMPLE = 100
"""Below this many samples a p99 (or any tail percentile) is marked: it is near the maximum."""


def _fmt(v: float | None, digits: int = 1) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def render_point(point: LoadPoint) -> str:
    """One load point: a latency table (ms), throughputs, goodput, errors, the server's view,
    the generator's CPU cost, and notes/warnings."""
    from rich.console import Console
    from rich.table import Table

    m = point.metrics
    buf = StringIO()
    console = Console(file=buf, width=110, force_terminal=False, color_system=None)
    mark = "  [PARTIAL]" if point.partial else ""
    title = f"{point.label}: {m.completed}/{m.requests} ok in {m.duration_s:.2f} s{mark}"
    table = Table(title=title, title_justify="left")
    table.add_column("ms")
    keys = m.latency[LATENCIES[0].name].keys()
    for key in keys:
        table.add_column(key, justify="right")
    table.add_column("n", justify="right")
    for lm in LATENCIES:
        stats = m.latency[lm.name]
        table.add_row(lm.label, *(_fmt(stats.get(k)) for k in keys), str(stats.count))
    console.print(table)
    if 0 < m.completed < LOW_SAMPLE:
        console.print(
            f"(tail percentiles rest on {m.completed} requests: with fewer than {LOW_SAMPLE}, "
            "a p99 is close to the maximum)"
        )
    tokens = m.token_source or "none"
    inp = (
        f"{m.input_tokens} input tokens ({m.input_token_source})"
        if m.input_tokens is not None
        else f"~{m.input_tokens_estimated} input tokens (estimated)"
    )
    console.print(
        f"throughput: {m.request_throughput:.2f} req/s, {m.output_throughput:.1f} output "
        f"tok/s, {m.total_token_throughput:.1f} total tok/s (output tokens: {tokens}; {inp})"
    )
    if m.slos is not None:
        limits = ", ".join(f"{k}≤{v:g}ms" for k, v in m.slos.items())
        verdict = "meets" if point.meets_slos else "misses"
        console.print(
            f"goodput: {m.goodput or 0.0:.2f} req/s ({m.good_requests}/{m.requests} within "
            f"{limits}) → {verdict} the SLOs"
        )
    if m.errors:
        console.print("errors: " + ", ".join(f"{k}×{n}" for k, n in m.errors.items()))
        detail = next((r.error_detail for r in point.records if r.error_detail), None)
        if detail:
            console.print(f"  first error: {' '.join(detail.split())[:200]}")
    if point.server:
        view = {k: v for k, v in point.server.items() if v is not None and k != "server"}
        shown = ", ".join(
            f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in view.items()
        )
        console.print(f"server's view ({point.server['server']} /metrics): {shown}")
    if point.generator_cpu_ms_per_request is not None:
        console.print(
            f"load generator: {point.generator_cpu_ms_per_request:.2f} ms CPU per request"
        )
    if point.steady_window is not None:
        win = point.steady_window
        console.print(
            f"steady state: {win['requests']} of {len(point.records)} requests, "
            f"{win['start_s']:.2f}–{win['end_s']:.2f} s (ramp-up and drain dropped)"
        )
    if point.note:
        console.print(f"note: {point.note}")
    for w in point.warnings:
        console.print(f"warning: {w}")
    return buf.getvalue()


def render_sweep(points: Sequence[LoadPoint]) -> str:
    """One row per point: load, ok/sent, req/s, output tok/s, TTFT/TPOT at the median (the
    lowest percentile computed when 50 is not) and the highest percentile computed, goodput and
    whether it met the SLOs, errors and partial marks; the columns are named by percentile."""
    from rich.console import Console
    from rich.table import Table

    buf = StringIO()
    console = Console(file=buf, width=130, force_terminal=False, color_system=None)
    table = Table(title="sweep", title_justify="left")
    mid, tail = sweep_percentiles(points)
    pcols = [f"{lm} p{p:g}" for lm in ("TTFT", "TPOT") for p in (mid, tail)]
    for col in ("load", "ok/sent", "req/s", "out tok/s", *pcols, "goodput", "SLOs", "errors"):
        table.add_column(col, justify="right")
    for p in points:
        m = p.metrics
        low = "*" if m.completed < LOW_SAMPLE else ""
        table.add_row(
            p.label + (" [partial]" if p.partial else ""),
            f"{m.completed}/{m.requests}",
            f"{m.request_throughput:.2f}",
            f"{m.output_throughput:.1f}",
            _fmt(m.stat("ttft", percentile_key(mid))),
            _fmt(m.stat("ttft", percentile_key(tail))) + low,
            _fmt(m.stat("tpot", percentile_key(mid))),
            _fmt(m.stat("tpot", percentile_key(tail))) + low,
            "—" if m.goodput is None else f"{m.goodput:.2f}",
            "—" if p.meets_slos is None else ("meets" if p.meets_slos else "misses"),
            str(m.failed),
        )
    console.print(table)
    if any(p.metrics.completed < LOW_SAMPLE for p in points):
        console.print(f"* the tail percentile rests on fewer than {LOW_SAMPLE} requests")
    return buf.getvalue()


def sweep_percentiles(points: Sequence[LoadPoint]) -> tuple[float, float]:
    """The sweep's two percentile columns: the median (else the lowest computed) and the
    highest computed; every point of a run computes the same percentiles."""
    ps = [p for p, _ in points[0].metrics.latency["ttft"].percentiles] if points else []
    if not ps:
        return 50.0, 99.0
    return (50.0 if 50 in ps else min(ps)), max(ps)


def render_repeats(summaries: Sequence[RepeatSummary]) -> str:
    """One row per load: each figure as ``mean ± 95 % CI half-width`` across repeats."""
    from rich.console import Console
    from rich.table import Table

    from fieldkit.servebench._repeat import REPEAT_FIGURES

    buf = StringIO()
    console = Console(file=buf, width=160, force_terminal=False, color_system=None)
    table = Table(title="across repeats: mean ± 95 % CI", title_justify="left")
    table.add_column("load", justify="right")
    table.add_column("n", justify="right")
    names = [n for n, _, _ in REPEAT_FIGURES if any(n in s.figures for s in summaries)]
    for name in names:
        table.add_column(name.replace("_", " "), justify="right")
    for s in summaries:
        n = max((e.n for e in s.figures.values()), default=0)
        cells = [str(s.figures[k]) if k in s.figures else "—" for k in names]
        table.add_row(f"{s.mode}={s.load:g}", str(n), *cells)
    console.print(table)
    return buf.getvalue()
