"""Linear-time checks without a wall-clock budget: how the CPU time of a call grows from an
input of size n to one of size 8n, measured in the same test.

A linear scan grows about 8x, a quadratic (backtracking) one about 64x, whatever the machine
or its load: the check compares the two sizes, never a number of seconds. CPU time of this
thread (``time.thread_time``), the least of a few runs with the garbage collector paused, so
other processes and collection pauses do not count.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

#: The larger input is this many times the smaller.
SCALE = 8
#: Upper bound on cost(8n) / cost(n): linear stays near 8 (n log n near 10), quadratic near 64.
MAX_GROWTH = 24.0


def _cost(fn: Callable[[], object], runs: int) -> float:
    """The least CPU time of ``runs`` calls, each call repeated until it spans >= 2 ms."""
    best = float("inf")
    enabled = gc.isenabled()
    gc.disable()
    try:
        best = _runs(fn, runs)
    finally:
        if enabled:
            gc.enable()
    return best


def _runs(fn: Callable[[], object], runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        reps = 0
        start = time.thread_time()
        while True:
            fn()
            reps += 1
            spent = time.thread_time() - start
            if spent >= 0.002 or reps >= 1000:
                break
        best = min(best, spent / reps)
    return best


def growth(make: Callable[[int], object], call: Callable[[object], object], n: int) -> float:
    """cost(SCALE * n) / cost(n) of ``call(make(size))``."""
    small, large = make(n), make(SCALE * n)
    call(small)  # warm caches and lazy imports before measuring
    return _cost(lambda: call(large), 3) / max(_cost(lambda: call(small), 3), 1e-9)


def assert_linear(
    make: Callable[[int], object], call: Callable[[object], object], n: int = 10_000
) -> None:
    """Fail when ``call`` grows clearly faster than linearly from size n to 8n."""
    ratio = growth(make, call, n)
    if ratio > MAX_GROWTH:  # one retry: a single noisy measurement is not a verdict
        ratio = min(ratio, growth(make, call, n))
    assert ratio <= MAX_GROWTH, (
        f"cost grew {ratio:.1f}x from n={n} to {SCALE}n (linear: about {SCALE}x)"
    )
