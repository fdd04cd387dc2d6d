"""A real SIGKILL of the loop loses at most the running trial and a rerun resumes without
duplicates; Ctrl-C stops after the current trial, a second Ctrl-C at once (exit 130)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fieldkit.lineage import FailureLabel
from fieldkit.research import Workspace
from fieldkit.research._git import git, kept_commits
from fieldkit.testing import NIMSimulator
from tests.research.conftest import make_task, sr
from tests.research.test_hostile import _alive

SRC = Path(__file__).resolve().parents[2] / "src"


def _sleeper(seconds: int, old: str = "X = 7") -> str:
    body = (
        f"{old}\nimport os, time\n"
        "open(os.path.join(os.environ['SLEEP_PIDS'], str(os.getpid())), 'w').close()\n"
        f"time.sleep({seconds})"
    )
    return sr(old, body, f"sleep {seconds}s")


def _cli(ws: Workspace, url: str, trials: int, pids: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "SLEEP_PIDS": str(pids)}
    cmd = [sys.executable, "-m", "fieldkit", "research", "run", str(ws.root)]
    return subprocess.Popen(
        [*cmd, "--proposer", url, "--trials", str(trials)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_pid(pids: Path, proc: subprocess.Popen[str], timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list(pids.iterdir())
        if found:
            return int(found[0].name)
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the loop exited early ({proc.returncode}): {out}{err}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail("the sleeping trial never started")


def _rows(ws: Workspace) -> list[tuple[str, str]]:
    return [(t.exp_id, t.extras["outcome"]) for t in ws.store().all_trials()]


def test_sigkill_loses_only_the_running_trial_and_run_resumes(
    tmp_path: Path, simulator: NIMSimulator
) -> None:
    ws = make_task(tmp_path / "ws", budget_s=120)
    pids = tmp_path / "pids"
    pids.mkdir()
    simulator.set_chat_replies(
        [
            sr("X = 10", "X = 7", "to 7"),
            _sleeper(600),  # killed with the loop
            sr("X = 7", "X = 5", "to 5"),
            sr("X = 5", "X = 6", "to 6"),
        ]
    )
    loop = _cli(ws, simulator.base_url, 3, pids)
    sleeper = _wait_for_pid(pids, loop)
    os.kill(loop.pid, signal.SIGKILL)
    loop.communicate(timeout=30)
    assert loop.returncode == -signal.SIGKILL
    assert _rows(ws) == [("000", "baseline"), ("001", "keep")]
    assert (ws.state / "running.json").exists() and (ws.state / "trials" / "002").exists()

    again = _cli(ws, simulator.base_url, 3, pids)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert "killed the process group of interrupted trial 002" in err
    assert _rows(ws) == [("000", "baseline"), ("001", "keep"), ("002", "keep"), ("003", "discard")]
    assert not _alive(sleeper)
    assert not (ws.state / "running.json").exists()
    assert os.listdir(ws.state / "trials") == []
    assert len(git(ws.root, "worktree", "list").splitlines()) == 1
    kept = [t for t in ws.store().all_trials() if t.status is FailureLabel.KEEP]
    commits = kept_commits(ws.root, "research")
    assert [(t.exp_id, t.extras["commit"]) for t in kept] == [(c.exp_id, c.sha) for c in commits]
    assert "002 keep" in out and "4 trial" not in out


def test_ctrl_c_once_finishes_the_trial_then_stops(tmp_path: Path, simulator: NIMSimulator) -> None:
    ws = make_task(tmp_path / "ws")
    pids = tmp_path / "pids"
    pids.mkdir()
    simulator.set_chat_replies([_sleeper(2, "X = 10"), sr("X = 10", "X = 1")])
    loop = _cli(ws, simulator.base_url, 5, pids)
    _wait_for_pid(pids, loop)
    loop.send_signal(signal.SIGINT)
    out, err = loop.communicate(timeout=60)
    assert loop.returncode == 0, err
    assert "stopping after the current trial" in err
    assert _rows(ws) == [("000", "baseline"), ("001", "discard")]
    assert out.splitlines()[-1].startswith("2 trial(s) written")


def test_second_ctrl_c_stops_at_once_with_130(tmp_path: Path, simulator: NIMSimulator) -> None:
    ws = make_task(tmp_path / "ws")
    pids = tmp_path / "pids"
    pids.mkdir()
    simulator.set_chat_replies([_sleeper(600, "X = 10"), sr("X = 10", "X = 1")])
    loop = _cli(ws, simulator.base_url, 5, pids)
    sleeper = _wait_for_pid(pids, loop)
    loop.send_signal(signal.SIGINT)
    assert loop.stderr is not None
    ready, _, _ = select.select([loop.stderr], [], [], 60)  # the first press was handled
    assert ready and "stopping after the current trial" in loop.stderr.readline()
    loop.send_signal(signal.SIGINT)
    _out, err = loop.communicate(timeout=60)
    assert loop.returncode == 130
    assert err.strip().splitlines()[-1] == (
        "error: interrupted: the running trial was dropped (`research run` resumes)"
    )
    assert "Traceback" not in err
    assert not _alive(sleeper)
    assert _rows(ws) == [("000", "baseline")]
