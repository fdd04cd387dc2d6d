"""fieldkit.servebench — benchmark any OpenAI-compatible server as ``fieldkit bench serve`` does.

``run_serve_bench(ServeBenchConfig(Target(url, model), synthetic_prompts(...), loads=(1, 4)))``
returns per-load-point TTFT/TPOT/ITL/E2E statistics, throughputs, errors and goodput, with vLLM's
metric definitions (see docs/api/bench-serve.md).
"""

from __future__ import annotations

from fieldkit.servebench._arrivals import arrival_offsets
from fieldkit.servebench._csv import points_csv
from fieldkit.servebench._latency import LATENCIES, LatencyMetric
from fieldkit.servebench._loadgen import Target
from fieldkit.servebench._metrics import (
    DEFAULT_PERCENTILES,
    STAT_KEYS,
    LatencyStats,
    PointMetrics,
    RequestRecord,
    latency_stats,
    point_metrics,
    steady_state,
    summarize_point,
)
from fieldkit.servebench._mlflow import (
    BenchRun,
    MlflowLogError,
    bench_run,
    check_tracking_store,
    flat_figures,
    log_bench_runs,
    log_points,
    point_run,
)
from fieldkit.servebench._overhead import measure_overhead
from fieldkit.servebench._plot import plot_sweep
from fieldkit.servebench._prometheus import parse_prometheus, server_view
from fieldkit.servebench._render import render_point, render_repeats, render_sweep
from fieldkit.servebench._repeat import Estimate, RepeatSummary, summarize_repeats, t_interval
from fieldkit.servebench._run import (
    LoadPoint,
    ServeBenchConfig,
    ServeBenchError,
    ServeBenchResult,
    run_serve_bench,
    served_models,
)
from fieldkit.servebench._search import MaxSearch
from fieldkit.servebench._slo import SLOError, SLOs, parse_slos
from fieldkit.servebench._workload import (
    Prompt,
    WorkloadError,
    load_jsonl,
    load_sharegpt,
    load_trace,
    multi_turn_prompts,
    shared_prefix_prompts,
    synthetic_prompts,
)

__all__ = [
    "DEFAULT_PERCENTILES",
    "LATENCIES",
    "STAT_KEYS",
    "BenchRun",
    "Estimate",
    "LatencyMetric",
    "LatencyStats",
    "LoadPoint",
    "MaxSearch",
    "MlflowLogError",
    "PointMetrics",
    "Prompt",
    "RepeatSummary",
    "RequestRecord",
    "SLOError",
    "SLOs",
    "ServeBenchConfig",
    "ServeBenchError",
    "ServeBenchResult",
    "Target",
    "WorkloadError",
    "arrival_offsets",
    "bench_run",
    "check_tracking_store",
    "flat_figures",
    "latency_stats",
    "load_jsonl",
    "load_sharegpt",
    "load_trace",
    "log_bench_runs",
    "log_points",
    "measure_overhead",
    "multi_turn_prompts",
    "parse_prometheus",
    "parse_slos",
    "plot_sweep",
    "point_metrics",
    "point_run",
    "points_csv",
    "render_point",
    "render_repeats",
    "render_sweep",
    "run_serve_bench",
    "served_models",
    "server_view",
    "shared_prefix_prompts",
    "steady_state",
    "summarize_point",
    "summarize_repeats",
    "synthetic_prompts",
    "t_interval",
]
