"""A tiny task for loop tests: ``task.py`` prints ``score: <X>`` (lower is better) in ~50 ms."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from fieldkit.research import Workspace, init_workspace

TASK = 'import sys\nX = 10\nprint("warming up")\nprint(f"score: {X}")\n'


def sr(old: str, new: str, hypothesis: str = "try something", path: str = "task.py") -> str:
    """A proposer reply with one search/replace block."""
    block = f"<<<<<<< SEARCH\n{old}\n=======\n{new}\n>>>>>>> REPLACE\n"
    return f"Hypothesis: {hypothesis}\n{path}\n{block}"


def make_task(root: Path, *, budget_s: float = 20.0, memory: int = 1024**3) -> Workspace:
    root.mkdir(parents=True, exist_ok=True)
    (root / "task.py").write_text(TASK, encoding="utf-8")
    return init_workspace(
        root,
        targets=("task.py",),
        run=f"{sys.executable} task.py",
        metric="score",
        lower_is_better=True,
        budget_s=budget_s,
        memory_bytes=memory,
    )


@pytest.fixture
def task_ws(tmp_path: Path) -> Workspace:
    return make_task(tmp_path / "ws")
