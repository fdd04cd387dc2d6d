"""Open-loop arrival schedules (pure): Poisson or gamma inter-arrival times, as vLLM draws them.

With ``burstiness`` b the gaps are Gamma(shape=b, scale=1/(rate·b)): mean 1/rate for every b;
b = 1 is a Poisson process, b < 1 burstier, b > 1 more even. A fixed seed gives the same schedule.
"""

from __future__ import annotations

import math
import random

__all__ = ["arrival_offsets"]


def arrival_offsets(n: int, rate: float, *, burstiness: float = 1.0, seed: int = 0) -> list[float]:
    """Send times in seconds after the start for *n* requests at *rate* requests/s.

    The first request goes at 0 s. ``rate = inf`` sends everything at once.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not rate > 0:
        raise ValueError(f"rate must be positive requests/s, got {rate}")
    if not (burstiness > 0 and math.isfinite(burstiness)):
        raise ValueError(f"burstiness must be a positive number, got {burstiness}")
    if math.isinf(rate):
        return [0.0] * n
    rng = random.Random(seed)
    scale = 1.0 / (rate * burstiness)
    out: list[float] = []
    t = 0.0
    for i in range(n):
        if i:
            t += rng.gammavariate(burstiness, scale)
        out.append(t)
    return out
