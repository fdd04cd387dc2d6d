"""Test helper: kill an embedded Postgres the way a crash would."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def kill_postmaster(pgdata: Path) -> None:
    """SIGKILL the postmaster of *pgdata* and wait (at most 5 s) until it is really gone."""
    pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
