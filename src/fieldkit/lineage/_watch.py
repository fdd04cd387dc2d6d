"""A live view of a trial log that follows appends: counts, keep rate, best and its chain, tail.

Each refresh asks the store for what is new (a TSV store reads only bytes appended since the
last refresh, under a shared lock held just for that read), so writers are never held up by
the view and a refresh costs what was appended, not the size of the log.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fieldkit.lineage._labels import FailureLabel
from fieldkit.lineage._progress import short_hypothesis
from fieldkit.lineage._trial import Trial

__all__ = ["WatchFrame", "frame_of", "render_frame", "watch_loop"]

_STYLE = {
    FailureLabel.KEEP: "bold green",
    FailureLabel.BASELINE: "bold cyan",
    FailureLabel.DISCARD: "dim",
    FailureLabel.CRASH: "red",
    FailureLabel.PREFLIGHT_CRASH: "red",
    FailureLabel.HARNESS_ABORT: "dim red",
}


@dataclass(frozen=True)
class WatchFrame:
    """What one refresh shows (plain data; ``to_dict`` is the ``--json`` line)."""

    where: str
    metric_field: str
    trials: int
    status_counts: dict[str, int]
    keeps: int
    keep_rate: float
    best: Trial | None
    best_value: float | None
    chain: tuple[Trial, ...]
    recent: tuple[Trial, ...]

    def to_dict(self) -> dict[str, Any]:
        def row(t: Trial) -> dict[str, Any]:
            return {
                "exp_id": t.exp_id,
                "status": t.status.value,
                "specialist": t.specialist,
                "metric": t.metric(self.metric_field),
                "hypothesis": short_hypothesis(t.hypothesis, 80),
            }

        return {
            "trials": self.trials,
            "status_counts": self.status_counts,
            "keeps": self.keeps,
            "keep_rate": self.keep_rate,
            "metric_field": self.metric_field,
            "best": None if self.best is None else row(self.best),
            "chain": [t.exp_id for t in self.chain],
            "recent": [row(t) for t in self.recent],
        }


def frame_of(store: Any, *, last_n: int = 10) -> WatchFrame:
    """One consistent snapshot of *store*: it is brought up to date once, then every field is
    read from that one index (a row appended meanwhile shows in the next frame, not half of it).
    """
    with store._mu:
        idx = store._current()
        n = len(idx)
        keeps = idx.status_counts.get(FailureLabel.KEEP.value, 0)
        best = idx.best()
        chain: tuple[Trial, ...] = ()
        if best is not None:
            chain = tuple(idx.chain_to(best.exp_id) or (best,))
        return WatchFrame(
            where=str(store._where()),
            metric_field=idx.metric_field,
            trials=n,
            status_counts=dict(sorted(idx.status_counts.items())),
            keeps=keeps,
            keep_rate=(keeps / n) if n else 0.0,
            best=best,
            best_value=best.metric(idx.metric_field) if best is not None else None,
            chain=chain,
            recent=tuple(idx.tail(last_n)) if last_n > 0 else (),
        )


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.6g}"


def render_frame(frame: WatchFrame, *, width: int = 100, width_chain: int = 8) -> Any:
    """A rich renderable of *frame* sized for a *width*-column terminal."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    head = Text.assemble(
        (f"{frame.where}", "bold"),
        f"  ·  {frame.trials:,} trials  ·  {frame.keeps:,} kept ",
        (f"({100.0 * frame.keep_rate:.1f}%)", "green"),
        f"  ·  metric {frame.metric_field}",
    )
    counts = Table(title="by status", title_justify="left", show_edge=False, pad_edge=False)
    counts.add_column("status")
    counts.add_column("count", justify="right")
    counts.add_column("%", justify="right")
    n = max(1, frame.trials)
    for status, count in sorted(frame.status_counts.items(), key=lambda kv: (-kv[1], kv[0])):
        style = _STYLE.get(FailureLabel(status), "")
        counts.add_row(Text(status, style=style), f"{count:,}", f"{100.0 * count / n:.1f}")
    if frame.best is None:
        best: Any = Text("best: (no trials yet)", style="dim")
    else:
        shown = frame.chain[-width_chain:]
        hops = " → ".join(f"exp_{t.exp_id} ({_fmt(t.metric(frame.metric_field))})" for t in shown)
        more = (
            f"… {len(frame.chain) - len(shown)} earlier → " if len(frame.chain) > len(shown) else ""
        )
        best = Group(
            Text.assemble(
                ("best: ", "bold"),
                (f"exp_{frame.best.exp_id}", "bold green"),
                f"  {frame.metric_field}={_fmt(frame.best_value)}  ",
                short_hypothesis(frame.best.hypothesis, 90),
            ),
            Text(f"chain: {more}{hops}", style="green"),
        )
    recent = Table(
        title=f"last {len(frame.recent)}", title_justify="left", show_edge=False, pad_edge=False
    )
    recent.add_column("exp", no_wrap=True)
    recent.add_column("status", no_wrap=True)
    recent.add_column("specialist", no_wrap=True)
    recent.add_column(frame.metric_field, justify="right", no_wrap=True)
    recent.add_column("hypothesis", no_wrap=True, overflow="ellipsis")
    rows = list(reversed(frame.recent))
    used = 8 + 4 * 3 + max([len(t.exp_id) + 4 for t in rows] + [3])
    used += max([len(t.status.value) for t in rows] + [6])
    used += max([len(t.specialist) for t in rows] + [10]) + max(len(frame.metric_field), 8)
    hyp_width = max(16, width - used)
    for t in rows:
        recent.add_row(
            f"exp_{t.exp_id}",
            Text(t.status.value, style=_STYLE.get(t.status, "")),
            t.specialist,
            _fmt(t.metric(frame.metric_field)),
            short_hypothesis(t.hypothesis, hyp_width),
        )
    return Group(head, Text(""), counts, Text(""), best, Text(""), recent)


MAX_INTERVAL_S = 86_400.0  # a day between refreshes; far larger values overflow time.sleep


def watch_loop(
    store: Any,
    emit: Callable[[WatchFrame], None],
    *,
    interval: float = 1.0,
    iterations: int | None = None,
    last_n: int = 10,
    sleep: Callable[[float], None] = time.sleep,
) -> WatchFrame:
    """Refresh *iterations* times (forever if None), *interval* seconds apart; last frame.

    ``emit`` gets every frame. Between refreshes no lock is held and no file is open.
    """
    if not 0 <= interval <= MAX_INTERVAL_S:  # nan, inf or 1e308 make time.sleep raise
        raise ValueError(
            f"interval must be between 0 and {MAX_INTERVAL_S:g} seconds, got {interval}"
        )
    if iterations is not None and iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    done = 0
    while True:
        frame = frame_of(store, last_n=last_n)
        emit(frame)
        done += 1
        if iterations is not None and done >= iterations:
            return frame
        sleep(interval)
