"""AgentRun / TurnDetail / summarize_agent_runs: pinned values, fixes, streaming loader."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from fieldkit.eval import AgentRun, TurnDetail, summarize_agent_runs


def arb_record(**ir_over: Any) -> dict[str, Any]:
    ir = {
        "status": "finished",
        "total_time": 12.5,
        "turn_details": [
            {
                "turn": 1,
                "action": "tool",
                "duration": 4.211,
                "input_tokens": 100,
                "output_tokens": 20,
                "papers_retrieved_this_turn": 5,
            },
            {
                "turn": 2,
                "action": "answer",
                "duration_s": 3.0,
                "input_tokens": "50",
                "output_tokens": None,
            },
        ],
        "final_candidates": ["p1", "p2"],
    }
    ir.update(ir_over)
    return {"input_data": {"arxiv_id": "2602.01234"}, "inference_results": [ir]}


def test_default_record() -> None:
    r = AgentRun.from_record(arb_record())
    assert (r.question_id, r.status, r.wall_seconds, r.n_turns, r.n_candidates) == (
        "2602.01234",
        "finished",
        12.5,
        2,
        2,
    )
    assert r.turns[0].duration_s == 4.21
    assert r.turns[0].extras == {"papers_retrieved_this_turn": 5}
    assert r.turns[1].input_tokens == 50 and r.turns[1].output_tokens is None
    assert r.tool_calls() == 1 and r.tool_format_errors() == 0
    assert r.total_input_tokens() == 150 and r.total_output_tokens() == 20
    assert r.succeeded()


def test_only_input_data() -> None:
    r = AgentRun.from_record({"input_data": {"arxiv_id": 7}})
    assert (r.question_id, r.status, r.wall_seconds, r.n_turns, r.n_candidates) == (
        "7",
        "",
        0.0,
        0,
        0,
    )
    assert not r.succeeded()


def test_custom_paths() -> None:
    raw = {
        "task_id": "T1",
        "result": {
            "status": "finished",
            "total_time": "3.256",
            "trace": [{"action": "error"}, "junk"],
            "final_candidates": ("x",),
        },
    }
    r = AgentRun.from_record(
        raw,
        question_id_field="task_id",
        question_id_path=(),
        inference_path=("result",),
        turns_field="trace",
    )
    assert r.question_id == "T1" and r.wall_seconds == 3.26
    assert [(t.turn, t.action) for t in r.turns] == [(1, "error"), (2, "")]
    assert r.tool_format_errors() == 1
    assert r.n_candidates == 1  # tuple candidates count (0.3.0: 0)


def test_fixes_over_0_3_0() -> None:
    raw = arb_record(
        status=None,
        turn_details=[
            {"turn": 0, "action": "tool", "duration": 0, "duration_s": 9.0, "input_tokens": "3.5"}
        ],
    )
    raw["input_data"]["arxiv_id"] = None
    r = AgentRun.from_record(raw)
    assert r.question_id == "" and r.status == ""  # 0.3.0: "None"
    t = r.turns[0]
    assert (t.turn, t.duration_s, t.input_tokens) == (0, 0.0, 3)
    assert r.raw == raw and r.raw is not raw


def test_bad_inference_path_values() -> None:
    assert AgentRun.from_record({"inference_results": "x"}).status == ""
    assert AgentRun.from_record({"inference_results": [5]}).status == ""
    assert AgentRun.from_record({"inference_results": [{"total_time": None}]}).wall_seconds == 0.0
    with pytest.raises(ValueError):
        AgentRun.from_record({"inference_results": [{"total_time": "soon"}]})


def test_turn_detail() -> None:
    t = TurnDetail(1, "tool", 1.234)
    assert t.to_dict() == {
        "turn": 1,
        "action": "tool",
        "duration_s": 1.23,
        "input_tokens": None,
        "output_tokens": None,
    }
    t2 = TurnDetail(1, "tool", 1.0, 1, 2, {"x": 1})
    assert t2.to_dict()["extras"] == {"x": 1} and t2.to_dict()["extras"] is not t2.extras
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.turn = 2  # type: ignore[misc]
    assert TurnDetail(1, "a", 0.0).extras is not TurnDetail(1, "a", 0.0).extras


def test_to_dict() -> None:
    r = AgentRun.from_record(arb_record())
    d = r.to_dict()
    assert list(d) == [
        "question_id",
        "status",
        "wall_seconds",
        "n_turns",
        "n_candidates",
        "tool_calls",
        "tool_format_errors",
        "input_tokens",
        "output_tokens",
        "turns",
    ]
    assert d["input_tokens"] == 150 and len(d["turns"]) == 2
    assert "raw" in r.to_dict(include_raw=True)
    json.dumps(d)


def test_from_jsonl_streams_and_counts(tmp_path: Path) -> None:
    p = tmp_path / "runs.jsonl"
    p.write_text(
        "\n".join(
            [
                json.dumps(arb_record()),
                "",
                "{broken",
                "[1]",
                json.dumps(arb_record(status="context_overflow")),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    runs = AgentRun.from_jsonl(p)
    assert [r.status for r in runs] == ["finished", "context_overflow"]
    assert runs.n_skipped == 2
    custom = AgentRun.from_jsonl(p, parser=lambda rec: AgentRun.from_record(rec))
    assert len(custom) == 2


def test_summarize() -> None:
    runs = [
        AgentRun("a", "finished", 10.0, 2, 1, []),
        AgentRun("b", "finished", 20.0, 3, 0, []),
        AgentRun("c", "context_overflow", 5.0, 1, 0, []),
    ]
    s = summarize_agent_runs(runs, label="m")
    assert list(s) == [
        "label",
        "n_questions",
        "n_succeeded",
        "status_counts",
        "wall_seconds",
        "turns",
        "candidates",
        "tool_calls",
        "tool_format_errors",
    ]
    assert s["n_succeeded"] == 1
    assert s["status_counts"] == {"context_overflow": 1, "finished": 2}
    assert s["wall_seconds"]["mean"] == pytest.approx(11.67)
    assert (s["wall_seconds"]["min"], s["wall_seconds"]["max"]) == (5.0, 20.0)
    assert s["turns"]["max"] == 3.0 and isinstance(s["turns"]["max"], float)


def test_summarize_empty_has_same_keys() -> None:
    s = summarize_agent_runs([], label="x")
    assert s["label"] == "x" and s["n_questions"] == 0 and s["status_counts"] == {}
    assert s["n_succeeded"] == 0 and s["wall_seconds"] == {"n": 0}
    assert list(s) == list(summarize_agent_runs([AgentRun("a", "x", 1.0, 0, 0, [])]))


def test_non_finite_turn_number_falls_back_to_position() -> None:
    rec = json.loads(
        '{"inference_results": [{"turn_details": [{"turn": 1e400, "action": "tool"}]}]}'
    )
    run = AgentRun.from_record(rec)
    assert (run.turns[0].turn, run.turns[0].action) == (1, "tool")
