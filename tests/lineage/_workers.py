"""Top-level worker functions for multi-process lineage tests (importable by spawned children)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from fieldkit.lineage import FailureLabel, LineageStore, Trial


def make_trial(exp_id: str, *, hypothesis: str = "h", metric: float | None = 1.0) -> Trial:
    return Trial(
        exp_id=exp_id,
        timestamp="2026-05-11T10:00:00Z",
        specialist="w",
        parent_exp="",
        baseline_exp="",
        domain="w",
        hypothesis=hypothesis,
        expected_delta="",
        status=FailureLabel.DISCARD,
        core_metric=metric,
        val_bpb=None,
        delta_vs_best=None,
        train_s=None,
        total_s=None,
        job_name="",
        snapshot_path="",
        notes="",
    )


def append_many(root: str, worker: int, n: int, start_at: float) -> int:
    """Wait until *start_at* (so all workers hit a fresh store together), then append n rows."""
    store = LineageStore(Path(root))
    delay = start_at - time.time()
    if delay > 0:
        time.sleep(delay)
    for i in range(n):
        # Quotes, tabs and a newline make every row multi-line and quoted on disk.
        store.append(make_trial(f"w{worker}-{i}", hypothesis=f'worker {worker}\t"row" {i}\nend'))
    return os.getpid()


def append_forever(root: str) -> None:
    store = LineageStore(Path(root))
    i = 0
    while True:
        store.append(make_trial(f"k-{i}", hypothesis="x" * 2000 + f'"{i}"'))
        i += 1


def pg_append_many(dsn: str, table: str, worker: int, n: int) -> int:
    from fieldkit.lineage import PostgresLineageStore

    with PostgresLineageStore(dsn, table=table) as store:
        for i in range(n):
            store.append(make_trial(f"p{worker}-{i}", metric=float(i)))
    return worker
