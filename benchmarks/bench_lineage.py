"""fieldkit.lineage benchmarks: render_prompt and best() at 1k/10k/100k trials, append throughput.

Baselines are measured in the same run:
- 0.3.0 re-parses the whole results.tsv on every query (``csv.DictReader`` + ``Trial.from_row``
  per row; ``render_prompt`` parses it three times: rows, ``best()`` and ``chain_to()``). The
  baseline here does exactly that, then renders with the same formatter, so the gap is the
  parsing. Ours is a warm ``LineageStore`` that reads only the row appended since its last call
  (one new row is appended before every timed call, for both sides).
- First load: a ``LineageStore`` opened cold on an existing log (one parse + index build)
  versus one 0.3.0-style full parse of the same file, best of interleaved runs.
- Append throughput with 8 writer processes into a fresh store: ours (header under the lock,
  one write + flush + fsync per row) versus the 0.3.0 recipe (header decided before the lock,
  no fsync), which is faster precisely because it is not durable and can duplicate the header,
  and versus the same 0.3.0 recipe with an fsync per row (equal durability).
"""

from __future__ import annotations

import csv
import fcntl
import functools
import multiprocessing as mp
import os
import random
import tempfile
import time
from pathlib import Path

from benchmarks._table import Row
from fieldkit.lineage import FailureLabel, LineageStore, Trial
from fieldkit.lineage._render import render_default
from fieldkit.lineage._tsv import encode_row

DESCRIPTION = "render_prompt/best() at 1k-100k trials vs a full re-parse per call; 8-writer appends"

_STATUSES = [FailureLabel.DISCARD] * 8 + [FailureLabel.KEEP, FailureLabel.SIZE_BLOCKED]


def _trial(i: int, rng: random.Random) -> Trial:
    status = FailureLabel.BASELINE if i == 0 else rng.choice(_STATUSES)
    parent = "" if i == 0 else f"{rng.randrange(max(0, i - 50), i):06d}"
    metric = round(1.08 - i * 1e-7 + rng.random() * 1e-3, 6)
    return Trial(
        f"{i:06d}", "2026-04-22T01:36:09Z", "opt", parent, "000000", "opt",
        f"Hypothesis {i}: tweak the Muon momentum warmdown blend and compare val_bpb " * 2,
        "-0.0001", status, metric, metric, None if i == 0 else -1e-4, 600.0, 1400.0,
        f"job-{i}", f"snapshots/{i:06d}_opt" if status is FailureLabel.KEEP else "",
        "notes " * 20,
    )  # fmt: skip


def _build(root: Path, n: int) -> None:
    rng = random.Random(n)
    root.mkdir(parents=True, exist_ok=True)
    with (root / "results.tsv").open("wb") as fh:
        fh.write(encode_row(Trial.header()))
        fh.writelines(encode_row(_trial(i, rng).to_row()) for i in range(n))


def _reparse(path: Path) -> list[Trial]:
    with path.open(newline="", encoding="utf-8") as fh:
        return [Trial.from_row(r) for r in csv.DictReader(fh, delimiter="\t")]


def _v030_best(path: Path) -> Trial | None:
    rows = _reparse(path)
    cands = [t for t in rows if t.core_metric is not None and t.status.is_informational]
    if not cands:
        return rows[0] if rows else None
    return min(cands, key=lambda t: t.core_metric or 0.0)


def _v030_chain(path: Path, exp_id: str) -> tuple[Trial, ...]:
    by_id = {t.exp_id: t for t in _reparse(path)}
    out, seen, cur = [], set(), by_id.get(exp_id)
    while cur is not None and cur.exp_id not in seen:
        out.append(cur)
        seen.add(cur.exp_id)
        cur = by_id.get(cur.parent_exp) if cur.parent_exp else None
    return tuple(reversed(out))


def _v030_render(path: Path) -> str:
    trials = _reparse(path)
    best = _v030_best(path)
    assert best is not None
    chain = _v030_chain(path, best.exp_id)
    keeps = sorted(
        (t for t in trials if t.status is FailureLabel.KEEP),
        key=lambda t: t.core_metric if t.core_metric is not None else float("inf"),
    )
    return render_default(
        for_specialist="opt", session_timestamp="", best=best, chain=chain, top=keeps[:20],
        recent=trials[-30:], last_m=trials[-10:], metric=lambda t: t.core_metric,
    )  # fmt: skip


def _cold_load(path: Path, reps: int) -> tuple[float, float]:
    """Best-of-*reps* seconds for a cold ``LineageStore`` load and for one 0.3.0-style parse."""
    ours, base = [], []
    for _ in range(reps):  # interleaved, so background load hits both sides alike
        t0 = time.perf_counter()
        LineageStore.open(path).best()
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        _reparse(path)
        base.append(time.perf_counter() - t0)
    return min(ours), min(base)


def _append_raw(path: Path, i: int) -> None:
    with path.open("ab") as fh:
        fh.write(encode_row(_trial(i, random.Random(i)).to_row()))


def _per_call(fn: object, path: Path, n: int, calls: int) -> float:
    total = 0.0
    for c in range(calls):
        _append_raw(path, n + c)
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        total += time.perf_counter() - t0
    return total / calls


def _writer_ours(root: str, w: int, n: int, start: float) -> None:
    store = LineageStore(root)
    time.sleep(max(0.0, start - time.time()))
    rng = random.Random(w)
    for i in range(n):
        store.append(_trial(w * 100_000 + i + 1, rng))


def _writer_v030_fsync(root: str, w: int, n: int, start: float) -> None:
    _writer_v030(root, w, n, start, fsync=True)


def _writer_v030(root: str, w: int, n: int, start: float, fsync: bool = False) -> None:
    path = Path(root) / "results.tsv"
    time.sleep(max(0.0, start - time.time()))
    rng = random.Random(w)
    for i in range(n):
        Path(root).mkdir(parents=True, exist_ok=True)
        need_header = not path.exists() or path.stat().st_size == 0
        with path.open("a", newline="", encoding="utf-8") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
            if need_header:
                writer.writerow(Trial.header())
            writer.writerow(_trial(w * 100_000 + i + 1, rng).to_row())
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _throughput(pool: object, fn: object, per_writer: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.time() + 0.3
        t0 = time.perf_counter()
        pool.starmap(fn, [(tmp, w, per_writer, start) for w in range(8)])  # type: ignore[attr-defined]
        elapsed = time.perf_counter() - t0 - 0.3
        headers = (Path(tmp) / "results.tsv").read_text(encoding="utf-8").count("exp_id\ttimestamp")
    return 8 * per_writer / elapsed, headers


def run(quick: bool) -> list[Row]:
    rows: list[Row] = []
    sizes = [1_000, 10_000] if quick else [1_000, 10_000, 100_000]
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            root = Path(tmp) / f"n{n}"
            _build(root, n)
            path = root / "results.tsv"
            cold, base_cold = _cold_load(path, reps=2 if n >= 100_000 else 3)
            store = LineageStore(root)
            store.best()
            calls = 3 if n >= 100_000 else 10
            next_id = n
            ours_best = _per_call(store.best, path, next_id, calls)
            next_id += calls
            base_best = _per_call(functools.partial(_v030_best, path), path, next_id, calls)
            next_id += calls
            render = functools.partial(store.render_prompt, "opt")
            ours_render = _per_call(render, path, next_id, calls)
            next_id += calls
            base_render = _per_call(functools.partial(_v030_render, path), path, next_id, calls)
            label = f"{n // 1000}k trials"
            rows.append(
                Row(f"best() @ {label}", ours_best * 1e3, base_best * 1e3, "ms", "lower",
                    "0.3.0: full re-parse per call")
            )  # fmt: skip
            rows.append(
                Row(f"render_prompt @ {label}", ours_render * 1e3, base_render * 1e3, "ms",
                    "lower", "0.3.0: 3 full re-parses per call")
            )  # fmt: skip
            rows.append(
                Row(f"first load @ {label}", cold * 1e3, base_cold * 1e3, "ms", "lower",
                    "0.3.0: one full parse (DictReader + from_row)",
                    "store opened cold: parse + index, best of interleaved runs")
            )  # fmt: skip
    per_writer = 100 if quick else 500
    with mp.get_context("spawn").Pool(8) as pool:
        pool.starmap(_writer_ours, [("/nonexistent-warmup", w, 0, 0.0) for w in range(8)])
        os.sync()  # don't charge the previous section's writeback to whoever runs first
        best: dict[str, tuple[float, int]] = {}
        for _ in range(2):  # interleaved rounds, best of each: fsync cost drifts with disk load
            for name, fn in (
                ("ours", _writer_ours),
                ("base", _writer_v030),
                ("sync", _writer_v030_fsync),
            ):
                tp, headers = _throughput(pool, fn, per_writer)
                prev = best.get(name)
                best[name] = (max(tp, prev[0]), max(headers, prev[1])) if prev else (tp, headers)
        (ours_tp, ours_h), (base_tp, base_h), (sync_tp, _) = (
            best["ours"],
            best["base"],
            best["sync"],
        )
    rows.append(
        Row("append throughput, 8 writers", ours_tp, base_tp, "rows/s", "higher",
            "0.3.0: no fsync, header outside lock",
            f"max headers written: ours {ours_h}, 0.3.0 {base_h}; ours fsyncs every row")
    )  # fmt: skip
    rows.append(
        Row("append throughput, 8 writers (same durability)", ours_tp, sync_tp, "rows/s",
            "higher", "0.3.0 recipe + fsync per row",
            "what our lock discipline costs on top of durable writes")
    )  # fmt: skip
    return rows
