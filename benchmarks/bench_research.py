"""fieldkit.research's trial runner: does the wall-clock budget hold, and does a timed-out
trial leave processes behind?

A trial forks 8 children that sleep, then spins forever (every process it leaves is killed
after each measurement). Ours: ``Runner`` (own process group,
SIGKILL of the whole group at the budget). Baseline, measured in the same run:
``subprocess.run(cmd, shell=True, timeout=budget)``, which kills only the shell it started.
Figures: seconds past the budget (worst of the repeats) and processes still alive after.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._table import Row
from fieldkit.research import Runner

DESCRIPTION = "trial runner: wall-clock budget overshoot and orphans after a timeout"

_CHILDREN = 8
_SCRIPT = (
    "import os, sys, time\n"
    f"for _ in range({_CHILDREN}):\n"
    "    if os.fork() == 0:\n"
    "        open(os.path.join(sys.argv[1], str(os.getpid())), 'w').close()\n"
    "        time.sleep(120)\n"
    "        os._exit(0)\n"
    "open(os.path.join(sys.argv[1], str(os.getpid())), 'w').close()\n"
    "while True:\n"
    "    pass\n"
)


def _alive(pids: Path) -> int:
    n = 0
    for p in pids.iterdir():
        try:
            state = Path(f"/proc/{p.name}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in ("Z", "X"):
            n += 1
    return n


def _cleanup(pids: Path) -> None:
    for p in pids.iterdir():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(p.name), signal.SIGKILL)
        p.unlink()


def run(quick: bool) -> list[Row]:
    budget = 1.0
    repeats = 2 if quick else 5
    ours_over: list[float] = []
    base_over: list[float] = []
    ours_left = base_left = 0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        script = root / "hog.py"
        script.write_text(_SCRIPT)
        pids = root / "pids"
        pids.mkdir()
        cmd = f"{sys.executable} {script} {pids}"
        runner = Runner(budget_s=budget, memory_bytes=2 * 1024**3, isolate_network=False)
        for _ in range(repeats):
            result = runner.run(cmd, cwd=root, log_path=root / "log.txt")
            assert result.timed_out
            ours_over.append(result.duration_s - budget)
            time.sleep(0.2)
            ours_left = max(ours_left, _alive(pids))
            _cleanup(pids)
            t0 = time.monotonic()
            with contextlib.suppress(subprocess.TimeoutExpired):
                subprocess.run(cmd, shell=True, timeout=budget, cwd=root)
            base_over.append(time.monotonic() - t0 - budget)
            time.sleep(0.2)
            base_left = max(base_left, _alive(pids))
            _cleanup(pids)
    return [
        Row(
            "seconds past a 1 s budget (worst)",
            max(ours_over),
            max(base_over),
            "s",
            "lower",
            "subprocess.run(timeout=)",
            f"{repeats} repeats",
        ),
        Row(
            f"processes alive after the timeout (of {_CHILDREN + 1})",
            float(ours_left),
            float(base_left),
            "processes",
            "lower",
            "subprocess.run(timeout=)",
        ),
    ]
