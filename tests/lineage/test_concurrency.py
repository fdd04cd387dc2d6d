"""Many writer processes, one fresh store: header once, no lost/duplicated/interleaved rows;
a writer killed mid-append leaves a store that still reads."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
import warnings
from collections.abc import Iterator
from multiprocessing.pool import Pool
from pathlib import Path

import pytest

from fieldkit.lineage import LineageStore, MalformedRowWarning, Trial
from tests.lineage._workers import append_forever, append_many, make_trial


@pytest.fixture(scope="module")
def pool() -> Iterator[Pool]:
    with mp.get_context("spawn").Pool(8) as p:
        p.starmap(append_many, [("", w, 0, 0.0) for w in range(8)])  # warm up the imports
        yield p


def _run(pool: Pool, root: Path, per_worker: int) -> None:
    start = time.time() + 0.5
    pool.starmap(append_many, [(str(root), w, per_worker, start) for w in range(8)])


def _check(root: Path, per_worker: int) -> None:
    raw = (root / "results.tsv").read_text(encoding="utf-8")
    assert raw.count("exp_id\ttimestamp") == 1  # header written exactly once
    assert raw.startswith("\t".join(Trial.header()) + "\n")
    store = LineageStore(root, strict=True)  # strict: any interleaving would raise
    trials = store.all_trials()
    ids = [t.exp_id for t in trials]
    assert len(ids) == 8 * per_worker and len(set(ids)) == len(ids)
    for w in range(8):  # each worker's rows are all there, in its own order
        mine = [int(i.split("-")[1]) for i in ids if i.startswith(f"w{w}-")]
        assert mine == list(range(per_worker))
    assert all(t.hypothesis.endswith("\nend") and '"row"' in t.hypothesis for t in trials)


def test_eight_processes_500_appends_each(pool: Pool, tmp_path: Path) -> None:
    for rep in range(2):
        root = tmp_path / f"rep{rep}"
        _run(pool, root, 500)
        _check(root, 500)


def test_fresh_store_header_race_repeated(pool: Pool, tmp_path: Path) -> None:
    for rep in range(10):
        root = tmp_path / f"race{rep}"
        _run(pool, root, 3)
        _check(root, 3)


def test_killed_writer_leaves_a_readable_store(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    proc = ctx.Process(target=append_forever, args=(str(tmp_path),))
    proc.start()
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            p = tmp_path / "results.tsv"
            if p.exists() and p.stat().st_size > 200_000:
                break
            time.sleep(0.01)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MalformedRowWarning)
        store = LineageStore(tmp_path)
        trials = store.all_trials()
        assert len(trials) > 50 and store.skipped_rows == 0
        assert [t.exp_id for t in trials] == [f"k-{i}" for i in range(len(trials))]
        # Simulate the worst case too: the kill landed inside the single write.
        with (tmp_path / "results.tsv").open("ab") as fh:
            fh.write(b'k-x\tt\tw\t\t\tw\t"xxxx')
        again = LineageStore(tmp_path)
        assert len(again.all_trials()) == len(trials) and again.torn_bytes > 0
        again.append(
            Trial.from_row({**{h: "" for h in Trial.header()}, "exp_id": "after", "status": "keep"})
        )
        final = LineageStore(tmp_path)
        assert [t.exp_id for t in final.all_trials()][-1] == "after"
        assert final.skipped_rows == 1


def test_incremental_reader_during_concurrent_appends(pool: Pool, tmp_path: Path) -> None:
    """A strict reader polling while 8 writers append never sees a partial or torn row."""
    root = tmp_path / "live"
    start = time.time() + 0.5
    pending = pool.starmap_async(append_many, [(str(root), w, 150, start) for w in range(8)])
    reader = LineageStore(root, strict=True)
    seen = [0]
    while not pending.ready():
        n = len(reader.all_trials())  # strict: a half-written row would raise
        assert n >= seen[-1] and reader.torn_bytes == 0
        seen.append(n)
    pending.get()
    assert len(reader.all_trials()) == 8 * 150 and reader.skipped_rows == 0
    assert any(0 < n < 8 * 150 for n in seen)  # it really did read mid-stream
    assert reader.all_trials() == LineageStore(root).all_trials()
    _check(root, 150)


def test_threads_sharing_one_store_do_not_deadlock(tmp_path: Path) -> None:
    """Appends and reads on one instance from several threads (same lock order everywhere)."""
    import threading

    store = LineageStore(tmp_path)

    def write(w: int) -> None:
        for i in range(150):
            store.append(make_trial(f"t{w}-{i}"))

    def read() -> None:
        for _ in range(150):
            store.render_prompt("x", style="cxcscmu")
            store.best()

    threads = [threading.Thread(target=write, args=(w,), daemon=True) for w in range(2)]
    threads += [threading.Thread(target=read, daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    deadline = time.time() + 60
    for t in threads:
        t.join(max(0.0, deadline - time.time()))
    assert not any(t.is_alive() for t in threads), "deadlock: threads still blocked"
    ids = [t.exp_id for t in LineageStore(tmp_path, strict=True).all_trials()]
    assert len(ids) == 300 and len(set(ids)) == 300
    assert len(store.all_trials()) == 300
