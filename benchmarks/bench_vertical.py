"""fieldkit.eval vertical benches: VerticalBench.run with concurrency vs sequentially.

Baseline measured in the same run: the same ``VerticalBench.run`` sequentially (0.4.3 runs one
question at a time). Two workloads:
- a stand-in remote model (sleeps 20 ms) scored by a judge-like scorer (sleeps 10 ms), so both
  the model call and the scoring overlap under ``concurrency=8``;
- when a llama-server build is available, the real local model (SmolLM2-135M-Instruct) over the
  repo's ``samples/data/vertical-smoke.jsonl`` at ``concurrency=4`` (llama-server's parallel
  slots) vs sequential.
Accuracy must be identical between the runs of each pair (asserted).
"""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks._table import Row
from fieldkit.eval import VerticalBench, VerticalQA, contains

DESCRIPTION = (
    "VerticalBench.run: concurrency vs sequential (stand-in model+judge; real llama-server)"
)

SMOKE = Path(__file__).resolve().parents[1] / "samples" / "data" / "vertical-smoke.jsonl"


def _remote(question: str) -> str:
    time.sleep(0.02)
    return f"answer {question.split()[-1]}"


def _judge_like(predicted: str, expected: str) -> float:
    time.sleep(0.01)
    return 1.0 if expected in predicted else 0.0


def _timed(bench: VerticalBench, fn: object, **kw: object) -> tuple[float, float]:
    t0 = time.perf_counter()
    res = bench.run(fn, **kw)  # type: ignore[arg-type]
    return time.perf_counter() - t0, float(res.summary()["accuracy"]["mean"])


def _local_rows(quick: bool) -> list[Row]:
    try:
        from fieldkit.serve import LocalServer
        from fieldkit.serve._locate import llama_binary

        llama_binary("llama-server", build=False)
    except Exception as exc:  # no build on this machine: say so instead of a row
        print(f"bench_vertical: real-model rows skipped ({type(exc).__name__}: {exc})")
        return []
    bench = VerticalBench.from_jsonl(SMOKE, scorer=contains)
    server = LocalServer(ctx=2048, threads=1, extra_args=("--parallel", "4"))
    with server as srv, srv.client(timeout=120.0) as client:

        def model(question: str) -> str:
            reply = client.chat([{"role": "user", "content": question}], max_tokens=16)
            return str(reply["choices"][0]["message"]["content"])

        model(bench.questions[0].question)  # warm-up
        seq_s, seq_acc = _timed(bench, model)
        par_s, par_acc = _timed(bench, model, concurrency=4)
    return [
        Row(
            f"VerticalBench on llama-server (SmolLM2-135M), {len(bench.questions)} questions",
            par_s,
            seq_s,
            "s",
            baseline_label="sequential (0.4.3)",
            note=f"concurrency=4, 4 slots, 1 thread; accuracy {par_acc:.3f} vs {seq_acc:.3f}",
        )
    ]


def run(quick: bool) -> list[Row]:
    n = 24 if quick else 64
    qs = [VerticalQA(str(i), f"question {i}", str(i)) for i in range(n)]
    bench = VerticalBench("stand-in", qs, scorer=_judge_like)
    seq_s, seq_acc = _timed(bench, _remote)
    par_s, par_acc = _timed(bench, _remote, concurrency=8)
    assert seq_acc == par_acc == 1.0
    rows = [
        Row(
            f"VerticalBench.run, {n} questions × (20 ms model + 10 ms judge)",
            par_s,
            seq_s,
            "s",
            baseline_label="sequential (0.4.3)",
            note="concurrency=8; calls recorded in question order",
        )
    ]
    return rows + _local_rows(quick)
