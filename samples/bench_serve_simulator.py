"""Benchmark a streaming server the way `fieldkit bench serve` does, offline.

The loopback simulator is scripted to answer like a model with 80 ms to the first token and
10 ms per token after it; the benchmark measures exactly that back (TTFT ≈ 80 ms, ITL ≈ TPOT ≈
10 ms) across a concurrency sweep, with goodput under two SLOs. Point ``Target`` at any
OpenAI-compatible server (vLLM, NIM, llama-server: ``fieldkit serve``) to measure it instead.
"""

from __future__ import annotations

from fieldkit.servebench import (
    ServeBenchConfig,
    Target,
    measure_overhead,
    parse_slos,
    run_serve_bench,
    synthetic_prompts,
)
from fieldkit.testing import NIMSimulator

with NIMSimulator(model="demo-model") as sim:
    sim.set_token_timing(ttft_s=0.08, itl_s=0.01, tokens=12)
    config = ServeBenchConfig(
        Target(sim.base_url, "demo-model"),
        synthetic_prompts(8, input_len=64, output_len=12, seed=0),
        loads=(1, 2, 4),
        num_requests=8,
        slos=parse_slos(["ttft=200ms", "tpot=30ms"]),
    )
    result = run_serve_bench(config)

print("concurrency  req/s  out tok/s  TTFT p50  TPOT p50  ITL p50  E2E p99  goodput")
for point in result.points:
    s = point.summary
    print(
        f"{point.load:>11g}  {s['request_throughput']:5.1f}  {s['output_throughput']:9.1f}  "
        f"{s['ttft_ms']['median']:6.1f}ms  {s['tpot_ms']['median']:6.1f}ms  "
        f"{s['itl_ms']['median']:5.1f}ms  {s['e2e_ms']['p99']:6.1f}ms  {s['goodput']:5.1f}/s"
    )

overhead = measure_overhead(requests=100, concurrency=4)
print(
    f"load generator: {overhead['generator_cpu_ms_per_request']:.2f} ms CPU per request "
    f"(saturates one core near {overhead['generator_ceiling_rps']:.0f} req/s)"
)
