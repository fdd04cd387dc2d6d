"""fieldkit.quant: wall time of a perplexity run through ``measure_perplexity_gguf`` vs calling
``llama-perplexity`` by hand (``subprocess.run`` with the same arguments), on the shipped
SmolLM2-135M Q4_1 GGUF and fieldkit's sample text; plus llama-bench tokens/s as reported.

Needs fieldkit's llama.cpp build (``llama_binary(..., build=False)``); without it the benchmark
prints one row saying so.
"""

from __future__ import annotations

import subprocess
import time

from benchmarks._table import Row

DESCRIPTION = (
    "perplexity run wall time: measure_perplexity_gguf vs llama-perplexity by hand (same args); "
    "llama-bench tokens/s of SmolLM2-135M Q4_1"
)


def run(quick: bool) -> list[Row]:
    from fieldkit.quant import (
        LlamaCppPaths,
        measure_perplexity_gguf,
        measure_tokens_per_sec_gguf,
        parse_perplexity_output,
        sample_text_path,
    )
    from fieldkit.serve._locate import LlamaBuildError, default_model, llama_binary

    try:
        paths = LlamaCppPaths(
            perplexity=llama_binary("llama-perplexity", build=False),
            bench=llama_binary("llama-bench", build=False),
        )
        model = default_model()
    except LlamaBuildError as exc:
        return [Row("skipped: llama.cpp not built", 0.0, None, "", note=str(exc)[:80])]
    chunks = "2" if quick else "6"
    args = ["-c", "128", "--chunks", chunks, "-t", "2", "-b", "128"]
    corpus = sample_text_path()
    hand_cmd = [str(paths.perplexity), "-m", str(model), "-f", str(corpus), *args]
    reps = 2 if quick else 3
    t_ours: list[float] = []
    t_hand: list[float] = []
    ppl_ours = ppl_hand = None
    for _ in range(reps):  # interleaved so both see the same machine load
        t0 = time.perf_counter()
        ppl_ours = measure_perplexity_gguf(
            gguf_path=model, corpus_path=corpus, paths=paths, extra_args=args
        )
        t_ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        proc = subprocess.run(hand_cmd, capture_output=True, text=True, check=True, timeout=600)
        t_hand.append(time.perf_counter() - t0)
        ppl_hand = parse_perplexity_output(proc.stdout + proc.stderr)
    tps = measure_tokens_per_sec_gguf(
        gguf_path=model, paths=paths, n_gen=16, n_prompt=64, extra_args=["-t", "2", "-r", "2"]
    )
    tps = tps or {}
    return [
        Row(
            f"perplexity run, {chunks} chunks × 128 ctx (best of {reps})",
            min(t_ours),
            min(t_hand),
            "s",
            baseline_label="llama-perplexity by hand",
            note=f"PPL {ppl_ours} vs {ppl_hand}",
        ),
        Row("llama-bench pp64 (SmolLM2 Q4_1, -t 2)", tps.get("pp") or 0.0, None, "tok/s", "higher"),
        Row("llama-bench tg16 (SmolLM2 Q4_1, -t 2)", tps.get("tg") or 0.0, None, "tok/s", "higher"),
    ]
