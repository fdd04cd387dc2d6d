"""Matched-base comparison: aggregate two rollouts over the same tasks and report B − A.

Totals fall back to the assertion list when ``n_passed``/``n_total`` are absent,
a group present on one side only is reported as unmatched (no fake 0% delta), the default group
extractor only strips ``synth-<persona>-NN`` ids, JSONL inputs stream and count skipped lines,
and the report formats unrounded figures once.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fieldkit.eval._jsonl import JsonlStats, iter_jsonl_objects

__all__ = [
    "GroupStats",
    "MatchedBaseComparison",
    "MatchedBaseComparisonResult",
    "default_group_extractor",
]

_EM = "\u2014"


def default_group_extractor(task_id: str) -> str:
    """``synth-data-science-researcher-03`` → ``data-science-researcher``; other ids unchanged."""
    parts = task_id.split("-")
    if len(parts) < 3 or parts[0] != "synth":
        return task_id
    return "-".join(parts[1:-1])


def _pct(a: int, b: int) -> float:
    return 100.0 * a / b if b else 0.0


@dataclass(frozen=True, slots=True)
class GroupStats:
    """One rollout's aggregate; ``n_skipped`` counts malformed input lines/records skipped."""

    n: int
    n_passed: int
    n_assertions_passed: int
    n_assertions_total: int
    by_group: dict[str, dict[str, int]]
    by_kind: dict[str, dict[str, int]]
    stops: dict[str, int]
    mean_turns: float
    mean_wall: float
    n_skipped: int = 0

    def task_pass_pct(self) -> float:
        """Percent of tasks passed (0.0 for no tasks)."""
        return _pct(self.n_passed, self.n)

    def assertion_pass_pct(self) -> float:
        """Percent of assertions passed (0.0 for no assertions)."""
        return _pct(self.n_assertions_passed, self.n_assertions_total)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "n_passed": self.n_passed,
            "n_assertions_passed": self.n_assertions_passed,
            "n_assertions_total": self.n_assertions_total,
            "task_pass_pct": round(self.task_pass_pct(), 2),
            "assertion_pass_pct": round(self.assertion_pass_pct(), 2),
            "by_group": {k: dict(v) for k, v in sorted(self.by_group.items())},
            "by_kind": {k: dict(v) for k, v in sorted(self.by_kind.items())},
            "stops": dict(sorted(self.stops.items())),
            "mean_turns": round(self.mean_turns, 2),
            "mean_wall": round(self.mean_wall, 2),
        }


def _f(v: Any) -> str:
    return _EM if v is None else f"{v:.1f}%"


def _d(v: Any) -> str:
    return _EM if v is None else f"{v:+.1f}"


@dataclass(frozen=True, slots=True)
class MatchedBaseComparisonResult:
    """Both sides' stats, the headline deltas (candidate − baseline) and per-group/kind rows."""

    baseline: GroupStats
    candidate: GroupStats
    overall_delta: dict[str, float]
    per_group: list[dict[str, Any]]
    per_kind: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline.to_dict(),
            "candidate": self.candidate.to_dict(),
            "overall_delta": {k: round(v, 2) for k, v in self.overall_delta.items()},
            "per_group": [dict(r) for r in self.per_group],
            "per_kind": [dict(r) for r in self.per_kind],
        }

    def report(self) -> str:
        """Markdown headline table, then per-group and per-kind tables (no trailing newline)."""
        b, c = self.baseline, self.candidate
        od = self.overall_delta
        dt = od.get("delta_task_pp", c.task_pass_pct() - b.task_pass_pct())
        da = od.get("delta_assertion_pp", c.assertion_pass_pct() - b.assertion_pass_pct())
        dtu = od.get("delta_mean_turns", c.mean_turns - b.mean_turns)
        dw = od.get("delta_mean_wall", c.mean_wall - b.mean_wall)
        lines = [
            "### Matched-base comparison",
            "",
            "| metric | baseline | candidate | \u0394 |",
            "|---|---:|---:|---:|",
            f"| task pass | {b.n_passed}/{b.n} ({b.task_pass_pct():.1f}%) | "
            f"{c.n_passed}/{c.n} ({c.task_pass_pct():.1f}%) | {dt:+.1f} pp |",
            f"| per-assertion | {b.n_assertions_passed}/{b.n_assertions_total} "
            f"({b.assertion_pass_pct():.1f}%) | {c.n_assertions_passed}/{c.n_assertions_total} "
            f"({c.assertion_pass_pct():.1f}%) | {da:+.1f} pp |",
            f"| mean turns | {b.mean_turns:.2f} | {c.mean_turns:.2f} | {dtu:+.2f} |",
            f"| mean wall (s) | {b.mean_wall:.2f} | {c.mean_wall:.2f} | {dw:+.2f} |",
            "",
        ]
        if self.per_group:
            lines += [
                "**Per group**",
                "",
                "| group | base task% | cand task% | \u0394 pp "
                "| base asrt% | cand asrt% | \u0394 pp |",
                "|---|---:|---:|---:|---:|---:|---:|",
            ]
            for bs_g, cs_g, name in self._group_pairs():
                bt = _pct(bs_g["passed"], bs_g["n"]) if bs_g else None
                ct = _pct(cs_g["passed"], cs_g["n"]) if cs_g else None
                ba = _pct(bs_g["n_assertions_passed"], bs_g["n_assertions_total"]) if bs_g else None
                ca = _pct(cs_g["n_assertions_passed"], cs_g["n_assertions_total"]) if cs_g else None
                dtp = ct - bt if bt is not None and ct is not None else None
                dap = ca - ba if ba is not None and ca is not None else None
                lines.append(
                    f"| {name} | {_f(bt)} | {_f(ct)} | {_d(dtp)} "
                    f"| {_f(ba)} | {_f(ca)} | {_d(dap)} |"
                )
            lines.append("")
        if self.per_kind:
            lines += [
                "**Per assertion kind**",
                "",
                "| kind | base | candidate | \u0394 pp |",
                "|---|---:|---:|---:|",
            ]
            for name in [r["kind"] for r in self.per_kind]:
                bk = self.baseline.by_kind.get(name)
                ck = self.candidate.by_kind.get(name)
                bp = _pct(bk["passed"], bk["n"]) if bk else None
                cp = _pct(ck["passed"], ck["n"]) if ck else None
                dp = cp - bp if bp is not None and cp is not None else None
                lines.append(f"| {name} | {_f(bp)} | {_f(cp)} | {_d(dp)} |")
        while lines and lines[-1] == "":
            lines.pop()
        return "\n".join(lines)

    def _group_pairs(self) -> list[tuple[dict[str, int] | None, dict[str, int] | None, str]]:
        names = [r["group"] for r in self.per_group]
        return [(self.baseline.by_group.get(g), self.candidate.by_group.get(g), g) for g in names]


def _is_file(p: Path) -> bool:
    try:
        return p.is_file()
    except OSError:  # e.g. ENAMETOOLONG for JSONL text passed as a str
        return False


def _iter_rows(rows: Any, stats: JsonlStats) -> Iterable[Mapping[str, Any]]:
    """Dict rows from an iterable, a JSONL path, or JSONL text (a str that is not a file)."""
    if isinstance(rows, Path):
        yield from (r for _ln, r in iter_jsonl_objects(rows, stats))
        return
    if isinstance(rows, str):
        p = Path(rows)
        looks_like_text = "\n" in rows or rows.lstrip().startswith("{")
        if not looks_like_text or _is_file(p):
            yield from (r for _ln, r in iter_jsonl_objects(p, stats))
            return
        for line in rows.removeprefix("\ufeff").splitlines():  # a BOM would hide row 1
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                stats.n_skipped += 1
                continue
            if isinstance(obj, dict):
                yield obj
            else:
                stats.n_skipped += 1
        return
    for r in rows:
        if isinstance(r, Mapping):
            yield r
        else:
            stats.n_skipped += 1


def _count(v: Any) -> int:
    """A count from a record field; missing, non-numeric or non-finite values count 0."""
    if v is None or isinstance(v, bool):
        return int(bool(v))
    try:
        return int(v)
    except (TypeError, ValueError, OverflowError):
        return 0


def _num(v: Any) -> float:
    """A float from a record field; missing, non-numeric or non-finite values count 0.0."""
    try:
        f = float(v or 0)
    except (TypeError, ValueError, OverflowError):
        return 0.0
    return f if math.isfinite(f) else 0.0


@dataclass
class MatchedBaseComparison:
    """Two-rollout B − A driver; ``group_extractor=None`` disables per-group rows."""

    group_extractor: Callable[[str], str] | None = field(default=default_group_extractor)

    def stats(self, rows: Iterable[Mapping[str, Any]] | str | Path) -> GroupStats:
        """Aggregate one rollout (dict rows, a JSONL path or JSONL text)."""
        js = JsonlStats()
        n = n_passed = a_passed = a_total = 0
        turns = wall = 0.0
        by_group: dict[str, dict[str, int]] = {}
        by_kind: dict[str, dict[str, int]] = {}
        stops: dict[str, int] = {}
        for r in _iter_rows(rows, js):
            grade = r.get("final_grade") or {}
            if not isinstance(grade, Mapping):
                grade = {}
            asserts = grade.get("assertions") or []
            if not isinstance(asserts, list | tuple):
                asserts = []
            passed = bool(grade.get("passed"))
            if grade.get("n_total") is None and asserts:
                ap = sum(1 for a in asserts if isinstance(a, Mapping) and a.get("passed"))
                at = len(asserts)
            else:
                ap, at = _count(grade.get("n_passed")), _count(grade.get("n_total"))
            n += 1
            n_passed += passed
            a_passed += ap
            a_total += at
            if self.group_extractor is not None:
                g = self.group_extractor(str(r.get("task_id") or ""))
                bucket = by_group.setdefault(
                    g, {"n": 0, "passed": 0, "n_assertions_passed": 0, "n_assertions_total": 0}
                )
                bucket["n"] += 1
                bucket["passed"] += int(passed)
                bucket["n_assertions_passed"] += ap
                bucket["n_assertions_total"] += at
            for a in asserts:
                if not isinstance(a, Mapping):
                    continue
                kb = by_kind.setdefault(str(a.get("kind") or ""), {"n": 0, "passed": 0})
                kb["n"] += 1
                kb["passed"] += int(bool(a.get("passed")))
            stop = str(r.get("stopped") or "?")
            stops[stop] = stops.get(stop, 0) + 1
            turns += _num(r.get("n_turns"))
            wall += _num(r.get("wall_seconds"))
        return GroupStats(
            n=n,
            n_passed=n_passed,
            n_assertions_passed=a_passed,
            n_assertions_total=a_total,
            by_group=by_group,
            by_kind=by_kind,
            stops=stops,
            mean_turns=turns / n if n else 0.0,
            mean_wall=wall / n if n else 0.0,
            n_skipped=js.n_skipped,
        )

    def compare(
        self,
        baseline: Iterable[Mapping[str, Any]] | str | Path,
        candidate: Iterable[Mapping[str, Any]] | str | Path,
    ) -> MatchedBaseComparisonResult:
        """Stats for both sides and candidate − baseline deltas.

        A group or kind seen on one side only has ``None`` for the other side's figures and the
        delta, and ``"matched": False`` (never a fake 0%).
        """
        b, c = self.stats(baseline), self.stats(candidate)
        overall = {
            "delta_task_pp": c.task_pass_pct() - b.task_pass_pct(),
            "delta_assertion_pp": c.assertion_pass_pct() - b.assertion_pass_pct(),
            "delta_mean_turns": c.mean_turns - b.mean_turns,
            "delta_mean_wall": c.mean_wall - b.mean_wall,
        }
        per_group: list[dict[str, Any]] = []
        for g in sorted(set(b.by_group) | set(c.by_group)):
            bg, cg = b.by_group.get(g), c.by_group.get(g)
            bt = _pct(bg["passed"], bg["n"]) if bg else None
            ct = _pct(cg["passed"], cg["n"]) if cg else None
            ba = _pct(bg["n_assertions_passed"], bg["n_assertions_total"]) if bg else None
            ca = _pct(cg["n_assertions_passed"], cg["n_assertions_total"]) if cg else None
            per_group.append(
                {
                    "group": g,
                    "n": max(bg["n"] if bg else 0, cg["n"] if cg else 0),
                    "baseline_task_pct": _r(bt),
                    "candidate_task_pct": _r(ct),
                    "delta_task_pp": _r(ct - bt if bt is not None and ct is not None else None),
                    "baseline_assertion_pct": _r(ba),
                    "candidate_assertion_pct": _r(ca),
                    "delta_assertion_pp": _r(
                        ca - ba if ba is not None and ca is not None else None
                    ),
                    "matched": bg is not None and cg is not None,
                }
            )
        per_kind: list[dict[str, Any]] = []
        for k in sorted(set(b.by_kind) | set(c.by_kind)):
            bk, ck = b.by_kind.get(k), c.by_kind.get(k)
            bp = _pct(bk["passed"], bk["n"]) if bk else None
            cp = _pct(ck["passed"], ck["n"]) if ck else None
            per_kind.append(
                {
                    "kind": k,
                    "baseline_pct": _r(bp),
                    "candidate_pct": _r(cp),
                    "delta_pp": _r(cp - bp if bp is not None and cp is not None else None),
                    "n": max(bk["n"] if bk else 0, ck["n"] if ck else 0),
                    "matched": bk is not None and ck is not None,
                }
            )
        return MatchedBaseComparisonResult(b, c, overall, per_group, per_kind)


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 2)
