"""`fieldkit eval passk|compare|trajectory`: markdown and --json output, user errors exit 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fieldkit.cli import app

runner = CliRunner()


def jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text(
        "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n",
        encoding="utf-8",
    )
    return path


def run(*args: str) -> Any:
    return runner.invoke(app, list(args))


def test_eval_help_lists_commands() -> None:
    res = run("eval", "--help")
    assert res.exit_code == 0
    for cmd in ("passk", "compare", "trajectory"):
        assert cmd in res.output


# -- passk --------------------------------------------------------------------------------------


def test_passk_markdown(tmp_path: Path) -> None:
    f = jsonl(
        tmp_path / "g.jsonl",
        [
            {"task_id": "a", "n": 8, "passed": 5},
            {"task_id": "b", "results": [True] * 8},
            {"task_id": "c", "n": 8, "passed": 0},
            "not json",
        ],
    )
    res = run("eval", "passk", str(f), "--k", "1", "--k", "8", "--k", "16")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0] == "### pass@k (problems=3, samples/problem=8)"
    assert "| 1 | 0.5417 |" in lines
    assert "| 8 | 0.6667 |" in lines
    assert "| 16 | \u2014 (k > samples per problem) |" in lines
    assert lines[-1] == "- skipped malformed lines: 1"


def test_passk_json(tmp_path: Path) -> None:
    f = jsonl(tmp_path / "g.jsonl", [{"n": 4, "passed": 1}, {"n": 4, "passed": 3}])
    res = run("eval", "passk", str(f), "-k", "1", "-k", "1", "--json")
    assert res.exit_code == 0
    assert json.loads(res.stdout) == {
        "n_problems": 2,
        "samples_per_problem": 4,
        "pass_at": {"pass@1": 0.5},
        "n_skipped": 0,
    }


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"n": 8, "passed": 1}, {"n": 4, "passed": 1}], "inconsistent sample counts"),
        ([{"x": 1}], "no usable rows"),
        ([], "no usable rows"),
        ([{"n": "eight", "passed": 1}], "must be whole numbers"),
        (['{"n": 1e400, "passed": 1}'], "must be whole numbers"),  # inf: no OverflowError
        ([{"n": 4, "passed": 1.5}], "must be whole numbers"),  # not truncated to 1
        ([{"n": True, "passed": False}], "must be whole numbers"),
        ([{"n": 4, "passed": 9}], "passed=9"),
    ],
)
def test_passk_bad_input(tmp_path: Path, rows: list[Any], message: str) -> None:
    res = run("eval", "passk", str(jsonl(tmp_path / "g.jsonl", rows)))
    assert res.exit_code == 2
    assert res.stderr.startswith("error: ") and message in res.stderr
    assert "Traceback" not in res.output


def test_passk_bad_k(tmp_path: Path) -> None:
    res = run(
        "eval", "passk", str(jsonl(tmp_path / "g.jsonl", [{"n": 4, "passed": 1}])), "--k", "0"
    )
    assert res.exit_code == 2 and "every k must be >= 1" in res.stderr


def test_missing_file_and_directory(tmp_path: Path) -> None:
    for cmd in (["passk"], ["trajectory"], ["compare", str(tmp_path / "x.jsonl")]):
        res = run("eval", *cmd, str(tmp_path / "missing.jsonl"))
        assert res.exit_code == 2 and res.stderr.startswith("error: no such file")
    res = run("eval", "passk", str(tmp_path))
    assert res.exit_code == 2 and "not a file" in res.stderr


# -- compare ------------------------------------------------------------------------------------


def _traj(tid: str, passed: bool, n_passed: int, turns: int) -> dict[str, Any]:
    return {
        "task_id": tid,
        "final_grade": {
            "passed": passed,
            "n_passed": n_passed,
            "n_total": 2,
            "assertions": [{"kind": "file_exists", "passed": n_passed > 0}] * 2,
        },
        "stopped": "task_complete",
        "n_turns": turns,
        "wall_seconds": 10,
    }


def test_compare_markdown_and_json(tmp_path: Path) -> None:
    base = jsonl(tmp_path / "base.jsonl", [_traj("synth-ml-eng-01", False, 0, 4), "{oops"])
    cand = jsonl(tmp_path / "cand.jsonl", [_traj("synth-ml-eng-01", True, 2, 6)])
    res = run("eval", "compare", str(base), str(cand))
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert out.startswith("### Matched-base comparison\n")
    assert "| task pass | 0/1 (0.0%) | 1/1 (100.0%) | +100.0 pp |" in out
    assert "| ml-eng | 0.0% | 100.0% | +100.0 |" in out
    assert "- skipped malformed lines: baseline 1, candidate 0" in out
    res = run("eval", "compare", str(base), str(cand), "--json", "--no-groups")
    data = json.loads(res.stdout)
    assert data["overall_delta"]["delta_task_pp"] == 100.0
    assert data["per_group"] == [] and data["n_skipped"] == {"baseline": 1, "candidate": 0}


def test_compare_empty_side(tmp_path: Path) -> None:
    base = jsonl(tmp_path / "base.jsonl", ["garbage"])
    cand = jsonl(tmp_path / "cand.jsonl", [_traj("x", True, 2, 1)])
    res = run("eval", "compare", str(base), str(cand))
    assert res.exit_code == 2 and "no trajectory records" in res.stderr


# -- trajectory ---------------------------------------------------------------------------------


def _log(tmp_path: Path) -> Path:
    rows: list[Any] = [{"_meta": "trajectory log", "baseline_val_bpb": 10.95}]
    for i, (k, v, s, d) in enumerate(
        [("lr", 0.001, 10.9, "keep"), ("lr", 0.001, 10.92, "revert"), ("n_head", 8, 10.85, "keep")],
        1,
    ):
        rows.append(
            {"iter": i, "proposal": {"knob": k, "new_value": v}, "decision": d, "val_bpb": s}
        )
    rows.append("broken")
    return jsonl(tmp_path / "t.jsonl", rows)


def test_trajectory_markdown(tmp_path: Path) -> None:
    res = run(
        "eval",
        "trajectory",
        str(_log(tmp_path)),
        "--knob",
        "lr",
        "--knob",
        "n_head",
        "--knob",
        "d_model",
    )
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0] == "### Trajectory (3 iterations, val_bpb, lower is better)"
    assert "- baseline: 10.95" in lines
    assert "- best: 10.85 at iter 3 (n_head = 8)" in lines
    assert "- keeps: 2 / 3" in lines and "- repeat rate: 0.333" in lines
    assert "- skipped malformed lines: 1" in lines
    assert "| lr | 2 |" in lines
    assert "- coverage: 66.7% of 3 knobs; untouched: d_model" in lines
    assert "| lr | 0.001 | 2 |" in lines


def test_trajectory_json(tmp_path: Path) -> None:
    res = run("eval", "trajectory", str(_log(tmp_path)), "--json", "--top", "1")
    data = json.loads(res.stdout)
    assert data["n_iters"] == 3 and data["best"]["iter"] == 3 and data["n_skipped"] == 1
    assert data["mode_dominance"] == [{"knob": "lr", "value": 0.001, "n": 2}]
    assert data["knob_coverage"]["knob_count"] == {"lr": 2, "n_head": 1}


def test_trajectory_no_iterations(tmp_path: Path) -> None:
    f = jsonl(tmp_path / "t.jsonl", [{"baseline_val_bpb": 1.0}])
    res = run("eval", "trajectory", str(f))
    assert res.exit_code == 2 and "no evaluated iterations" in res.stderr
    res = run("eval", "trajectory", str(_log(tmp_path)), "--score-field", "loss")
    assert res.exit_code == 2 and "'loss'" in res.stderr


def test_compare_non_finite_counts_no_traceback(tmp_path: Path) -> None:
    base = jsonl(
        tmp_path / "base.jsonl",
        ['{"task_id": "a", "final_grade": {"passed": true, "n_passed": 1e400, "n_total": 2}}'],
    )
    cand = jsonl(tmp_path / "cand.jsonl", [_traj("a", True, 2, 1)])
    res = run("eval", "compare", str(base), str(cand), "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["baseline"]["n_assertions_passed"] == 0


def test_each_command_help_documents_its_input_format() -> None:
    expected = {
        "passk": ['"passed"', '"results"', "[true"],  # rich markup must not eat the list
        "compare": ['"final_grade"', '"n_total"', '"assertions"'],
        "trajectory": ['"proposal"', '"new_value"', '"decision"'],
    }
    for cmd, needles in expected.items():
        res = run("eval", cmd, "--help")
        assert res.exit_code == 0
        for needle in needles:
            assert needle in res.output, (cmd, needle)
