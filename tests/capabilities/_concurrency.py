"""Run one callable from several threads released at the same instant."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def call_concurrently(fn: Callable[[], T], threads: int = 8) -> list[T]:
    """Results of *fn* called once in each of *threads* threads, all started together."""
    barrier = threading.Barrier(threads)
    seen: list[T] = []

    def worker() -> None:
        barrier.wait()
        seen.append(fn())

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert len(seen) == threads
    return seen
