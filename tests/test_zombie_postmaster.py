"""A SIGKILLed embedded postmaster that nothing reaps (a zombie) is seen as dead and restarted,
and a Pipeline that failed on it recovers.

The reaper-less parent is real: a subprocess marks itself a child subreaper (``prctl``) and
never waits for orphans, so the postmaster, orphaned when ``pg_ctl`` exits, becomes its child
and stays a zombie after the kill — as under a container's PID 1 that does not reap.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl and /proc")

_SUBREAPER = """
import ctypes, subprocess, sys
if ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
    sys.exit(77)
sys.exit(subprocess.call(sys.argv[1:]))  # waits for that one child only: orphans stay zombies
"""

_WORKER = """
import os, signal, sys, time
sys.path.insert(0, sys.argv[2])
from pathlib import Path
from tests.rag.test_store import _RandomVectors
from fieldkit.rag import Document, Pipeline, RAGError

def state(pid):
    with open(f"/proc/{pid}/stat", "rb") as fh:
        fields = fh.read().rpartition(b")")[2].split()
    return fields[0].decode(), int(fields[1])

pgdata = Path(sys.argv[1]) / "pgdata"
with Pipeline(embedder=_RandomVectors(20, 1), table="zombie") as p:
    p.ensure_schema()
    p.ingest(Document(i, f"p {i}") for i in range(20))
    pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    print("parent is the subreaper:", state(pid)[1] == os.getppid())
    os.kill(pid, signal.SIGKILL)
    for _ in range(200):
        if state(pid)[0] == "Z":
            break
        time.sleep(0.05)
    print("zombie:", state(pid)[0])
    results = []
    for _ in range(3):
        try:
            results.append(str(p.count()))
        except RAGError as exc:
            results.append("RAGError")
            print("error:", exc)
    print("counts:", " ".join(results))
    print("retrieved:", len(p.retrieve("q 0", top_k=3)))
    new_pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    print("restarted:", new_pid != pid)
"""


def test_a_zombie_postmaster_is_restarted_and_the_pipeline_recovers() -> None:
    home = Path(tempfile.mkdtemp(prefix="fieldkit-zombie-test-"))
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "FIELDKIT_HOME": str(home)}
    try:
        run = subprocess.run(
            [sys.executable, "-c", _SUBREAPER, sys.executable, "-c", _WORKER, str(home), root],
            capture_output=True,
            text=True,
            env=env,
            timeout=240,
        )
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if run.returncode == 77:
        pytest.skip("prctl(PR_SET_CHILD_SUBREAPER) refused here")
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    assert "parent is the subreaper: True" in out, out
    assert "zombie: Z" in out, out
    counts = out.split("counts: ", 1)[1].splitlines()[0].split()
    assert counts[-2:] == ["20", "20"], out  # the first call may meet its dead connection
    assert "retrieved: 3" in out and "restarted: True" in out, out
