"""The loop against a scripted proposer (the simulator replaying a fixed list of replies):
keeps, discards and the best are exactly as scripted, and the log agrees with git."""

from __future__ import annotations

from pathlib import Path

from fieldkit.lineage import FailureLabel, LineageStore
from fieldkit.research import Workspace, open_proposer, recover, run_research, summarize
from fieldkit.research._git import git, kept_commits
from fieldkit.testing import NIMSimulator
from tests.research.conftest import sr

DIFF = (
    "Hypothesis: X to 3\n```diff\n--- a/task.py\n+++ b/task.py\n@@ -2 +2 @@\n-X = 7\n+X = 3\n```\n"
)
SCRIPT = [
    sr("X = 10", "X = 7", "lower X to 7"),  # 001 keep (7 < 10)
    sr("X = 7", "X = 9", "raise X to 9"),  # 002 discard (9 > 7)
    "Hypothesis: think harder\nI would change something.",  # 003 invalid-edit
    DIFF,  # 004 keep (3 < 7), as a unified diff
    sr("X = 3", "X = (", "a syntax error"),  # 005 crash
    sr("X = 3", "X = 5", "raise X to 5"),  # 006 discard
]


def _outcomes(ws: Workspace) -> list[tuple[str, str]]:
    return [(t.exp_id, t.extras["outcome"]) for t in ws.store().all_trials()]


def test_scripted_run_keeps_and_discards_exactly(
    task_ws: Workspace, simulator: NIMSimulator
) -> None:
    simulator.set_chat_replies(SCRIPT)
    with open_proposer(simulator.base_url) as proposer:
        records = run_research(task_ws, proposer, trials=6, isolate_network=True)
    assert [(r.exp_id, r.outcome.value) for r in records] == [
        ("000", "baseline"),
        ("001", "keep"),
        ("002", "discard"),
        ("003", "invalid-edit"),
        ("004", "keep"),
        ("005", "crash"),
        ("006", "discard"),
    ]
    assert [r.metric for r in records] == [10.0, 7.0, 9.0, None, 3.0, None, 5.0]
    assert [r.parent for r in records] == ["", "000", "001", "001", "001", "004", "004"]
    store = task_ws.store()
    best = store.best()
    assert best is not None and best.exp_id == "004" and best.metric("score") == 3.0
    assert simulator.pending_replies == 0
    # The log's kept rows are exactly the research branch's commits, in order.
    kept = [t for t in store.all_trials() if t.status is FailureLabel.KEEP]
    commits = kept_commits(task_ws.root, "research")
    assert [(t.exp_id, t.extras["commit"]) for t in kept] == [(c.exp_id, c.sha) for c in commits]
    assert [c.metric for c in commits] == [7.0, 3.0]
    assert git(task_ws.root, "show", "research:task.py").splitlines()[1] == "X = 3"
    assert task_ws.best_files()["task.py"].splitlines()[1] == "X = 3"
    # The user's own checkout is untouched; no worktree is left behind.
    assert (task_ws.root / "task.py").read_text().splitlines()[1] == "X = 10"
    assert git(task_ws.root, "status", "--porcelain") == ""
    assert len(git(task_ws.root, "worktree", "list").splitlines()) == 1
    # The lineage tools read it as a harness log.
    assert (task_ws.state / "best.json").read_text().count('"004"') == 1
    assert "004" in (task_ws.state / "LEADERBOARD.md").read_text()
    crash = store.get("005")
    assert crash is not None and "SyntaxError" in crash.notes
    invalid = store.get("003")
    assert invalid is not None and invalid.status is FailureLabel.PREFLIGHT_CRASH
    assert invalid.notes.startswith("no edit found")
    # The prompt of the last trial carried the lineage block and the crash's tail.
    last_prompt = simulator.requests_to("/chat/completions")[-1].json["messages"][1]["content"]
    assert "# What has been tried" in last_prompt and "SyntaxError" in last_prompt
    st = summarize(store.all_trials(), "score", best, now=0.0)
    assert st.trials == 6 and st.counts["keep"] == 2 and st.best_value == 3.0


def test_a_rerun_resumes_to_the_same_total(task_ws: Workspace, simulator: NIMSimulator) -> None:
    simulator.set_chat_replies(SCRIPT)
    with open_proposer(simulator.base_url) as proposer:
        first = run_research(task_ws, proposer, trials=2)
        again = run_research(task_ws, proposer, trials=2)
        more = run_research(task_ws, proposer, trials=4)
    assert [r.exp_id for r in first] == ["000", "001", "002"]
    assert again == []
    assert [r.exp_id for r in more] == ["003", "004"]
    assert [e for e, _ in _outcomes(task_ws)] == ["000", "001", "002", "003", "004"]


def test_no_lineage_leaves_the_block_out(task_ws: Workspace, simulator: NIMSimulator) -> None:
    simulator.set_chat_replies(SCRIPT[:2])
    with open_proposer(simulator.base_url) as proposer:
        run_research(task_ws, proposer, trials=2, lineage=False)
    prompts = [r.json["messages"][1]["content"] for r in simulator.requests_to("/chat/completions")]
    assert len(prompts) == 2
    assert all("# What has been tried" not in p for p in prompts)
    assert "X = 7" in prompts[1]  # the current best file is shown


def test_a_kept_commit_whose_row_was_lost_is_restored_once(
    task_ws: Workspace, simulator: NIMSimulator
) -> None:
    simulator.set_chat_replies(SCRIPT[:1])
    with open_proposer(simulator.base_url) as proposer:
        run_research(task_ws, proposer, trials=1)
    # A kill between "move the branch" and "append the row" leaves the commit without a row.
    lines = task_ws.results_path.read_text().splitlines(keepends=True)
    task_ws.results_path.write_text("".join(lines[:-1]))
    assert [e for e, _ in _outcomes(task_ws)] == ["000"]
    assert recover(task_ws) == ["restored the log row of kept trial 001"]
    assert recover(task_ws) == []
    store = LineageStore(task_ws.state, metric_field="score")
    assert [(t.exp_id, t.status.value, t.metric("score")) for t in store.all_trials()] == [
        ("000", "baseline", 10.0),
        ("001", "keep", 7.0),
    ]


def test_proposer_outage_is_recorded_then_stops_the_run(
    task_ws: Workspace, simulator: NIMSimulator
) -> None:
    import pytest

    from fieldkit.research import ResearchError

    simulator.set_chat_replies([])  # every chat request now answers HTTP 500
    with (
        open_proposer(simulator.base_url) as proposer,
        pytest.raises(ResearchError, match="3 times"),
    ):
        run_research(task_ws, proposer, trials=10)
    assert _outcomes(task_ws) == [
        ("000", "baseline"),
        ("001", "invalid-edit"),
        ("002", "invalid-edit"),
        ("003", "invalid-edit"),
    ]


def test_init_refuses_bad_targets(tmp_path: Path) -> None:
    import sys

    import pytest

    from fieldkit.research import ResearchError, init_workspace

    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "link.py").symlink_to(tmp_path / "a.py")
    for targets, why in (
        (("link.py",), "symbolic link"),
        (("missing.py",), "is not a file"),
        (("../a.py",), "must be a path inside"),
        (("a.py", "a.py"), "listed twice"),
    ):
        with pytest.raises(ResearchError, match=why):
            init_workspace(tmp_path, targets=targets, run=f"{sys.executable} a.py", metric="m")


def test_recover_refuses_while_a_loop_holds_the_workspace(task_ws: Workspace) -> None:
    import pytest

    from fieldkit.research import ResearchError
    from fieldkit.research._loop import _run_lock

    with _run_lock(task_ws), pytest.raises(ResearchError, match="another `research run`"):
        recover(task_ws)
    assert recover(task_ws) == []
