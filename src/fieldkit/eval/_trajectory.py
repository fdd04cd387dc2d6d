"""``Trajectory``: analyse an agent loop's JSONL log (coverage, repeats, modes, running best).

Streams the file, skips malformed records (counted in ``n_skipped``) instead of crashing on JSON
values that are not objects, non-dict proposals, non-numeric baselines or NaN scores. Values are
compared by type and content (``1``, ``1.0`` and ``True`` are different proposals).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fieldkit.eval._jsonl import JsonlStats, iter_jsonl_objects

__all__ = ["Trajectory", "TrajectoryIter"]

_EM = "\u2014"


@dataclass(frozen=True, slots=True)
class TrajectoryIter:
    """One evaluated iteration of the loop; ``raw`` is the full source record."""

    iter: int
    knob: str
    value: Any
    decision: str
    score: float
    raw: dict[str, Any]


def _freeze(v: Any) -> Any:
    """A hashable, type-aware key for a proposal value (lists and dicts compared by content)."""
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, int):
        return ("int", v)
    if isinstance(v, float):
        return ("float", repr(v))
    if isinstance(v, list | tuple):
        return (type(v).__name__, tuple(_freeze(x) for x in v))
    if isinstance(v, dict):
        items = [(_freeze(k), _freeze(x)) for k, x in v.items()]
        return ("dict", tuple(sorted(items, key=repr)))
    try:
        hash(v)
    except TypeError:
        return ("repr", type(v).__name__, repr(v))
    return (type(v).__name__, v)


def _to_float(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _to_int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str):
        try:
            return int(v.strip())
        except ValueError:
            return None
    return None


@dataclass
class Trajectory:
    """An agent loop's evaluated iterations and run header (``n_skipped`` last)."""

    iters: list[TrajectoryIter]
    baseline: float | None = None
    score_field: str = "val_bpb"
    lower_is_better: bool = True
    header: dict[str, Any] = field(default_factory=dict)
    n_skipped: int = 0

    @classmethod
    def from_jsonl(
        cls, path: str | Path, *, score_field: str = "val_bpb", lower_is_better: bool = True
    ) -> Trajectory:
        """Stream a trajectory log. Line 1 (first object) without ``iter`` is the header.

        Rows whose ``stage`` is not ``"evaluated"`` (``proposed``, ``failed``) are legitimately
        dropped; rows that cannot be read as an iteration are skipped and counted in ``n_skipped``.
        """
        stats = JsonlStats()
        header: dict[str, Any] = {}
        iters: list[TrajectoryIter] = []
        bad = 0
        first = True
        for _lineno, row in iter_jsonl_objects(path, stats):
            if first:
                first = False
                if "iter" not in row and score_field not in row and "proposal" not in row:
                    header = row
                    continue
            if row.get("stage", "evaluated") != "evaluated":
                continue
            it = _to_int(row.get("iter"))
            score = _to_float(row.get(score_field))
            proposal = row.get("proposal") or {}
            if it is None or score is None or not isinstance(proposal, dict):
                bad += 1
                continue
            knob = proposal.get("knob", "")
            iters.append(
                TrajectoryIter(
                    iter=it,
                    knob="" if knob is None else str(knob),
                    value=proposal.get("new_value"),
                    decision=str(row.get("decision", "")),
                    score=score,
                    raw=row,
                )
            )
        baseline = _to_float(header.get(f"baseline_{score_field}")) if header else None
        return cls(iters, baseline, score_field, lower_is_better, header, stats.n_skipped + bad)

    # -- analyses (pure) ------------------------------------------------------------------------
    def knob_coverage(self, all_knobs: Sequence[str] | None = None) -> dict[str, Any]:
        """``knobs_touched`` and ``knob_count`` (most frequent first); with a universe, the
        untouched knobs and the touched percentage (of that universe, never above 100)."""
        counts = Counter(i.knob for i in self.iters if i.knob)
        ordered = sorted(counts.items(), key=lambda kv: -kv[1])  # stable: first appearance
        out: dict[str, Any] = {"knobs_touched": len(counts), "knob_count": dict(ordered)}
        if all_knobs:
            universe = list(dict.fromkeys(all_knobs))
            touched = sum(1 for k in universe if k in counts)
            out["knobs_total"] = len(universe)
            out["knobs_untouched"] = [k for k in universe if k not in counts]
            out["knobs_touched_pct"] = round(100 * touched / len(universe), 1)
        return out

    def repeat_rate(self, *, window: int | None = None) -> float | list[dict[str, Any]]:
        """Share of iterations re-proposing an earlier non-empty ``(knob, value)`` pair."""
        if window is not None and window <= 0:
            raise ValueError("window must be positive")
        seen: set[Any] = set()
        flags: list[bool] = []
        for i in self.iters:
            key = (i.knob, _freeze(i.value))
            flags.append(bool(i.knob) and key in seen)
            if i.knob:
                seen.add(key)
        if window is None:
            return round(sum(flags) / len(flags), 3) if flags else 0.0
        out: list[dict[str, Any]] = []
        for start in range(0, len(flags), window):
            chunk = flags[start : start + window]
            out.append(
                {
                    "first": start + 1,
                    "last": start + len(chunk),
                    "n": len(chunk),
                    "repeats": sum(chunk),
                    "rate": round(sum(chunk) / len(chunk), 3),
                }
            )
        return out

    def mode_dominance(self, *, top_n: int | None = None) -> list[dict[str, Any]]:
        """Most common ``(knob, value)`` proposals first: ``{"knob", "value", "n"}`` entries.

        ``value`` is the value as first proposed (lists stay lists)."""
        counts: Counter[Any] = Counter()
        first_value: dict[Any, tuple[str, Any]] = {}
        for i in self.iters:
            if not i.knob:
                continue
            key = (i.knob, _freeze(i.value))
            counts[key] += 1
            first_value.setdefault(key, (i.knob, i.value))
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])
        if top_n is not None:
            ranked = ranked[: max(top_n, 0)]
        return [{"knob": first_value[k][0], "value": first_value[k][1], "n": n} for k, n in ranked]

    def _better(self, a: float, b: float) -> float:
        return min(a, b) if self.lower_is_better else max(a, b)

    def cumulative_best(self, *, baseline: float | None = None) -> list[float]:
        """Running best score after each iteration (NaN scores never become the best)."""
        if not self.iters:
            return []
        start = baseline if baseline is not None else self.baseline
        best = start if start is not None else self.iters[0].score
        out: list[float] = []
        for i in self.iters:
            if math.isnan(best):
                best = i.score
            elif not math.isnan(i.score):
                best = self._better(best, i.score)
            out.append(best)
        return out

    def keeps(self) -> list[TrajectoryIter]:
        """Iterations whose decision is exactly ``"keep"``."""
        return [i for i in self.iters if i.decision == "keep"]

    def best(self) -> TrajectoryIter | None:
        """The best-scoring iteration (first on ties); ``None`` when empty or all NaN."""
        best: TrajectoryIter | None = None
        for i in self.iters:
            if math.isnan(i.score):
                continue
            if best is None or (
                i.score < best.score if self.lower_is_better else i.score > best.score
            ):
                best = i
        return best

    # -- rendering -------------------------------------------------------------------------------
    def summary(self, *, all_knobs: Sequence[str] | None = None, top_n: int = 5) -> dict[str, Any]:
        """All analyses in one JSON-serialisable dict (``fieldkit eval trajectory --json``)."""
        best = self.best()
        cb = self.cumulative_best()
        return {
            "n_iters": len(self.iters),
            "n_keeps": len(self.keeps()),
            "n_skipped": self.n_skipped,
            "score_field": self.score_field,
            "lower_is_better": self.lower_is_better,
            "baseline": self.baseline,
            "best": None
            if best is None
            else {"iter": best.iter, "knob": best.knob, "value": best.value, "score": best.score},
            "final_best": cb[-1] if cb else None,
            "repeat_rate": self.repeat_rate(),
            "knob_coverage": self.knob_coverage(all_knobs),
            "mode_dominance": self.mode_dominance(top_n=top_n),
        }

    def report(self, *, all_knobs: Sequence[str] | None = None, top_n: int = 5) -> str:
        """Markdown report: headline figures, knob coverage and the dominant proposals."""
        s = self.summary(all_knobs=all_knobs, top_n=top_n)
        direction = "lower" if self.lower_is_better else "higher"

        def cell(v: Any) -> str:
            return str(v).replace("|", "\\|").replace("\n", " ")

        lines = [
            f"### Trajectory ({s['n_iters']} iterations, {self.score_field}, "
            f"{direction} is better)",
            "",
            f"- baseline: {_EM if s['baseline'] is None else s['baseline']}",
        ]
        b = s["best"]
        if b is not None:
            lines.append(
                f"- best: {b['score']} at iter {b['iter']} ({cell(b['knob'])} = {cell(b['value'])})"
            )
        lines += [
            f"- keeps: {s['n_keeps']} / {s['n_iters']}",
            f"- repeat rate: {s['repeat_rate']}",
        ]
        if s["n_skipped"]:
            lines.append(f"- skipped malformed lines: {s['n_skipped']}")
        cov = s["knob_coverage"]
        lines += ["", "| knob | proposals |", "|---|---:|"]
        lines += [f"| {cell(k)} | {n} |" for k, n in cov["knob_count"].items()]
        if "knobs_total" in cov:
            lines.append("")
            lines.append(
                f"- coverage: {cov['knobs_touched_pct']}% of {cov['knobs_total']} knobs; "
                f"untouched: {', '.join(cov['knobs_untouched']) or _EM}"
            )
        if s["mode_dominance"]:
            lines += ["", "| knob | value | n |", "|---|---|---:|"]
            lines += [
                f"| {cell(m['knob'])} | {cell(m['value'])} | {m['n']} |"
                for m in s["mode_dominance"]
            ]
        return "\n".join(lines)
