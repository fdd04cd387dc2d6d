"""No test asserts a wall-clock budget: a loaded machine must not fail a correct program.

Linear-time checks compare two sizes (``tests/_growth.py``); deadline checks assert the
timeout error and its message. Polling loops that wait for a condition may read the clock.
"""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
# an assert on elapsed time: "assert time.monotonic() - t0 < 5", "assert _timed(f) < BUDGET"
BUDGET = re.compile(
    r"assert\s[^\n]*(?:time\.(?:monotonic|perf_counter|time)\(\)\s*-|_timed\(|BUDGET_S)"
)


def test_no_test_asserts_a_wall_clock_budget() -> None:
    offenders = [
        f"{path.relative_to(TESTS)}:{n}: {line.strip()}"
        for path in sorted(TESTS.rglob("*.py"))
        if path.name != Path(__file__).name
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if BUDGET.search(line)
    ]
    assert offenders == []
