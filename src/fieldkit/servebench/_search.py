"""``--find-max``: which load to try next, given which loads met the SLOs (pure).

Doubling from ``start`` until a load fails (or ``limit`` is reached), then bisection between the
highest passing and lowest failing load: integer steps for concurrency, until the bracket is within
``tolerance`` (relative) for rates. Assumes meeting the SLOs is monotone in load.
"""

from __future__ import annotations

import math

__all__ = ["MaxSearch"]


class MaxSearch:
    """Drive with ``while (v := s.next()) is not None: s.record(v, meets(v))``; ``s.best`` is the
    highest load that met the SLOs (``None`` if even ``start`` failed)."""

    def __init__(
        self,
        start: float,
        limit: float,
        *,
        integer: bool,
        tolerance: float = 0.1,
        max_steps: int = 16,
    ) -> None:
        if not 0 < start <= limit:
            raise ValueError(f"need 0 < start <= limit, got start={start}, limit={limit}")
        self.integer = integer
        if integer:  # a concurrency never exceeds the limit, and each is tried once
            limit = float(math.floor(limit))
            if start > limit:
                raise ValueError(f"need an integer load between start={start} and limit={limit}")
        self.start, self.limit, self.tolerance = start, limit, tolerance
        self.best: float | None = None
        self.failed: float | None = None
        self.steps = 0
        self.max_steps = max_steps
        self.tried: list[tuple[float, bool]] = []

    def next(self) -> float | None:
        """The next load to try, or ``None`` when the search is done."""
        if self.steps >= self.max_steps:
            return None
        if self.failed is None:
            if self.best is None:
                return self.start if not self.tried else None
            if self.best >= self.limit:
                return None
            nxt = min(self.best * 2, self.limit)
            return float(round(nxt)) if self.integer else nxt
        if self.best is None:
            return None  # the start already failed
        if self.integer:
            if self.failed - self.best <= 1:
                return None
            return float((int(self.best) + int(self.failed)) // 2)
        if self.failed <= self.best * (1 + self.tolerance):
            return None
        return (self.best + self.failed) / 2

    def record(self, value: float, met: bool) -> None:
        self.steps += 1
        self.tried.append((value, met))
        if met:
            self.best = value if self.best is None else max(self.best, value)
        else:
            self.failed = value if self.failed is None else min(self.failed, value)
