"""fieldkit._lock and fieldkit._stats: the one file lock and the one percentile definition."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fieldkit._lock import file_lock
from fieldkit._stats import percentile


def _hold_then_mark(lock: str, marks: str, tag: str) -> None:
    with file_lock(Path(lock)):
        with open(marks, "a") as fh:
            fh.write(f"{tag}-in\n")
        time.sleep(0.2)
        with open(marks, "a") as fh:
            fh.write(f"{tag}-out\n")


def test_file_lock_serialises_processes(tmp_path: Path) -> None:
    lock, marks = tmp_path / "deep" / "x.lock", tmp_path / "marks"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_hold_then_mark, args=(str(lock), str(marks), t)) for t in "ab"]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    lines = marks.read_text().split()
    assert len(lines) == 4
    # whoever went first left before the other entered: no interleaving
    assert lines[0].split("-")[0] == lines[1].split("-")[0]
    assert [x.split("-")[1] for x in lines] == ["in", "out", "in", "out"]


def _try_lock(lock: str) -> str:
    try:
        with file_lock(Path(lock), wait=False):
            return "got"
    except BlockingIOError:
        return "busy"


def test_file_lock_without_wait_fails_at_once_while_held_elsewhere(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    ctx = multiprocessing.get_context("fork")
    with file_lock(lock), ctx.Pool(1) as pool:
        assert pool.apply(_try_lock, (str(lock),)) == "busy"
    with ctx.Pool(1) as pool:  # released on leaving the block
        assert pool.apply(_try_lock, (str(lock),)) == "got"


def test_percentile_known_values() -> None:
    assert percentile([5.0], 95) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    assert percentile([10.0, 20.0], 90) == pytest.approx(19.0)
    with pytest.raises(ValueError, match="empty"):
        percentile([], 50)
    with pytest.raises(ValueError, match=r"\[0, 100\]"):
        percentile([1.0], 101)


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50), st.floats(0, 100))
def test_percentile_lies_between_min_and_max(xs: list[float], q: float) -> None:
    xs.sort()
    v = percentile(xs, q)
    assert xs[0] - 1e-6 <= v <= xs[-1] + 1e-6
    assert percentile(xs, 0) == xs[0] and percentile(xs, 100) == xs[-1]
