"""The load generator's own cost, measured against the loopback simulator with no model latency.

CPU seconds of the generator's event-loop thread per request is its own work, and
``1 / cpu_per_request`` the request rate at which one core running the generator saturates.
Tokens are paced ``itl_s`` apart by default, so each chunk is its own socket read and event-loop
wake-up as with a real server (chunks sent back to back are read in one go and cost far less).
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["measure_overhead"]


def measure_overhead(
    requests: int = 200, concurrency: int = 8, tokens: int = 16, itl_s: float = 0.001
) -> dict[str, Any]:
    """Run *requests* streamed requests of *tokens* one-token chunks (``itl_s`` apart, TTFT 0) at
    *concurrency* against a fresh ``NIMSimulator``; return CPU ms per request and per chunk,
    wall ms per request and the achieved rate."""
    from fieldkit.servebench._loadgen import Target
    from fieldkit.servebench._run import ServeBenchConfig, _run
    from fieldkit.servebench._workload import synthetic_prompts
    from fieldkit.testing import NIMSimulator

    with NIMSimulator(model="overhead-probe") as sim:
        sim.set_token_timing(0.0, itl_s, tokens)
        cfg = ServeBenchConfig(
            Target(sim.base_url, "overhead-probe"),
            synthetic_prompts(requests, 32, tokens, seed=0),
            loads=(concurrency,),
            num_requests=requests,
            warmup=2,
            scrape_metrics=False,
        )
        result = asyncio.run(_run(cfg, None, None))
    point = result.points[0]
    m = point.metrics
    return {
        "requests": m.requests,
        "concurrency": concurrency,
        "tokens_per_request": tokens,
        "itl_s": itl_s,
        "achieved_rps": m.request_throughput,
        "wall_ms_per_request": m.stat("e2e", "mean") or 0.0,
        "generator_cpu_ms_per_request": point.generator_cpu_ms_per_request,
        "generator_cpu_ms_per_chunk": (
            point.generator_cpu_ms_per_request / tokens
            if point.generator_cpu_ms_per_request
            else None
        ),
        "generator_ceiling_rps": (
            1000.0 / point.generator_cpu_ms_per_request
            if point.generator_cpu_ms_per_request
            else None
        ),
        "failed": m.failed,
    }
