"""A hostile proposer: every trial is logged with the right outcome, the limits hold, nothing
outside the workspace changes and the loop keeps going."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fieldkit.research import network_isolation, open_proposer, run_research
from fieldkit.research._git import git
from fieldkit.testing import NIMSimulator
from tests.research.conftest import TASK, make_task, sr

FORKS = 24  # bounded: enough to show the group kill, harmless on a small shared box
FORK = (
    "X = 10\nimport os, time\n"
    f"for _ in range({FORKS}):\n"
    "    if os.fork() == 0:\n"
    "        open(os.path.join(os.environ['HOSTILE_PIDS'], str(os.getpid())), 'w').close()\n"
    "        time.sleep(600)\n"
    "        os._exit(0)\n"
)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _snapshot(root: Path, skip: set[Path]) -> dict[str, tuple[int, int]]:
    out = {}
    for p in sorted(root.rglob("*")):
        if any(p == s or s in p.parents for s in skip):
            continue
        st = p.lstat()
        out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


def test_hostile_edits_are_contained(
    tmp_path: Path, simulator: NIMSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    monkeypatch.setenv("HOSTILE_PIDS", str(pids))
    ws = make_task(tmp_path / "ws", budget_s=3.0, memory=512 * 1024**2)
    sentinel = tmp_path / "keep-out.txt"
    sentinel.write_text("untouched\n")
    before = _snapshot(tmp_path, {ws.root, pids})
    isolated = bool(network_isolation())
    replies = {
        "syntax": sr("X = 10", "X = = 10", "syntax error"),
        "loop": sr("X = 10", "X = 10\nwhile True:\n    pass", "infinite loop"),
        "memory": sr("X = 10", "X = 10\nblob = bytearray(4 * 1024**3)", "memory hog"),
        "outside": sr("untouched", "owned", "write outside", path="../keep-out.txt"),
        "absolute": sr("untouched", "owned", "absolute path", path=str(sentinel)),
        "no-metric": sr('print(f"score: {X}")', 'print("done")', "delete the metric line"),
        "huge": sr("X = 10", "X = 10\n" + "#" * (10 * 1024**2), "10 MB edit"),
        "fork": sr("X = 10", FORK, "fork many processes"),
        "network": sr(
            "X = 10",
            "X = 10\nimport socket\n"
            f"socket.create_connection(('127.0.0.1', {simulator.port}), timeout=2).close()",
            "reach the network",
        ),
        "fine": sr("X = 10", "X = 4", "a normal improvement"),
    }
    simulator.set_chat_replies(list(replies.values()))
    with open_proposer(simulator.base_url) as proposer:
        records = run_research(ws, proposer, trials=len(replies))
    got = {name: r for name, r in zip(replies, records[1:], strict=True)}
    expected = {
        "syntax": "crash",
        "loop": "timeout",
        "memory": "crash",
        "outside": "invalid-edit",
        "absolute": "invalid-edit",
        "no-metric": "crash",
        "huge": "invalid-edit",
        "fork": "discard",  # it still prints score: 10, no better than the baseline
        "network": "crash" if isolated else "discard",
        "fine": "keep",
    }
    assert {k: r.outcome.value for k, r in got.items()} == expected
    assert "(memory cap)" in got["memory"].note and "MemoryError" in got["memory"].note
    assert "killed at the 3s budget" in got["loop"].note
    assert "no 'score: <value>' line" in got["no-metric"].note
    # The endpoint honours max_tokens, so the 10 MB reply arrives cut short: still no edit.
    assert got["huge"].note.startswith("a SEARCH block has no >>>>>>> REPLACE line")
    assert "outside the workspace" in got["outside"].note
    # Every forked child was killed with the trial's process group.
    forked = [int(p.name) for p in pids.iterdir()]
    assert len(forked) == FORKS
    assert [p for p in forked if _alive(p)] == []
    # Nothing outside the workspace changed; the user's checkout did not either.
    assert _snapshot(tmp_path, {ws.root, pids}) == before
    assert sentinel.read_text() == "untouched\n"
    assert (ws.root / "task.py").read_text() == TASK
    assert git(ws.root, "status", "--porcelain") == ""
    assert sorted(os.listdir(ws.state / "trials")) == []
    # All eleven rows are in the log, in order, and the best is the one real improvement.
    store = ws.store()
    assert [t.exp_id for t in store.all_trials()] == [f"{i:03d}" for i in range(11)]
    best = store.best()
    assert best is not None and best.metric("score") == 4.0


class _RawProposer:
    """An endpoint that ignores max_tokens: the whole reply arrives, however large."""

    def __init__(self, replies: list[str]) -> None:
        self.replies = replies

    def propose(self, messages: list[dict[str, object]]) -> str:
        return self.replies.pop(0)


def test_a_10_mb_edit_is_refused_by_size(tmp_path: Path) -> None:
    ws = make_task(tmp_path / "ws")
    huge = sr("X = 10", "X = 10\n" + "#" * (10 * 1024**2), "10 MB edit")
    records = run_research(ws, _RawProposer([huge, sr("X = 10", "X = 2")]), trials=2)
    assert [r.outcome.value for r in records] == ["baseline", "invalid-edit", "keep"]
    assert records[1].note.startswith(f"the reply is {len(huge)} bytes, over the 262144-byte")
    assert len(ws.results_path.read_bytes()) < 20_000  # the log keeps a clipped note only
