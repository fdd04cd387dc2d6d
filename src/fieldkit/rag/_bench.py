"""The RAG bench behind ``fieldkit bench rag``: ingest the bundled corpus, measure retrieval hit
rate per mode, per-stage latency of ``ask``, and (with a generator) answer correctness and
generation speed.

Pure parts (corpus loading, percentiles, hit metrics, the result shape) are separate from the
run so they are testable without services. The JSON shape is ``RagBenchResult.to_dict()``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from fieldkit._stats import percentile as sorted_percentile
from fieldkit.rag._correctness import VERDICTS, grade_answer, is_decline
from fieldkit.rag._pipeline import Pipeline
from fieldkit.rag._store import DimensionMismatchError
from fieldkit.rag._types import RETRIEVAL_MODES, Chunk, Document, RAGError, coerce_document

__all__ = [
    "LATENCY_ROWS",
    "STAGES",
    "BenchCorpus",
    "BenchQuestion",
    "RagBenchResult",
    "answer_verdict",
    "generation_stats",
    "hit_metrics",
    "load_corpus",
    "percentile",
    "resolve_served_model",
    "run_rag_bench",
]

STAGES: tuple[str, ...] = ("embed", "retrieve", "rerank", "generate", "end_to_end")
#: Rows of ``latency_ms``: the stages of ``ask`` plus the generator's time to first token.
LATENCY_ROWS: tuple[str, ...] = (*STAGES, "ttft")


@dataclass(frozen=True, slots=True)
class BenchQuestion:
    """A question, the ids of the passages that answer it (empty: out of corpus), and gold
    answer strings (any one present in a model's answer makes it correct)."""

    question: str
    answer_ids: tuple[int, ...]
    gold: tuple[str, ...] = ()

    @property
    def in_corpus(self) -> bool:
        return bool(self.answer_ids)


@dataclass(frozen=True, slots=True)
class BenchCorpus:
    name: str
    passages: tuple[Document, ...]
    questions: tuple[BenchQuestion, ...]


def load_corpus(path: str | Path | None = None) -> BenchCorpus:
    """The corpus shipped as package data (``fieldkit/rag/data/corpus.json``), or one in the same
    JSON shape at ``path``: ``{"name", "passages": [{"id", "text", "label"?}],
    "questions": [{"question", "answer_ids": [passage id, ...], "answers"?: [gold string, ...]}]}``
    (empty ``answer_ids``: an out-of-corpus question). A malformed file raises ``RAGError``
    naming what is wrong."""
    where = "the bundled corpus" if path is None else str(path)
    try:
        if path is None:
            raw = resources.files("fieldkit.rag.data").joinpath("corpus.json").read_text("utf-8")
        else:
            raw = Path(path).expanduser().read_text("utf-8")
        data = json.loads(raw)
    except RecursionError:
        raise RAGError(f"cannot read corpus {where}: JSON nested too deeply") from None
    except (OSError, ValueError) as exc:  # ValueError: bad JSON, bad UTF-8, a 5000-digit number
        raise RAGError(f"cannot read corpus {where}: {exc}") from exc
    try:
        passages = tuple(coerce_document(p) for p in data["passages"])
        questions = tuple(
            BenchQuestion(
                _text(q["question"]),
                tuple(_int(i) for i in q["answer_ids"]),
                tuple(_text(a) for a in q.get("answers", ())),
            )
            for q in data["questions"]
        )
        name = str(data.get("name", "corpus"))
    except (KeyError, TypeError, ValueError, AttributeError, RAGError) as exc:
        raise RAGError(
            f"corpus {where} is malformed ({type(exc).__name__}: {exc}); expected "
            '{"passages": [{"id", "text", "label"}], "questions": [{"question", "answer_ids"}]}'
        ) from exc
    ids = [p.id for p in passages]
    if not passages or not questions:
        raise RAGError(f"corpus {where} needs at least one passage and one question")
    if len(set(ids)) != len(ids):
        raise RAGError(f"corpus {where}: passage ids must be unique")
    unknown = sorted({i for q in questions for i in q.answer_ids} - set(ids))
    if unknown:
        raise RAGError(f"corpus {where}: answer_ids {unknown} name no passage")
    return BenchCorpus(name, passages, questions)


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"questions and answers must be non-empty strings, got {value!r}")
    return value


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"an answer id must be an integer, got {value!r}")
    return value


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) with linear interpolation (``fieldkit.eval``'s), NaN
    values dropped; None for no values."""
    xs = sorted(v for v in values if not math.isnan(v))
    if not xs:
        if not 0 <= q <= 100:
            raise ValueError(f"percentile q must be within [0, 100], got {q}")
        return None
    return sorted_percentile(xs, q)


def _doc_of(chunk: Chunk) -> int:
    return chunk.doc_id if chunk.doc_id is not None else chunk.id


def hit_metrics(
    ranked_doc_ids: Sequence[Sequence[int]], answers: Sequence[Sequence[int]], k: int
) -> dict[str, float]:
    """hit@1, hit@k and MRR@k over questions (each: retrieved doc ids best first, answer ids)."""
    if len(ranked_doc_ids) != len(answers):
        raise ValueError("one ranking per question is required")
    n = len(answers)
    if n == 0:
        return {"hit@1": 0.0, f"hit@{k}": 0.0, "mrr": 0.0, "n": 0}
    h1 = hk = rr = 0.0
    for ranking, gold in zip(ranked_doc_ids, answers, strict=True):
        want = set(gold)
        top = list(ranking)[:k]
        rank = next((i for i, d in enumerate(top) if d in want), None)
        if rank is not None:
            hk += 1
            rr += 1.0 / (rank + 1)
            if rank == 0:
                h1 += 1
    return {"hit@1": h1 / n, f"hit@{k}": hk / n, "mrr": rr / n, "n": n}


def generation_stats(raw: Any, generate_ms: float) -> dict[str, float | None]:
    """Speed of one completion: ``completion_tokens``, ``tokens_per_s`` (completion tokens over
    the client's wall time for the call), ``decode_tokens_per_s`` and ``ttft_ms``.

    The last two need the per-request ``timings`` llama-server adds to its answers (None
    otherwise): TTFT is the client's wall time less the server's decode time of every token after
    the first, so it includes the HTTP round trip and prompt processing.
    """
    usage = raw.get("usage") if isinstance(raw, dict) else None
    timings = raw.get("timings") if isinstance(raw, dict) else None
    n = usage.get("completion_tokens") if isinstance(usage, dict) else None
    n = n if isinstance(n, int) and not isinstance(n, bool) and n >= 0 else None
    out: dict[str, float | None] = {
        "completion_tokens": None if n is None else float(n),
        "tokens_per_s": None,
        "decode_tokens_per_s": None,
        "ttft_ms": None,
    }
    if n and generate_ms > 0:
        out["tokens_per_s"] = n / (generate_ms / 1000.0)
    if isinstance(timings, dict):
        pn, pms = timings.get("predicted_n"), timings.get("predicted_ms")
        if isinstance(pn, (int, float)) and isinstance(pms, (int, float)) and pn > 0 and pms > 0:
            out["decode_tokens_per_s"] = pn / (pms / 1000.0)
            out["ttft_ms"] = max(generate_ms - pms * (pn - 1) / pn, 0.0)
    return out


def resolve_served_model(requested: str | None, served: Sequence[str]) -> tuple[str, str | None]:
    """The chat model id to use, given the ids a server lists at ``/models``, and a note when
    that is not what was asked for. Raises ``RAGError`` when an explicitly requested id is not
    served (llama-server answers to any id, so a typo would otherwise go unnoticed)."""
    if requested is not None and requested in served:
        return requested, None
    if requested is not None:
        listed = ", ".join(served) if served else "nothing"
        raise RAGError(f"--nim-model {requested!r} is not served there; the server lists: {listed}")
    if not served:
        raise RAGError("the chat server lists no models at /models")
    default = "meta/llama-3.1-8b-instruct"
    if default in served:
        return default, None
    return served[0], f"generator: the server serves {', '.join(served)}; using {served[0]}"


@dataclass
class RagBenchResult:
    """Everything the bench measured; ``to_dict()`` is the ``--json`` / ``--out`` shape."""

    config: dict[str, Any]
    ingest: dict[str, Any]
    latency_ms: dict[str, dict[str, Any]]
    hit_rate: dict[str, dict[str, float]]
    answers: dict[str, Any]
    calls: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    generation: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": "fieldkit-cli-bench-rag",
            "config": self.config,
            "ingest": self.ingest,
            "latency_ms": self.latency_ms,
            "hit_rate": self.hit_rate,
            "answers": self.answers,
            "generation": self.generation,
            "notes": self.notes,
            "calls": self.calls,
        }


def _is_refusal(text: str | None) -> bool:
    """No answer, or a decline (``fieldkit.rag._correctness.is_decline``)."""
    return is_decline(text)


def answer_verdict(call: dict[str, Any]) -> str:
    """A call record's verdict (``fieldkit.rag._correctness``): ``right``, ``wrong``,
    ``copied`` or ``refused`` (right for an out-of-corpus question); ``failed`` for an error,
    ``-`` when nothing was graded (no generator, or an in-corpus question without gold)."""
    if not call.get("success"):
        return "failed"
    return str(call.get("verdict", "-"))


def run_rag_bench(
    pipe: Pipeline,
    corpus: BenchCorpus | None = None,
    *,
    k: int = 5,
    rerank_k: int = 3,
    mode: str = "hybrid",
    max_tokens: int = 96,
    recreate_on_mismatch: bool = True,
    on_step: Callable[[str], None] | None = None,
) -> RagBenchResult:
    """Ingest ``corpus`` into ``pipe``'s table (re-ingest replaces), then measure.

    Hit rate @k is measured with ``retrieve`` for every mode over the in-corpus questions;
    latency with ``ask`` (``mode``) over every question. ``on_step`` is called once per unit of
    work (for a progress bar). A table of another dimension is dropped and recreated when
    ``recreate_on_mismatch`` (the bench owns its table).
    """
    if k <= 0 or rerank_k <= 0:
        raise ValueError("k and rerank_k must be positive")
    corpus = corpus or load_corpus()
    step = on_step or (lambda _label: None)
    notes: list[str] = []
    _prepare_table(pipe, recreate_on_mismatch, notes)
    t0 = time.perf_counter()
    n_chunks = pipe.ingest(corpus.passages, progress=False)
    ingest_s = time.perf_counter() - t0
    step("ingest")
    in_corpus = [q for q in corpus.questions if q.in_corpus]
    hit_rate = _measure_hit_rate(pipe, in_corpus, k, step)
    calls = [
        _ask_one(pipe, q, k=k, rerank_k=rerank_k, mode=mode, max_tokens=max_tokens, step=step)
        for q in corpus.questions
    ]
    ok = [c for c in calls if c["success"]]
    failures = len(calls) - len(ok)
    if failures:
        first = next(c["error"] for c in calls if not c["success"])
        notes.append(f"{failures} of {len(calls)} questions failed (first: {first})")
    gen_calls = [c["generation"] for c in ok if "generation" in c]
    latency = _latency(pipe, ok, gen_calls)
    if not pipe.has_reranker:
        notes.append("rerank skipped: no rerank service configured (pass-through)")
    answers = _answer_counts(pipe, ok, failures)
    if pipe.generator is None:
        notes.append("no generator configured: answers are None (retrieval only)")
    config = {
        "corpus": corpus.name,
        "table": pipe.table_name,
        "embedder": describe_embedder(pipe),
        "embed_dim": pipe.embed_dim,
        "store": "embedded Postgres" if pipe.pgvector_dsn is None else "external Postgres",
        "generator": None if pipe.generator is None else getattr(pipe.generator, "model", "?"),
        "reranker": pipe.rerank_url if pipe.has_reranker else None,
        "k": k,
        "rerank_k": rerank_k,
        "ask_mode": mode,
        "questions": len(corpus.questions),
        "questions_in_corpus": len(in_corpus),
    }
    return RagBenchResult(
        config=config,
        ingest={"documents": len(corpus.passages), "chunks": n_chunks, "seconds": ingest_s},
        latency_ms=latency,
        hit_rate=hit_rate,
        answers=answers,
        calls=calls,
        notes=notes,
        generation=_generation(gen_calls),
    )


def _prepare_table(pipe: Pipeline, recreate_on_mismatch: bool, notes: list[str]) -> None:
    """Create the table; one of another dimension is recreated (noted) when allowed."""
    try:
        pipe.ensure_schema()
    except DimensionMismatchError as exc:
        if not recreate_on_mismatch:
            raise
        notes.append(f"recreated the bench table: {exc}")
        pipe.drop_table()
        pipe.ensure_schema()


def _measure_hit_rate(
    pipe: Pipeline, in_corpus: Sequence[BenchQuestion], k: int, step: Callable[[str], None]
) -> dict[str, dict[str, float]]:
    """hit@1, hit@k and MRR@k of ``retrieve`` per retrieval mode."""
    hit_rate: dict[str, dict[str, float]] = {}
    for m in RETRIEVAL_MODES:
        rankings: list[list[int]] = []
        for q in in_corpus:
            rankings.append([_doc_of(c) for c in pipe.retrieve(q.question, top_k=k, mode=m)])
            step(m)
        hit_rate[m] = hit_metrics(rankings, [q.answer_ids for q in in_corpus], k)
    return hit_rate


def _ask_one(
    pipe: Pipeline,
    q: BenchQuestion,
    *,
    k: int,
    rerank_k: int,
    mode: str,
    max_tokens: int,
    step: Callable[[str], None],
) -> dict[str, Any]:
    """One ``ask`` as a call record; a failing question is recorded, not raised."""
    from fieldkit.nim import NIMError

    call: dict[str, Any] = {
        "question": q.question,
        "in_corpus": q.in_corpus,
        "answer_ids": list(q.answer_ids),
    }
    try:
        out = pipe.ask(
            q.question, retrieve_k=k, rerank_k=rerank_k, mode=mode, max_tokens=max_tokens
        )
    except (RAGError, NIMError) as exc:  # one failing question does not sink the bench
        call.update(success=False, error=f"{type(exc).__name__}: {exc}")
    else:
        chunk_docs = [_doc_of(c) for c in out["chunks"]]
        call.update(
            success=True,
            chunk_ids=[c.id for c in out["chunks"]],
            hit=bool(set(chunk_docs) & set(q.answer_ids)),
            answer=out["answer"],
            timings_ms=out["timings_ms"],
        )
        call["passage_ids"] = list(dict.fromkeys(chunk_docs))
        if out["answer"] is not None and (q.gold or not q.in_corpus):
            grade = grade_answer(
                out["answer"],
                q.gold,
                [c.text for c in out["chunks"]],
                q.question,
                in_corpus=q.in_corpus,
            )
            call.update(verdict=grade.verdict, verdict_reason=grade.reason)
            if q.gold:
                call.update(gold=list(q.gold), correct=grade.verdict == "right")
        if out.get("raw") is not None:
            call["generation"] = generation_stats(out["raw"], out["timings_ms"]["generate"])
    step("ask")
    return call


def _latency(
    pipe: Pipeline, ok: Sequence[dict[str, Any]], gen_calls: Sequence[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """p50/p95 per stage of the successful calls, plus time to first token."""
    latency: dict[str, dict[str, Any]] = {}
    for stage in STAGES:
        vals = [float(c["timings_ms"][stage]) for c in ok]
        skipped = (stage == "generate" and pipe.generator is None) or (
            stage == "rerank" and not pipe.has_reranker
        )
        entry: dict[str, Any] = {"n": 0 if skipped else len(vals), "skipped": skipped}
        entry["p50"] = None if skipped else percentile(vals, 50)
        entry["p95"] = None if skipped else percentile(vals, 95)
        latency[stage] = entry
    ttft = [g["ttft_ms"] for g in gen_calls if g["ttft_ms"] is not None]
    latency["ttft"] = {
        "n": len(ttft),
        "skipped": not ttft,
        "p50": percentile(ttft, 50),
        "p95": percentile(ttft, 95),
    }
    return latency


def _generation(gen_calls: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Generation speed over the answers (empty without any)."""
    generation: dict[str, Any] = {}
    if gen_calls:
        for key in ("tokens_per_s", "decode_tokens_per_s"):
            vals = [g[key] for g in gen_calls if g[key] is not None]
            generation[key] = {"p50": percentile(vals, 50), "p95": percentile(vals, 95)}
        generation["completion_tokens"] = sum(g["completion_tokens"] or 0 for g in gen_calls)
        generation["answers"] = len(gen_calls)
    return generation


def _answer_counts(pipe: Pipeline, ok: Sequence[dict[str, Any]], failures: int) -> dict[str, Any]:
    """Answered/refused counts and correctness of the successful calls (with a generator)."""
    answers: dict[str, Any] = {"generator": pipe.generator is not None, "failed": failures}
    if pipe.generator is not None:
        inside = [c for c in ok if c["in_corpus"]]
        outside = [c for c in ok if not c["in_corpus"]]
        answers["in_corpus_answered"] = sum(not _is_refusal(c["answer"]) for c in inside)
        answers["in_corpus_total"] = len(inside)
        answers["out_of_corpus_refused"] = sum(_is_refusal(c["answer"]) for c in outside)
        answers["out_of_corpus_total"] = len(outside)
        graded = [c for c in inside if "correct" in c]
        if graded:
            answers["correct"] = sum(bool(c["correct"]) for c in graded)
            answers["correct_total"] = len(graded)
            answers["correctness"] = answers["correct"] / len(graded)
        verdicts = [c["verdict"] for c in ok if "verdict" in c]
        if verdicts:
            answers["verdicts"] = {v: verdicts.count(v) for v in VERDICTS}
    return answers


def describe_embedder(pipe: Pipeline) -> str:
    """A one-line description of the pipeline's embedder."""
    from fieldkit.rag._embedders import LOCAL_EMBED_MODEL, LocalEmbedder, NIMEmbedder

    emb = pipe.embedder
    if isinstance(emb, LocalEmbedder):
        return f"local {LOCAL_EMBED_MODEL}"
    if isinstance(emb, NIMEmbedder):
        return f"NIM {emb.model} at {pipe.embed_url}"
    return type(emb).__name__
