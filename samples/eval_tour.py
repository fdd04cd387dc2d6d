"""A tour of fieldkit.eval that runs offline: no GPU, no NIM, no network.

    .venv/bin/python samples/eval_tour.py

It benchmarks a fake RAG pipeline (sequential vs concurrent), grades answers with an LLM judge
served by fieldkit's loopback NIM simulator, computes pass@k, grades a sandbox with file
assertions, analyses an agent-loop trajectory and compares two rollouts.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from fieldkit.eval import (
    AssertionGrader,
    Bench,
    Judge,
    MatchedBaseComparison,
    PassAtK,
    Trajectory,
    is_refusal,
)
from fieldkit.nim import NIMClient
from fieldkit.testing import NIMSimulator

QUESTIONS = [
    "How much unified memory does the Spark have?",
    "Who won the 2004 US presidential election?",
    "When did Google IPO?",
    "How many medals did Ian Thorpe win?",
    "What is the Spark's memory bandwidth?",
    "Which GPU does the Spark use?",
]


def fake_rag(q: str) -> dict[str, Any]:
    """Stands in for ``rag.Pipeline.ask``: sleeps like a remote call, reports per-stage timings."""
    rng = random.Random(q)
    embed, retrieve, generate = rng.uniform(2, 4), rng.uniform(1, 3), rng.uniform(8, 15)
    time.sleep((embed + retrieve + generate) / 1000)
    answer = "The context does not contain the answer." if "IPO" in q else f"Answer to: {q}"
    return {
        "answer": answer,
        "timings_ms": {
            "embed": embed,
            "retrieve": retrieve,
            "generate_total": generate,
            "end_to_end": embed + retrieve + generate,
        },
    }


def bench_section() -> None:
    metrics = ["embed", "retrieve", "generate_total", "end_to_end"]
    with Bench("sequential", metrics=metrics, metrics_key="timings_ms") as seq:
        seq.run(fake_rag, QUESTIONS * 4, tag_fn=lambda q: {"short": len(q) < 35})
    with Bench("concurrent-8", metrics=metrics, metrics_key="timings_ms") as par:
        par.run(fake_rag, QUESTIONS * 4, concurrency=8)
    print(seq.report(), "\n")
    print(seq.compare(par), "\n")
    refusals = sum(is_refusal(c.output["answer"]) for c in seq.calls if c.success)
    print(f"refusals: {refusals} of {len(seq.calls)}\n")
    with tempfile.TemporaryDirectory() as tmp:  # the sample leaves nothing behind
        out = seq.dump(Path(tmp) / "bench.json")
        print(f"dumped {out.stat().st_size} bytes of JSON (summary + per-call records)\n")


def judge_section() -> None:
    with NIMSimulator() as sim:
        sim.set_chat_reply(
            lambda req: (
                '{"score": 5, "rationale": "matches"}'
                if "Predicted answer: 128 GB" in req["messages"][1]["content"]
                else 'Sure! ```json\n{"score": 1, "rationale": "unrelated"}\n```'
            )
        )
        with NIMClient(sim.base_url, sim.model) as client:
            judge = Judge.builtin(client, "correctness")
            for pred in ("128 GB", "64 GB of HBM"):
                r = judge.grade(question=QUESTIONS[0], prediction=pred, reference="128 GB")
                print(f"judge: {pred!r:16} -> score {r.score} ({r.rationale})")
    for raw in ('{"score": 4, "rationale": "ok"}', "Score: 4/5 - minor slip", "no idea"):
        print(f"Judge.parse({raw!r}) -> {Judge.parse(raw).score}")
    print()


def passk_section() -> None:
    rng = random.Random(0)
    problems = [{"task_id": f"HumanEval/{i}", "difficulty": rng.random()} for i in range(20)]
    samples = [[f"s{j}" for j in range(10)] for _ in problems]

    def grader(sample: str, problem: dict[str, Any]) -> bool:
        if sample == "s9" and problem["task_id"].endswith("7"):
            raise RuntimeError("sandbox crashed")  # recorded as a failed sample, run continues
        return random.Random(sample + problem["task_id"]).random() > problem["difficulty"]

    res = PassAtK(ks=(1, 5, 10, 20)).score(problems, samples, grader)
    print(res.report(), "\n")


def assertions_section() -> None:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / "report.md").write_text("# Results\naccuracy: 0.91\n", encoding="utf-8")
        (root / "log.txt").write_text("a" * 40 + "!", encoding="utf-8")
        task = {
            "task_id": "synth-ml-engineer-01",
            "verifiable_assertions": [
                {"kind": "file_exists", "path": "report.md"},
                {
                    "kind": "file_contents_match_regex",
                    "path": "report.md",
                    "regex": r"accuracy: 0\.\d+",
                },
                {"kind": "file_exists", "path": "../../etc/passwd"},
                # catastrophic backtracking: fails after the time limit instead of hanging
                {"kind": "file_contents_match_regex", "path": "log.txt", "regex": r"(a|aa)+$"},
            ],
        }
        g = AssertionGrader(regex_timeout_s=0.5).grade(task, root)
        print(f"grade {g.task_id}: passed={g.passed} {g.n_passed}/{g.n_total}")
        for a in g.assertions:
            print(f"  {a.kind:28} {a.path:18} {a.passed!s:5} {a.detail}")
    print()


def trajectory_section(tmp: Path) -> None:
    rows: list[Any] = [{"_meta": "trajectory log", "baseline_val_bpb": 10.95}]
    for i, (knob, val, score, dec) in enumerate(
        [
            ("lr", 1e-3, 10.90, "keep"),
            ("lr", 1e-3, 10.92, "revert"),
            ("n_head", 8, 10.85, "keep"),
            ("n_head", 8, 10.88, "revert"),
            ("d_model", 512, 10.80, "keep"),
        ],
        1,
    ):
        rows.append(
            {
                "iter": i,
                "proposal": {"knob": knob, "new_value": val},
                "decision": dec,
                "val_bpb": score,
            }
        )
    p = tmp / "trajectory.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n{truncated", encoding="utf-8")
    traj = Trajectory.from_jsonl(p)
    print(traj.report(all_knobs=["lr", "n_head", "d_model", "weight_decay"]), "\n")


def comparison_section() -> None:
    def rollout(pass_rate: float, seed: int) -> list[dict[str, Any]]:
        rng = random.Random(seed)
        out = []
        for persona in ("ml-engineer", "data-scientist"):
            for i in range(5):
                results = [rng.random() < pass_rate for _ in range(3)]
                out.append(
                    {
                        "task_id": f"synth-{persona}-{i:02d}",
                        "final_grade": {
                            "passed": all(results),
                            "n_passed": sum(results),
                            "n_total": 3,
                            "assertions": [{"kind": "file_exists", "passed": r} for r in results],
                        },
                        "stopped": "task_complete",
                        "n_turns": rng.randint(3, 12),
                        "wall_seconds": rng.uniform(5, 30),
                    }
                )
        return out

    res = MatchedBaseComparison().compare(rollout(0.5, 1), rollout(0.8, 2))
    print(res.report())


def main() -> None:
    bench_section()
    judge_section()
    passk_section()
    assertions_section()
    with tempfile.TemporaryDirectory() as d:
        trajectory_section(Path(d))
    comparison_section()


if __name__ == "__main__":
    main()
