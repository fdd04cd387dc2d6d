"""The RAG bench behind ``fieldkit bench rag``, importable: ``PipelineOptions`` builds the
pipeline, ``load_bench_corpus`` reads a corpus JSON or a folder with its questions, ``run_bench``
starts the services and measures (``run_rag_bench`` measures an already-built pipeline),
``grade_answer`` is the verdict on one answer, ``judge_answers`` adds an LLM judge's, and
``RagBenchResult.to_dict()`` is the JSON shape.

A separate module so ``import fieldkit.rag`` stays light.
"""

from __future__ import annotations

from fieldkit.rag._bench import (
    LATENCY_ROWS,
    STAGES,
    BenchCorpus,
    BenchQuestion,
    RagBenchResult,
    answer_verdict,
    describe_embedder,
    generation_stats,
    hit_metrics,
    load_corpus,
    percentile,
    resolve_served_model,
    run_rag_bench,
)
from fieldkit.rag._bench_folder import load_folder_questions
from fieldkit.rag._bench_judge import JUDGE_PASS, judge_answers
from fieldkit.rag._bench_run import (
    BENCH_TABLE,
    PipelineOptions,
    bench_steps,
    load_bench_corpus,
    run_bench,
)
from fieldkit.rag._correctness import VERDICTS, Grade, grade_answer

__all__ = [
    "BENCH_TABLE",
    "JUDGE_PASS",
    "LATENCY_ROWS",
    "STAGES",
    "VERDICTS",
    "BenchCorpus",
    "BenchQuestion",
    "Grade",
    "PipelineOptions",
    "RagBenchResult",
    "answer_verdict",
    "bench_steps",
    "describe_embedder",
    "generation_stats",
    "grade_answer",
    "hit_metrics",
    "judge_answers",
    "load_bench_corpus",
    "load_corpus",
    "load_folder_questions",
    "percentile",
    "resolve_served_model",
    "run_bench",
    "run_rag_bench",
]
