"""Agent-bench runs: ``AgentRun``/``TurnDetail`` parsed from per-question records, and rollups.

Path tuples locate the fields in any bench layout (AutoResearchBench by default). Nulls stay
empty strings (not ``"None"``), an explicit turn 0 or duration 0 is kept, tuple candidate lists
count, numeric token strings parse, and ``raw`` is a shallow copy. ``from_jsonl`` streams and
reports how many lines it skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fieldkit.eval._jsonl import JsonlStats, iter_jsonl_objects
from fieldkit.eval._metrics import summarize_metric

__all__ = ["AgentRun", "AgentRunList", "TurnDetail", "summarize_agent_runs"]

_CANONICAL = ("turn", "action", "duration", "duration_s", "input_tokens", "output_tokens")


def _walk(obj: Any, path: Sequence[str | int], default: Any) -> Any:
    cur = obj
    for comp in path:
        if isinstance(comp, int) and not isinstance(comp, bool):
            if not isinstance(cur, list | tuple) or not -len(cur) <= comp < len(cur):
                return default
            cur = cur[comp]
        else:
            if not isinstance(cur, dict) or comp not in cur:
                return default
            cur = cur[comp]
    return cur


def _text(v: Any) -> str:
    return "" if v is None else str(v)


def _tokens(v: Any) -> int | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        pass
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return int(f) if f == f and f not in (float("inf"), float("-inf")) else None


def _seconds(v: Any) -> float:
    if v is None:
        return 0.0
    return round(float(v), 2)


@dataclass(frozen=True, slots=True)
class TurnDetail:
    """One agent turn: the five canonical fields plus every other source key in ``extras``."""

    turn: int
    action: str
    duration_s: float
    input_tokens: int | None = None
    output_tokens: int | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "turn": self.turn,
            "action": self.action,
            "duration_s": round(self.duration_s, 2),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
        }
        if self.extras:
            out["extras"] = dict(self.extras)
        return out

    @classmethod
    def from_value(cls, value: Any, position: int) -> TurnDetail:
        """Parse one turn element (1-based ``position`` is used when it carries no turn number)."""
        if not isinstance(value, dict):
            return cls(turn=position, action="", duration_s=0.0)
        turn_v = value.get("turn")
        turn = position
        if turn_v is not None and turn_v != "" and not isinstance(turn_v, bool):
            try:
                turn = int(turn_v)
            except (TypeError, ValueError, OverflowError):
                turn = position
        dur = value.get("duration")
        if dur is None:
            dur = value.get("duration_s")
        return cls(
            turn=turn,
            action=_text(value.get("action")),
            duration_s=_seconds(dur),
            input_tokens=_tokens(value.get("input_tokens")),
            output_tokens=_tokens(value.get("output_tokens")),
            extras={k: v for k, v in value.items() if k not in _CANONICAL},
        )


class AgentRunList(list["AgentRun"]):
    """The runs read from a file; ``n_skipped`` counts malformed lines that were skipped."""

    n_skipped: int = 0


@dataclass
class AgentRun:
    """One question's agent run."""

    question_id: str
    status: str
    wall_seconds: float
    n_turns: int
    n_candidates: int
    turns: list[TurnDetail]
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_record(
        cls,
        raw: dict[str, Any],
        *,
        question_id_field: str = "arxiv_id",
        question_id_path: Sequence[str | int] = ("input_data",),
        inference_path: Sequence[str | int] = ("inference_results", 0),
        status_field: str = "status",
        wall_field: str = "total_time",
        turns_field: str = "turn_details",
        candidates_field: str = "final_candidates",
    ) -> AgentRun:
        """Build a run from one bench record; missing fields give empty/zero values."""
        qid = _walk(raw, (*question_id_path, question_id_field), None)
        ir = _walk(raw, tuple(inference_path), {})
        if not isinstance(ir, dict):
            ir = {}
        turns_raw = ir.get(turns_field) or []
        if not isinstance(turns_raw, list | tuple):
            turns_raw = []
        turns = [TurnDetail.from_value(t, i) for i, t in enumerate(turns_raw, start=1)]
        cands = ir.get(candidates_field) or []
        return cls(
            question_id=_text(qid),
            status=_text(ir.get(status_field)),
            wall_seconds=_seconds(ir.get(wall_field) or 0.0),
            n_turns=len(turns),
            n_candidates=len(cands) if isinstance(cands, list | tuple) else 0,
            turns=turns,
            raw=dict(raw),
        )

    @classmethod
    def from_jsonl(
        cls,
        path: str | Path,
        *,
        parser: Callable[[dict[str, Any]], AgentRun] | None = None,
    ) -> AgentRunList:
        """Stream one record per line; malformed lines are skipped and counted (``.n_skipped``).

        Exceptions raised by ``parser`` propagate unchanged.
        """
        parse = parser or cls.from_record
        stats = JsonlStats()
        out = AgentRunList(parse(rec) for _ln, rec in iter_jsonl_objects(path, stats))
        out.n_skipped = stats.n_skipped
        return out

    def tool_calls(self) -> int:
        return sum(1 for t in self.turns if t.action == "tool")

    def tool_format_errors(self) -> int:
        return sum(1 for t in self.turns if t.action == "error")

    def total_input_tokens(self) -> int:
        return sum(t.input_tokens or 0 for t in self.turns)

    def total_output_tokens(self) -> int:
        return sum(t.output_tokens or 0 for t in self.turns)

    def succeeded(self) -> bool:
        """Finished with at least one candidate (override for other success rules)."""
        return self.status == "finished" and self.n_candidates > 0

    def to_dict(self, *, include_raw: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "question_id": self.question_id,
            "status": self.status,
            "wall_seconds": self.wall_seconds,
            "n_turns": self.n_turns,
            "n_candidates": self.n_candidates,
            "tool_calls": self.tool_calls(),
            "tool_format_errors": self.tool_format_errors(),
            "input_tokens": self.total_input_tokens(),
            "output_tokens": self.total_output_tokens(),
            "turns": [t.to_dict() for t in self.turns],
        }
        if include_raw:
            out["raw"] = self.raw
        return out


def summarize_agent_runs(runs: Iterable[AgentRun], *, label: str = "") -> dict[str, Any]:
    """Status counts plus ``summarize_metric`` rollups; the same keys whether or not runs exist."""
    rs = list(runs)
    statuses: dict[str, int] = {}
    for r in rs:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    return {
        "label": label,
        "n_questions": len(rs),
        "n_succeeded": sum(1 for r in rs if r.succeeded()),
        "status_counts": dict(sorted(statuses.items())),
        "wall_seconds": summarize_metric(r.wall_seconds for r in rs),
        "turns": summarize_metric(float(r.n_turns) for r in rs),
        "candidates": summarize_metric(float(r.n_candidates) for r in rs),
        "tool_calls": summarize_metric(float(r.tool_calls()) for r in rs),
        "tool_format_errors": summarize_metric(float(r.tool_format_errors()) for r in rs),
    }
