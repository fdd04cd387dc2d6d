"""fieldkit.eval benchmarks: the pass@k estimator at large n, and concurrent Bench sweeps.

Baselines are measured in the same run:
- pass@k: 0.3.0's formula ``1 - comb(n-c, k) / comb(n, k)`` (exact big integers, one division,
  then a subtraction that cancels digits) and the textbook float form
  ``1 - float(comb(n-c, k)) / float(comb(n, k))`` (overflows once binomials exceed 1e308).
- Bench: the same sweep with ``concurrency=16`` versus sequentially (0.3.0 only had the latter),
  over a function that sleeps like a remote call; and ``PassAtK.score`` with a thread-pool
  executor versus sequential grading over a slow grader.
"""

from __future__ import annotations

import math
import random
import time
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from typing import Any

from benchmarks._table import Row
from fieldkit.eval import Bench, PassAtK, pass_at_k_estimator

DESCRIPTION = "pass@k estimator at n=10,000 (speed, precision, overflow); concurrent Bench/PassAtK"


def _v030(n: int, c: int, k: int) -> float:
    if n - c < k:
        return 1.0
    return 1 - math.comb(n - c, k) / math.comb(n, k)


def _float_naive(n: int, c: int, k: int) -> float:
    if n - c < k:
        return 1.0
    return 1 - float(math.comb(n - c, k)) / float(math.comb(n, k))


def _exact(n: int, c: int, k: int) -> Fraction:
    if n - c < k:
        return Fraction(1)
    return 1 - Fraction(math.comb(n - c, k), math.comb(n, k))


def _grid(quick: bool) -> list[tuple[int, int, int]]:
    rng = random.Random(7)
    n = 10_000
    ks = [1, 10, 100, 1_000, 5_000] if not quick else [1, 10, 1_000]
    grid = []
    for k in ks:
        for _ in range(6 if not quick else 3):
            grid.append((n, rng.randint(0, n - k), k))
        grid.append((n, 1, k))  # few passes: tiny pass@k, where cancellation bites
    return grid


def _time_per_call(fn: Any, grid: list[tuple[int, int, int]], repeat: int) -> float:
    t0 = time.perf_counter()
    for _ in range(repeat):
        for args in grid:
            fn(*args)
    return (time.perf_counter() - t0) / (repeat * len(grid)) * 1e6


def _rel_err(got: float, want: Fraction) -> float:
    if want == 0:
        return abs(got)
    return float(abs(Fraction(got) - want) / want)


def run(quick: bool) -> list[Row]:
    rows: list[Row] = []
    grid = _grid(quick)
    repeat = 3 if quick else 10
    ours_us = _time_per_call(pass_at_k_estimator, grid, repeat)
    base_us = _time_per_call(_v030, grid, repeat)
    rows.append(
        Row(
            "pass@k per call, n=10,000 (mixed c, k<=5,000)",
            ours_us,
            base_us,
            "µs",
            baseline_label="0.3.0 1-comb/comb",
        )
    )

    exact = {args: _exact(*args) for args in grid}
    ours_err = max(_rel_err(pass_at_k_estimator(*a), e) for a, e in exact.items())
    base_err = max(_rel_err(_v030(*a), e) for a, e in exact.items())
    rows.append(
        Row(
            "pass@k max relative error vs exact Fraction",
            ours_err,
            base_err,
            "rel",
            baseline_label="0.3.0 1-comb/comb",
            note="0.3.0 loses digits when pass@k is small (1 - ratio≈1)",
        )
    )

    def fails(fn: Any) -> int:
        bad = 0
        for a in grid:
            try:
                v = fn(*a)
            except OverflowError:
                bad += 1
                continue
            if not math.isfinite(v) or _rel_err(v, exact[a]) > 1e-6:
                bad += 1
        return bad

    rows.append(
        Row(
            f"pass@k calls failing (overflow/wrong) of {len(grid)}",
            float(fails(pass_at_k_estimator)),
            float(fails(_float_naive)),
            "calls",
            baseline_label="float(comb) naive",
            note="0 is ours; ratio n/a when ours is 0",
        )
    )

    # -- Bench: concurrency=16 vs sequential over a sleeping "remote call" ------------------------
    n_items = 32 if quick else 96
    delay = 0.01 if quick else 0.02

    def remote(x: int) -> dict[str, float]:
        time.sleep(delay)
        return {"tokens": float(x)}

    t0 = time.perf_counter()
    Bench("seq", metrics=["tokens"]).run(remote, range(n_items))
    seq_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    par = Bench("par", metrics=["tokens"]).run(remote, range(n_items), concurrency=16)
    par_s = time.perf_counter() - t0
    assert [c.input for c in par.calls] == list(range(n_items))
    rows.append(
        Row(
            f"Bench sweep, {n_items} calls × {delay * 1000:.0f} ms",
            par_s,
            seq_s,
            "s",
            baseline_label="sequential (0.3.0)",
            note="concurrency=16, input order kept",
        )
    )

    # -- PassAtK.score with an executor vs sequential grading ---------------------------------
    n_prob, n_samp = (8, 8) if quick else (16, 10)
    problems = [{"task_id": str(i)} for i in range(n_prob)]
    samples = [[f"{i}-{j}" for j in range(n_samp)] for i in range(n_prob)]

    def grader(text: str, problem: dict[str, Any]) -> bool:
        time.sleep(0.005)
        return text.endswith(("0", "3"))

    t0 = time.perf_counter()
    seq = PassAtK(ks=(1, 5)).score(problems, samples, grader)
    seq_g = time.perf_counter() - t0
    t0 = time.perf_counter()
    with ThreadPoolExecutor(8) as ex:
        par_r = PassAtK(ks=(1, 5)).score(problems, samples, grader, executor=ex)
    par_g = time.perf_counter() - t0
    assert par_r.pass_at == seq.pass_at
    rows.append(
        Row(
            f"PassAtK.score, {n_prob * n_samp} samples × 5 ms grader",
            par_g,
            seq_g,
            "s",
            baseline_label="sequential (0.3.0)",
            note="8-thread executor",
        )
    )
    return rows
