"""`fieldkit lineage watch` follows a log while another process appends to it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from fieldkit.cli import app
from fieldkit.lineage import FailureLabel, LineageStore, Trial
from fieldkit.lineage.views import frame_of, render_frame, watch_loop

_WRITER = """
import sys
from fieldkit.lineage import FailureLabel, LineageStore, Trial
store = LineageStore(sys.argv[1])
for i in range(1, 1001):
    status = FailureLabel.KEEP if i % 50 == 0 else FailureLabel.DISCARD
    v = 2.0 - i / 1000 if status is FailureLabel.KEEP else 2.5
    store.append(Trial(f"{i:04d}", "2026-05-11T10:00:00Z", "w", f"{i - 1:04d}", "", "w",
        f"hyp {i}", "", status, v, None, None, None, None, "", "", ""))
"""


def test_watch_survives_a_writer_appending_1000_rows(
    tmp_path: Path, make: Callable[..., Trial]
) -> None:
    root = tmp_path / "run"
    LineageStore(root).append(make("0000", FailureLabel.BASELINE, 3.0))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    watch = subprocess.Popen(
        [sys.executable, "-m", "fieldkit", "lineage", "watch", str(root), "--json",
         "--interval", "0.02", "--iterations", "1000000", "--last", "3"],
        stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        first = json.loads(watch.stdout.readline())  # type: ignore[union-attr]
        assert first["trials"] == 1
        writer = subprocess.run(
            [sys.executable, "-c", _WRITER, str(root)], env=env, timeout=300, check=True
        )
        assert writer.returncode == 0
        frames = [first]
        deadline = time.monotonic() + 120
        while frames[-1]["trials"] < 1001 and time.monotonic() < deadline:
            line = watch.stdout.readline()  # type: ignore[union-attr]
            assert line, "watch exited early"
            frames.append(json.loads(line))
    finally:
        watch.terminate()
        watch.wait(timeout=30)
    counts = [f["trials"] for f in frames]
    assert counts == sorted(counts)
    last = frames[-1]
    assert last["trials"] == 1001
    assert last["status_counts"] == {"baseline": 1, "discard": 980, "keep": 20}
    assert last["best"]["exp_id"] == "1000"
    assert last["chain"][0] == "0000" and last["chain"][-1] == "1000"
    assert len(last["chain"]) == 1001
    assert [r["exp_id"] for r in last["recent"]] == ["0998", "0999", "1000"]
    assert LineageStore(root).skipped_rows == 0 and len(LineageStore(root)) == 1001


def test_watch_loop_sees_appends_between_refreshes(
    tmp_path: Path, make: Callable[..., Trial]
) -> None:
    store = LineageStore(tmp_path / "run")
    writer = LineageStore(tmp_path / "run")
    writer.append(make("000", "baseline", 1.0))
    seen: list[int] = []

    def sleep(_s: float) -> None:
        writer.append(make(f"{len(seen):03d}x", "keep", 0.9 - len(seen) / 100))

    last = watch_loop(store, lambda f: seen.append(f.trials), iterations=4, sleep=sleep)
    assert seen == [1, 2, 3, 4]
    assert last.best is not None and last.best.exp_id == "003x"
    assert last.keeps == 3 and abs(last.keep_rate - 0.75) < 1e-12


def test_rendered_frame_names_best_chain_and_recent(
    tmp_path: Path, make: Callable[..., Trial]
) -> None:
    from rich.console import Console

    store = LineageStore(tmp_path / "run")
    store.append(make("000", "baseline", 1.0))
    store.append(make("001", "keep", 0.9, parent="000", hypothesis="Raise lr. Details"))
    store.append(make("002", "crash", None, parent="001"))
    console = Console(width=200, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(render_frame(frame_of(store, last_n=2), width=200))
    text = console.export_text()
    assert "3 trials" in text and "1 kept (33.3%)" in text
    assert "best: exp_001" in text and "Raise lr" in text
    assert "exp_000 (1) → exp_001 (0.9)" in text
    assert "exp_002" in text and "crash" in text


def test_watch_once_cli(tmp_path: Path, make: Callable[..., Trial]) -> None:
    store = LineageStore(tmp_path / "run")
    store.append(make("000", "baseline", 1.0))
    r = CliRunner().invoke(app, ["lineage", "watch", str(tmp_path / "run"), "--once"])
    assert r.exit_code == 0, r.output
    assert "best: exp_000" in r.output


def test_frame_is_one_snapshot_when_a_row_lands_mid_frame(
    tmp_path: Path, make: Callable[..., Trial]
) -> None:
    """A row appended by another writer while a frame is built is in all of it or none of it."""
    root = tmp_path / "run"
    LineageStore(root).append(make("0000", FailureLabel.BASELINE, 3.0))
    writer = LineageStore(root)

    class Racing(LineageStore):
        raced = False

        def _sync(self) -> Any:
            idx = super()._sync()
            if not self.raced:  # the writer lands right after the frame's first read
                self.raced = True
                writer.append(make("0001", FailureLabel.KEEP, 2.0, parent="0000"))
            return idx

    frame = frame_of(Racing(root), last_n=5)
    ids = [t.exp_id for t in frame.recent]
    assert len(ids) == frame.trials, (ids, frame.trials)
    assert sum(frame.status_counts.values()) == frame.trials
    assert frame.best is not None and frame.best.exp_id == ids[-1 if frame.trials == 2 else 0]
