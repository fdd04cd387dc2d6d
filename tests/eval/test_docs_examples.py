"""Every example of the 0.3.0 eval docs (seed ``docs/api/eval.md``) run with its documented result.

The Judge example needs a NIM endpoint: it runs against the simulator in ``test_judge_grade.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


def test_public_api_import_block() -> None:
    import fieldkit.eval as ev
    from fieldkit.eval import (  # noqa: F401
        ASSERTION_KINDS,
        BUILTIN_RUBRICS,
        REFUSAL_PATTERNS,
        RUBRIC_CORRECTNESS,
        RUBRIC_FAITHFULNESS,
        RUBRIC_RELEVANCE,
        AgentRun,
        AssertionGrader,
        AssertionResult,
        Bench,
        BenchCall,
        GradeResult,
        GroupStats,
        Judge,
        JudgeError,
        JudgeResult,
        MatchedBaseComparison,
        MatchedBaseComparisonResult,
        PassAtK,
        PassAtKResult,
        Trajectory,
        TrajectoryIter,
        TurnDetail,
        is_refusal,
        pass_at_k_estimator,
        summarize_agent_runs,
        summarize_metric,
    )

    v01 = [
        "REFUSAL_PATTERNS",
        "is_refusal",
        "summarize_metric",
        "Bench",
        "BenchCall",
        "RUBRIC_CORRECTNESS",
        "RUBRIC_FAITHFULNESS",
        "RUBRIC_RELEVANCE",
        "BUILTIN_RUBRICS",
        "Judge",
        "JudgeResult",
        "JudgeError",
        "Trajectory",
        "TrajectoryIter",
    ]
    v02 = [
        "ASSERTION_KINDS",
        "AssertionGrader",
        "AssertionResult",
        "GradeResult",
        "PassAtK",
        "PassAtKResult",
        "pass_at_k_estimator",
        "AgentRun",
        "TurnDetail",
        "summarize_agent_runs",
        "MatchedBaseComparison",
        "MatchedBaseComparisonResult",
        "GroupStats",
    ]
    assert set(v01 + v02) <= set(ev.__all__)
    assert all(hasattr(ev, n) for n in ev.__all__)


class _FakePipe:
    """Stands in for ``rag.Pipeline.ask``: returns an answer dict with ``timings_ms``."""

    def ask(self, q: str) -> dict[str, Any]:
        if "fail" in q:
            raise RuntimeError("NIM 503")
        n = len(q)
        return {
            "answer": "42",
            "timings_ms": {
                "embed": n,
                "retrieve": 2 * n,
                "generate_total": 3 * n,
                "end_to_end": 6 * n,
            },
        }


def test_bench_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fieldkit.eval import Bench

    monkeypatch.chdir(tmp_path)
    pipe = _FakePipe()
    questions = ["what is it?", "why?", "please fail"]

    def classify(q: str) -> str:
        return "why" if q.startswith("why") else "what"

    with Bench(
        "naive-rag",
        metrics=["embed", "retrieve", "generate_total", "end_to_end"],
        metrics_key="timings_ms",
    ) as b:
        b.run(pipe.ask, questions, tag_fn=lambda q: {"kind": classify(q)})
    report = b.report()  # markdown table
    b.dump("benchmark.json")  # full JSON
    assert report.startswith("### Bench: naive-rag (n=3)")
    assert "- success: 2 / 3, failures: 1" in report  # the bad input did not sink the sweep
    assert "| embed | 7.5 | 11.0 | 4.0 | 11.0 |" in report
    data = json.loads((tmp_path / "benchmark.json").read_text())
    assert set(data) == {"summary", "calls"}
    assert data["calls"][1]["tags"] == {"kind": "why"}
    assert data["calls"][2]["success"] is False and "RuntimeError" in data["calls"][2]["error"]
    with pytest.raises(RuntimeError):
        Bench("x").run(pipe.ask, ["please fail"], on_error="raise")


def test_judge_parse_documented_forms() -> None:
    from fieldkit.eval import Judge

    assert Judge.parse('{"score": 4, "rationale": "ok"}').score == 4.0
    assert Judge.parse('```json\n{"score": 4, "rationale": "ok"}\n```').score == 4.0
    assert Judge.parse("score: 4").score == 4.0
    assert Judge.parse("no idea").score is None  # None iff parsing failed


def test_trajectory_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fieldkit.eval import Trajectory

    monkeypatch.chdir(tmp_path)
    rows: list[dict[str, Any]] = [{"_meta": "trajectory log", "baseline_val_bpb": 2.0}]
    for i, (knob, val, score, stage) in enumerate(
        [
            ("lr", 1, 1.9, None),
            ("lr", 2, 0.0, "proposed"),
            ("lr", 1, 1.95, None),
            ("wd", 0.1, 1.8, None),
        ],
        1,
    ):
        r: dict[str, Any] = {
            "iter": i,
            "proposal": {"knob": knob, "new_value": val},
            "decision": "keep",
            "val_bpb": score,
        }
        if stage:
            r["stage"] = stage
        rows.append(r)
    Path("trajectory.jsonl").write_text(
        "\n".join(json.dumps(r) for r in rows) + "\nmalformed line\n", encoding="utf-8"
    )
    traj = Trajectory.from_jsonl("trajectory.jsonl", score_field="val_bpb", lower_is_better=True)
    # The 0.3.0 doc comments drifted from the real shapes (SPEC B §2.6); these are the real ones.
    assert traj.knob_coverage()["knob_count"] == {"lr": 2, "wd": 1}  # {knob_name: count}
    assert 0.0 <= traj.repeat_rate() <= 1.0 and traj.repeat_rate() == round(1 / 3, 3)
    assert traj.mode_dominance()[0] == {"knob": "lr", "value": 1, "n": 2}
    assert traj.cumulative_best() == [1.9, 1.9, 1.8]  # list[float]
    assert traj.n_skipped == 1  # the permissive parser now says what it dropped


def test_is_refusal_documented_catches() -> None:
    from fieldkit.eval import is_refusal

    assert is_refusal("The context does not contain the answer.")
    assert is_refusal("I do not know.")
    assert is_refusal("Not specified.")


def test_assertion_grader_example(tmp_path: Path) -> None:
    from fieldkit.eval import AssertionGrader

    sandbox = tmp_path / "sandbox-N"
    sandbox.mkdir()
    (sandbox / "report.md").write_text("# Results\naccuracy: 0.91\n", encoding="utf-8")
    (sandbox / "config.yaml").write_text("lr: 0.1\n", encoding="utf-8")
    task = {
        "task_id": "synth-ml-engineer-01",
        "workspace_seed": {
            "files": [{"kind": "text", "path": "config.yaml", "content": "lr: 0.1\n"}]
        },
        "verifiable_assertions": [
            {"kind": "file_exists", "path": "report.md"},
            {"kind": "file_not_exists", "path": "scratch.tmp"},
            {"kind": "file_contents_contain", "path": "report.md", "must_contain": ["accuracy"]},
            {
                "kind": "file_contents_match_regex",
                "path": "report.md",
                "regex": r"accuracy: 0\.\d+",
            },
            {"kind": "file_unchanged", "path": "config.yaml"},
            {"kind": "file_is_fast", "path": "report.md"},
        ],
    }
    grader = AssertionGrader()
    result = grader.grade(task, post_state_root=Path(sandbox))
    assert (result.passed, result.n_passed, result.n_total) == (False, 5, 6)
    assert result.assertions[-1].detail == "unknown kind: file_is_fast"  # fails, no crash
    assert all(a.detail == "" for a in result.assertions[:5])
    json.dumps(result.to_dict())
    # a bare list works too; file_unchanged without seeds is skipped and counts as a pass
    bare = grader.grade([{"kind": "file_unchanged", "path": "config.yaml"}], sandbox)
    assert bare.passed and bare.assertions[0].detail == "skipped (no seed content)"
    enforced = grader.grade(
        [{"kind": "file_unchanged", "path": "config.yaml"}],
        sandbox,
        seed_files={"config.yaml": "lr: 0.3\n"},
    )
    assert not enforced.passed


def test_passk_example() -> None:
    from fieldkit.eval import PassAtK, pass_at_k_estimator

    def humaneval_run(text: str, problem: dict[str, Any]) -> bool:
        return text.strip() == problem["test"]

    problems = [{"task_id": f"HumanEval/{i}", "test": "ok"} for i in range(4)]
    samples = [["ok"] * 8, ["ok"] * 2 + ["bad"] * 6, ["bad"] * 8, ["ok"] + ["bad"] * 7]
    pak = PassAtK(ks=(1, 8))
    result = pak.score(
        problems=problems,
        samples=samples,
        grader=lambda text, problem: humaneval_run(text, problem),
        extras_fn=lambda p, s: {"first_tail": s[0][-2:]},
    )
    # documented shape {1: 0.7050, 8: 0.8415}: a dict keyed by k with pass@k floats
    assert list(result.pass_at) == [1, 8]
    assert result.pass_at[1] == pytest.approx((8 + 2 + 0 + 1) / 32)
    assert result.pass_at[8] == pytest.approx(3 / 4)
    assert result.per_task[1] == {"task_id": "HumanEval/1", "n": 8, "passed": 2, "first_tail": "ok"}
    with pytest.raises(ValueError):
        pak.score(problems[:2], [["ok"] * 8, ["ok"] * 4], humaneval_run)  # counts diverge
    rows = [{"task_id": r["task_id"], "n": r["n"], "passed": r["passed"]} for r in result.per_task]
    assert pak.from_rows(rows).pass_at == result.pass_at
    assert pass_at_k_estimator(8, 2, 1) == 0.25


def test_agent_run_example(tmp_path: Path) -> None:
    from fieldkit.eval import AgentRun, summarize_agent_runs

    d = tmp_path / "evidence/runs/llama-3.1-8b"
    d.mkdir(parents=True)
    rec = {
        "input_data": {"arxiv_id": "2602.00001"},
        "inference_results": [
            {
                "status": "finished",
                "total_time": 9.0,
                "turn_details": [{"turn": 1, "action": "tool", "duration": 1.0}],
                "final_candidates": ["x"],
            }
        ],
    }
    (d / "inference_output.jsonl").write_text(json.dumps(rec) + "\n", encoding="utf-8")
    runs = AgentRun.from_jsonl(str(d / "inference_output.jsonl"))
    summary = summarize_agent_runs(runs, label="llama-3.1-8b")
    assert summary["label"] == "llama-3.1-8b" and summary["n_succeeded"] == 1
    json.dumps(summary)  # "pass straight to json.dumps"
    raw = {
        "task_id": "t-9",
        "result": {
            "status": "finished",
            "total_time": 2.0,
            "trace": [{"action": "tool"}, {"action": "error"}],
        },
    }
    custom = AgentRun.from_record(
        raw,
        question_id_field="task_id",
        question_id_path=(),
        inference_path=("result",),
        turns_field="trace",
    )
    assert (
        custom.question_id,
        custom.n_turns,
        custom.tool_calls(),
        custom.tool_format_errors(),
    ) == ("t-9", 2, 1, 1)

    # "Override succeeded() for benches with different success semantics"
    class AnyFinished(AgentRun):
        def succeeded(self) -> bool:
            return self.status == "finished"

    mine = AnyFinished.from_jsonl(str(d / "inference_output.jsonl"))
    assert isinstance(mine[0], AnyFinished)
    assert summarize_agent_runs([*mine, AnyFinished.from_record(raw)])["n_succeeded"] == 1
    assert summarize_agent_runs([custom])["n_succeeded"] == 0  # no candidates


def test_matched_base_example(tmp_path: Path) -> None:
    from fieldkit.eval import MatchedBaseComparison

    def traj(tid: str, passed: bool, n_passed: int) -> dict[str, Any]:
        return {
            "task_id": tid,
            "final_grade": {
                "passed": passed,
                "n_passed": n_passed,
                "n_total": 3,
                "assertions": [{"kind": "file_exists", "passed": True}] * 3,
            },
            "stopped": "task_complete",
            "n_turns": 5,
            "wall_seconds": 12.3,
        }

    base_trajectories = [traj("synth-data-science-researcher-03", False, 1)]
    sft_trajectories = [traj("synth-data-science-researcher-03", True, 3)]
    cmp = MatchedBaseComparison()
    result = cmp.compare(baseline=base_trajectories, candidate=sft_trajectories)
    report = result.report()
    assert report.startswith("### Matched-base comparison")
    assert "**Per group**" in report and "| data-science-researcher |" in report
    assert "**Per assertion kind**" in report
    with open(tmp_path / "comparison.json", "w") as fh:
        json.dump(result.to_dict(), fh, indent=2)
    p = tmp_path / "base.jsonl"
    p.write_text("\n".join(json.dumps(t) for t in base_trajectories), encoding="utf-8")
    assert (
        cmp.compare(baseline=p, candidate=sft_trajectories).overall_delta == result.overall_delta
    )  # list of dicts OR path/JSONL
    assert (
        MatchedBaseComparison(group_extractor=None)
        .compare(base_trajectories, sft_trajectories)
        .per_group
        == []
    )
    assert cmp.stats(p).n == 1
    # "Accepts a list/iterable of dicts": a generator works too
    assert cmp.stats(t for t in base_trajectories + sft_trajectories).n == 2
    # "pass any Callable[[str], str]" as group_extractor
    by_prefix = MatchedBaseComparison(group_extractor=lambda tid: tid.split("-")[0])
    rows = by_prefix.compare(base_trajectories, sft_trajectories).per_group
    assert [(r["group"], r["delta_task_pp"]) for r in rows] == [("synth", 100.0)]


def test_bench_rag_sample_shapes() -> None:
    """The 0.3.0 ``samples/bench-rag.py`` walkthrough: summary keys and the three parses."""
    from fieldkit.eval import Bench, Judge, is_refusal

    names = ["embed", "retrieve", "generate_first_token", "generate_total", "end_to_end"]
    with Bench("bench-rag", metrics=names, metrics_key="timings_ms") as b:
        b.run(
            lambda q: {"answer": "I do not know.", "timings_ms": dict.fromkeys(names, 1.0)},
            ["q1", "q2"],
            tag_fn=lambda q: {"q": q},
        )
    assert list(b.summary()) == [
        "name",
        "n",
        "n_success",
        "n_failure",
        "latency_ms",
        *names,
        "wall_seconds",
    ]
    assert sum(is_refusal(c.output["answer"]) for c in b.calls if c.success) == 2
    assert Judge.parse('{"score": 4, "rationale": "r"}').score == 4.0
    assert Judge.parse('```json\n{"score": 0.5, "rationale": "r"}\n```').score == 0.5
    assert Judge.parse("The answer looks fine to me.").score is None
