"""MatchedBaseComparison: pinned examples, report format, unmatched groups, file inputs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from fieldkit.eval import GroupStats, MatchedBaseComparison, default_group_extractor


def row(
    tid: str,
    passed: bool,
    np_: int,
    nt: int,
    kinds: list[tuple[str, bool]],
    turns: float = 0,
    wall: float = 0,
    stopped: str = "task_complete",
) -> dict[str, Any]:
    return {
        "task_id": tid,
        "final_grade": {
            "passed": passed,
            "n_passed": np_,
            "n_total": nt,
            "assertions": [{"kind": k, "passed": p} for k, p in kinds],
        },
        "stopped": stopped,
        "n_turns": turns,
        "wall_seconds": wall,
    }


def test_default_extractor() -> None:
    assert default_group_extractor("synth-data-science-researcher-03") == "data-science-researcher"
    assert default_group_extractor("x") == "x"
    assert default_group_extractor("a-b") == "a-b"
    assert default_group_extractor("foo-bar-baz") == "foo-bar-baz"  # 0.3.0: "bar"
    assert MatchedBaseComparison().group_extractor is default_group_extractor


def test_stats_pinned() -> None:
    rows = [
        row("synth-ml-engineer-01", True, 5, 5, [("file_exists", True)] * 5, turns=4),
        row(
            "synth-ml-engineer-02",
            False,
            2,
            4,
            [("file_exists", True)] * 2 + [("file_exists", False)] * 2,
            turns=12,
        ),
        row("synth-writer-01", True, 3, 3, [("file_exists", True)] * 3, turns=3),
    ]
    s = MatchedBaseComparison().stats(rows)
    assert (s.n, s.n_passed, s.n_assertions_passed, s.n_assertions_total) == (3, 2, 10, 12)
    assert s.by_group["ml-engineer"] == {
        "n": 2,
        "passed": 1,
        "n_assertions_passed": 7,
        "n_assertions_total": 9,
    }
    assert s.by_kind["file_exists"] == {"n": 12, "passed": 10}
    assert s.stops == {"task_complete": 3}
    assert s.mean_turns == pytest.approx(19 / 3)
    assert s.task_pass_pct() == pytest.approx(200 / 3)
    d = s.to_dict()
    assert list(d) == [
        "n",
        "n_passed",
        "n_assertions_passed",
        "n_assertions_total",
        "task_pass_pct",
        "assertion_pass_pct",
        "by_group",
        "by_kind",
        "stops",
        "mean_turns",
        "mean_wall",
    ]
    assert d["task_pass_pct"] == 66.67 and d["assertion_pass_pct"] == 83.33
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.n = 1  # type: ignore[misc]


def test_empty_stats_and_pcts() -> None:
    s = MatchedBaseComparison().stats([])
    assert (s.n, s.task_pass_pct(), s.assertion_pass_pct(), s.mean_turns) == (0, 0.0, 0.0, 0.0)
    g = GroupStats(0, 0, 0, 0, {}, {}, {}, 0.0, 0.0)
    assert g.to_dict()["task_pass_pct"] == 0.0


def test_compare_pinned() -> None:
    base = [
        row(
            "synth-ml-engineer-01",
            True,
            4,
            5,
            [("file_exists", True)] * 4 + [("file_contents_contain", False)],
            turns=3,
            wall=10,
        ),
        row(
            "synth-ml-engineer-02",
            False,
            1,
            4,
            [("file_exists", True)] + [("file_contents_contain", False)] * 3,
            turns=4,
            wall=20,
        ),
    ]
    cand = [
        row(
            "synth-ml-engineer-01",
            True,
            5,
            5,
            [("file_exists", True)] * 4 + [("file_contents_contain", True)],
            turns=10,
            wall=12,
        ),
        row(
            "synth-ml-engineer-02",
            True,
            4,
            4,
            [("file_exists", True)] + [("file_contents_contain", True)] * 3,
            turns=14,
            wall=18,
        ),
    ]
    res = MatchedBaseComparison().compare(base, cand)
    od = res.overall_delta
    assert od["delta_task_pp"] == 50.0
    assert od["delta_assertion_pp"] == pytest.approx(400 / 9)
    assert od["delta_mean_turns"] == 8.5
    assert od["delta_mean_wall"] == 0.0
    (g,) = res.per_group
    assert g["group"] == "ml-engineer" and g["delta_task_pp"] == 50.0 and g["n"] == 2
    assert list(g)[:8] == [
        "group",
        "n",
        "baseline_task_pct",
        "candidate_task_pct",
        "delta_task_pp",
        "baseline_assertion_pct",
        "candidate_assertion_pct",
        "delta_assertion_pp",
    ]
    kinds = {k["kind"]: k for k in res.per_kind}
    assert kinds["file_contents_contain"]["delta_pp"] == 100.0
    assert list(kinds["file_exists"])[:5] == [
        "kind",
        "baseline_pct",
        "candidate_pct",
        "delta_pp",
        "n",
    ]
    d = res.to_dict()
    json.dumps(d)
    assert d["overall_delta"]["delta_assertion_pp"] == 44.44


def test_report_format() -> None:
    res = MatchedBaseComparison().compare(
        [row("synth-a-b-01", False, 0, 1, [("file_exists", False)], turns=2, wall=1.5)],
        [row("synth-a-b-01", True, 1, 1, [("file_exists", True)], turns=3, wall=1.0)],
    )
    md = res.report()
    assert md.split("\n") == [
        "### Matched-base comparison",
        "",
        "| metric | baseline | candidate | \u0394 |",
        "|---|---:|---:|---:|",
        "| task pass | 0/1 (0.0%) | 1/1 (100.0%) | +100.0 pp |",
        "| per-assertion | 0/1 (0.0%) | 1/1 (100.0%) | +100.0 pp |",
        "| mean turns | 2.00 | 3.00 | +1.00 |",
        "| mean wall (s) | 1.50 | 1.00 | -0.50 |",
        "",
        "**Per group**",
        "",
        "| group | base task% | cand task% | \u0394 pp | base asrt% | cand asrt% | \u0394 pp |",
        "|---|---:|---:|---:|---:|---:|---:|",
        "| a-b | 0.0% | 100.0% | +100.0 | 0.0% | 100.0% | +100.0 |",
        "",
        "**Per assertion kind**",
        "",
        "| kind | base | candidate | \u0394 pp |",
        "|---|---:|---:|---:|",
        "| file_exists | 0.0% | 100.0% | +100.0 |",
    ]
    same = MatchedBaseComparison(group_extractor=None).compare(
        [row("x", True, 1, 1, [])], [row("x", True, 1, 1, [])]
    )
    assert "| task pass | 1/1 (100.0%) | 1/1 (100.0%) | +0.0 pp |" in same.report()
    assert "Per group" not in same.report() and same.per_group == []


def test_unmatched_groups_are_not_fake_deltas() -> None:
    res = MatchedBaseComparison().compare(
        [row("synth-only-base-00", True, 1, 1, [])], [row("synth-only-cand-00", True, 1, 1, [])]
    )
    assert {g["group"] for g in res.per_group} == {"only-base", "only-cand"}
    ob = next(g for g in res.per_group if g["group"] == "only-base")
    assert ob["candidate_task_pct"] is None and ob["delta_task_pp"] is None
    assert ob["matched"] is False
    assert "| only-base | 100.0% | \u2014 | \u2014 |" in res.report()


def test_totals_fall_back_to_assertion_list() -> None:
    r = {
        "task_id": "x",
        "final_grade": {
            "passed": False,
            "assertions": [{"kind": "k", "passed": True}, {"kind": "k", "passed": False}],
        },
    }
    s = MatchedBaseComparison().stats([r])
    assert (s.n_assertions_passed, s.n_assertions_total) == (1, 2)


def test_jsonl_path_and_text(tmp_path: Path) -> None:
    rows = [row("synth-a-b-01", True, 1, 1, []), row("synth-a-b-02", False, 0, 1, [])]
    p = tmp_path / "r.jsonl"
    p.write_text(
        "\n".join([json.dumps(rows[0]), "oops", "", "7", json.dumps(rows[1])]), encoding="utf-8"
    )
    for src in (p, str(p)):
        s = MatchedBaseComparison().stats(src)
        assert (s.n, s.n_passed, s.n_skipped) == (2, 1, 2)
    text = "\n".join(json.dumps(r) for r in rows)
    assert MatchedBaseComparison().stats(text).n == 2
    with pytest.raises(FileNotFoundError):
        MatchedBaseComparison().stats(str(tmp_path / "missing.jsonl"))
    s = MatchedBaseComparison().stats([rows[0], "junk", 3])  # type: ignore[list-item]
    assert (s.n, s.n_skipped) == (1, 2)


def test_report_tolerates_partial_overall_delta() -> None:
    res = MatchedBaseComparison().compare([row("x", True, 1, 1, [])], [row("x", True, 1, 1, [])])
    broken = dataclasses.replace(res, overall_delta={})
    assert "task pass" in broken.report()


def test_non_finite_and_garbage_numbers_count_zero() -> None:
    """JSON's 1e400/Infinity/NaN must not crash (OverflowError) nor poison the means."""
    r = json.loads(
        '{"task_id": "x", "final_grade": {"passed": true, "n_passed": 1e400, "n_total": NaN},'
        ' "n_turns": Infinity, "wall_seconds": "nan"}'
    )
    s = MatchedBaseComparison().stats([r, row("y", True, 2, 3, [], turns=4, wall=6)])
    assert (s.n, s.n_passed, s.n_assertions_passed, s.n_assertions_total) == (2, 2, 2, 3)
    assert (s.mean_turns, s.mean_wall) == (2.0, 3.0)
