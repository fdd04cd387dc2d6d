"""``research ablate``: the same task and proposer with and without the lineage block.

Each arm × seed runs in its own fresh workspace under the output folder (a rerun resumes the
unfinished ones). The comparison is the best-so-far curve per arm (mean with min–max spread
across seeds) plus keeps, crashes and invalid edits, written as a table and a plot.
"""

from __future__ import annotations

import os
import shutil
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fieldkit._atomic import atomic_write_text
from fieldkit.lineage import FailureLabel, Trial
from fieldkit.lineage.views import encode_row
from fieldkit.research._loop import StopRequest, better, run_research
from fieldkit.research._proposer import Proposer
from fieldkit.research._workspace import STATE_DIR, Workspace, init_workspace, open_workspace

__all__ = ["ARMS", "AblationResult", "ArmSummary", "ablate", "best_so_far", "plot_ablation"]

ARMS = ("lineage", "no-lineage")


def best_so_far(trials: Sequence[Trial], metric: str, lower_is_better: bool) -> list[float | None]:
    """The best kept (or baseline) value after each row of *trials* (baseline first)."""
    out: list[float | None] = []
    best: float | None = None
    for t in trials:
        value = t.metric(metric)
        counted = t.status in (FailureLabel.KEEP, FailureLabel.BASELINE)
        if counted and value is not None and better(value, best, lower_is_better):
            best = value
        out.append(best)
    return out


@dataclass(frozen=True)
class ArmSummary:
    """One arm across its seeds: curves, final bests and outcome counts (per seed)."""

    arm: str
    curves: tuple[tuple[float | None, ...], ...]
    finals: tuple[float | None, ...]
    keeps: tuple[int, ...]
    crashes: tuple[int, ...]
    invalid: tuple[int, ...]

    def row(self) -> list[str]:
        finals = [f for f in self.finals if f is not None]

        def fmt(values: Sequence[float]) -> str:
            return f"{statistics.fmean(values):.6g}" if values else ""

        return [
            self.arm,
            str(len(self.curves)),
            fmt(finals),
            f"{min(finals):.6g}" if finals else "",
            f"{max(finals):.6g}" if finals else "",
            fmt([float(k) for k in self.keeps]),
            fmt([float(c) for c in self.crashes]),
            fmt([float(i) for i in self.invalid]),
        ]


TABLE_HEADER = (
    "arm", "seeds", "final_best_mean", "final_best_min", "final_best_max",
    "keeps_mean", "crashes_mean", "invalid_edits_mean",
)  # fmt: skip


@dataclass(frozen=True)
class AblationResult:
    """The comparison: per-arm summaries and the files written."""

    arms: tuple[ArmSummary, ...]
    metric: str
    lower_is_better: bool
    table_path: Path
    plot_path: Path | None

    def table(self) -> list[list[str]]:
        return [list(TABLE_HEADER), *(a.row() for a in self.arms)]


def _workspace_for(source: Workspace, folder: Path) -> Workspace:
    if (folder / STATE_DIR / "config.json").exists():
        return open_workspace(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in (*source.config.targets, "program.md"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source.root / name, folder / name)
    cfg = source.config
    return init_workspace(
        folder,
        targets=cfg.targets,
        run=cfg.run,
        metric=cfg.metric,
        lower_is_better=cfg.lower_is_better,
        budget_s=cfg.budget_s,
        memory_bytes=cfg.memory_bytes,
        branch=cfg.branch,
    )


def _summary(arm: str, workspaces: Sequence[Workspace]) -> ArmSummary:
    curves, finals, keeps, crashes, invalid = [], [], [], [], []
    for ws in workspaces:
        trials = ws.store().all_trials()
        curve = best_so_far(trials, ws.config.metric, ws.config.lower_is_better)
        curves.append(tuple(curve))
        finals.append(curve[-1] if curve else None)
        outcomes = [t.extras.get("outcome", "") for t in trials]
        keeps.append(outcomes.count("keep"))
        crashes.append(outcomes.count("crash") + outcomes.count("timeout"))
        invalid.append(outcomes.count("invalid-edit"))
    return ArmSummary(
        arm, tuple(curves), tuple(finals), tuple(keeps), tuple(crashes), tuple(invalid)
    )


def ablate(
    source: Workspace,
    make_proposer: Callable[[str, int], Proposer],
    *,
    out: str | os.PathLike[str],
    arms: Sequence[str] = ARMS,
    trials: int = 5,
    seeds: int = 2,
    stop: StopRequest | None = None,
    plot: bool = True,
    isolate_network: bool = True,
) -> AblationResult:
    """Run every arm for *seeds* seeds of *trials* trials each; write the table and the plot.

    ``make_proposer(arm, seed)`` gives the proposer of one run. Arms are ``lineage`` and
    ``no-lineage``. The table is ``ablation.tsv`` and the plot ``ablation.png`` in *out*.
    """
    unknown = [a for a in arms if a not in ARMS]
    if unknown or not arms:
        raise ValueError(f"arms must be among {', '.join(ARMS)}, got {list(arms)}")
    if trials < 1 or seeds < 1:
        raise ValueError("trials and seeds must be at least 1")
    folder = Path(out)
    summaries: list[ArmSummary] = []
    for arm in arms:
        runs: list[Workspace] = []
        for seed in range(seeds):
            ws = _workspace_for(source, folder / f"{arm}-seed{seed}")
            if stop is None or not stop.requested:
                run_research(
                    ws,
                    make_proposer(arm, seed),
                    trials=trials,
                    lineage=arm == "lineage",
                    stop=stop,
                    isolate_network=isolate_network,
                )
            runs.append(ws)
        summaries.append(_summary(arm, runs))
    cfg = source.config
    table_path = folder / "ablation.tsv"
    rows = [list(TABLE_HEADER), *(s.row() for s in summaries)]
    atomic_write_text(table_path, b"".join(encode_row(r) for r in rows).decode("utf-8"))
    plot_path = None
    if plot:
        plot_path = folder / "ablation.png"
        plot_ablation(summaries, metric=cfg.metric, out=plot_path)
    return AblationResult(tuple(summaries), cfg.metric, cfg.lower_is_better, table_path, plot_path)


def plot_ablation(arms: Sequence[ArmSummary], *, metric: str, out: Path | None = None) -> Any:
    """Best-so-far per arm: the mean across seeds, min–max shaded (a matplotlib ``Figure``)."""
    from fieldkit._lazy import require
    from fieldkit.lineage.views import save_figure

    require("matplotlib", "plot", purpose="ablation plots")
    from matplotlib.backends.backend_agg import FigureCanvasAgg as canvas_cls
    from matplotlib.figure import Figure as figure_cls
    from matplotlib.ticker import MaxNLocator

    fig = figure_cls(figsize=(7.0, 4.0))
    canvas_cls(fig)
    ax = fig.add_subplot(1, 1, 1)
    styles = ("-", "--", ":", "-.")
    for n, summary in enumerate(arms):
        length = max((len(c) for c in summary.curves), default=0)
        xs, mean, low, high = [], [], [], []
        for i in range(length):
            vals = [c[i] for c in summary.curves if i < len(c) and c[i] is not None]
            clean = [float(v) for v in vals if v is not None]
            if not clean:
                continue
            xs.append(i)
            mean.append(statistics.fmean(clean))
            low.append(min(clean))
            high.append(max(clean))
        label = f"{summary.arm} (n={len(summary.curves)})"
        (line,) = ax.plot(xs, mean, styles[n % len(styles)], marker="o", ms=4, label=label)
        ax.fill_between(xs, low, high, alpha=0.2, color=line.get_color())
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial (0 = baseline)")
    ax.set_ylabel(f"best {metric} so far")
    ax.set_title("lineage ablation: best so far, mean and min–max across seeds")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    if out is not None:
        save_figure(fig, out)
    return fig
