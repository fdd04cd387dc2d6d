"""The classic prompt layout (pure: trials in, Markdown out).

Byte-identical to the published layout for ordinary text; text that would break the layout is
neutralised: newlines/tabs become spaces everywhere and ``|`` is escaped inside table cells.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fieldkit.lineage._labels import FailureLabel
from fieldkit.lineage._trial import Trial

__all__ = [
    "EMPTY_PROMPT",
    "current_best_lines",
    "fmt_delta",
    "fmt_metric",
    "one_line",
    "render_default",
    "sentinel_trial",
]

EMPTY_PROMPT = "# Session start — empty lineage\n"
FENCE = "```"

MetricFn = Callable[[Trial], "float | None"]


def sentinel_trial() -> Trial:
    """The placeholder ``current_best`` of an empty store (all strings empty, status baseline)."""
    return Trial(
        "", "", "", "", "", "", "", "", FailureLabel.BASELINE,
        None, None, None, None, None, "", "", "",
    )  # fmt: skip


def fmt_metric(value: float | None) -> str:
    return "—" if value is None else f"{value:.6f}"


def fmt_delta(value: float | None) -> str:
    return "—" if value is None else f"{value:+.6f}"


def trunc(s: str, n: int) -> str:
    """*s* if it fits in *n* characters, else its first n-1 characters plus ``…``."""
    return s if len(s) <= n else s[: n - 1] + "…"


def one_line(s: str) -> str:
    """Newlines, carriage returns and tabs → spaces (they would split a Markdown line)."""
    if "\n" in s or "\r" in s or "\t" in s:
        return s.replace("\r\n", " ").replace("\n", " ").replace("\r", " ").replace("\t", " ")
    return s


def cell(s: str) -> str:
    """Text made safe for one Markdown table cell."""
    s = one_line(s)
    return s.replace("|", "\\|") if "|" in s else s


def current_best_lines(best: Trial, metric_label: str, value: str, hypothesis: str) -> list[str]:
    """The LEADERBOARD "Current Best" block: its heading, one bullet per fact, a blank line."""
    lines = [
        "## Current Best",
        f"- **exp_id**: {best.exp_id}",
        f"- **{metric_label}**: {value}",
        f"- **specialist**: {one_line(best.specialist)}",
        f"- **hypothesis**: {hypothesis}",
    ]
    if best.snapshot_path:
        lines.append(f"- **snapshot**: `{one_line(best.snapshot_path)}`")
    lines.append("")
    return lines


def _chain_lines(chain: Sequence[Trial], metric: MetricFn, chain_note: str) -> list[str]:
    """One line per trial of the chain, root first; the root carries *chain_note*, the last
    trial ``← BEST``."""
    lines = []
    for i, t in enumerate(chain):
        prefix = "" if i == 0 else " └─ "
        line = (
            f"{prefix}exp_{t.exp_id} [{one_line(t.specialist) or 'baseline'}, {t.status.value}, "
            f"metric={fmt_metric(metric(t))}, Δ={fmt_delta(t.delta_vs_best)}] "
            f"{trunc(one_line(t.hypothesis), 100)}"
        )
        if i == 0:
            line += chain_note
        if i == len(chain) - 1:
            line += " ← BEST"
        lines.append(line)
    return lines


def render_default(
    *,
    for_specialist: str,
    session_timestamp: str,
    best: Trial,
    chain: Sequence[Trial],
    top: Sequence[Trial],
    recent: Sequence[Trial],
    last_m: Sequence[Trial],
    metric: MetricFn,
    chain_note: str = "",
) -> str:
    """The classic layout, line for line (see docs/api/lineage.md).

    *chain_note* is appended to the chain's first line when that trial is not a real root
    (its parent is missing from the log, or the parents loop).
    """
    L: list[str] = []
    L.append(f"# Session start — {session_timestamp or '—'}")
    L.append(
        f"You are specialist **{one_line(for_specialist)}**. Current best: "
        f"**exp_{best.exp_id}** (core_metric={fmt_metric(metric(best))})."
    )
    L += ["", "## LEADERBOARD.md", ""]
    hypothesis = trunc(one_line(best.hypothesis), 110)
    L += current_best_lines(best, "core_metric", fmt_metric(metric(best)), hypothesis)
    L += [f"## Top {len(top)} Kept Trials", ""]
    if top:
        L.append("| exp | core_metric | Δ | specialist | hypothesis |")
        L.append("|-----|-------------|---|------------|------------|")
        for t in top:
            L.append(
                f"| {cell(t.exp_id)} | {fmt_metric(metric(t))} | {fmt_delta(t.delta_vs_best)} | "
                f"{cell(t.specialist)} | {trunc(cell(t.hypothesis), 100)} |"
            )
    else:
        L.append("*(no keeps yet)*")
    L.append("")
    L += ["## KNOWLEDGE.md", ""]
    L.append("**Current-best lineage** (root → best):")
    L += [FENCE, *_chain_lines(chain, metric, chain_note), FENCE]
    L.append("")
    L += [f"## Recent Activity (last {len(recent)})", ""]
    if recent:
        L.append("| exp | specialist | status | core_metric | hypothesis |")
        L.append("|-----|------------|--------|-------------|------------|")
        for t in reversed(recent):
            L.append(
                f"| {cell(t.exp_id)} | {cell(t.specialist)} | {t.status.value} | "
                f"{fmt_metric(metric(t))} | {trunc(cell(t.hypothesis), 80)} |"
            )
    L.append("")
    if last_m:
        L.append(f"## Recent Activity (most recent {len(last_m)} — full hypothesis)")
        for t in reversed(last_m):
            L.append(
                f"- exp_{t.exp_id} [{one_line(t.specialist)}, {t.status.value}, "
                f"metric={fmt_metric(metric(t))}, Δ={fmt_delta(t.delta_vs_best)}] "
                f"{one_line(t.hypothesis)}"
            )
            if t.notes:
                L.append(f"  └─ {trunc(one_line(t.notes), 200)}")
        L.append("")
    return "\n".join(L) + "\n"
