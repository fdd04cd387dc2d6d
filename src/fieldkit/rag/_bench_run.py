"""The RAG bench from options: build the pipeline, load the corpus (a corpus JSON or a folder with
its questions), start the services, ingest a folder, and measure with ``run_rag_bench``.

Front ends (``fieldkit bench rag``) pass plain option values and UI hooks (a status spinner, a
progress bar); every decision about what runs lives here.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fieldkit.rag._bench import BenchCorpus, RagBenchResult, load_corpus, run_rag_bench
from fieldkit.rag._pipeline import Pipeline
from fieldkit.rag._sql import parse_table_name
from fieldkit.rag._types import DEFAULT_EMBED_DIM, DEFAULT_EMBED_MODEL, RAGError

if TYPE_CHECKING:
    from fieldkit.nim import NIMClient

__all__ = ["BENCH_TABLE", "PipelineOptions", "bench_steps", "load_bench_corpus", "run_bench"]

#: The table ``fieldkit bench rag`` (re)fills unless told otherwise.
BENCH_TABLE = "fieldkit_cli_bench_rag"


@dataclass(frozen=True, slots=True)
class PipelineOptions:
    """What a ``Pipeline`` is built from, as a command line gives it: empty or None means the
    default (embedded Postgres, local embedder, no reranker)."""

    embed_url: str | None = None
    pgvector_dsn: str | None = None
    rerank_url: str | None = None
    embed_model: str | None = None
    embed_dim: int | None = None
    table: str = BENCH_TABLE
    chunk_tokens: int = 400

    def check(self) -> None:
        """Raise ``RAGError`` for a bad table name, before any service is waited for."""
        parse_table_name(self.table)

    def build(self, generator: NIMClient | None = None) -> Pipeline:
        """The pipeline (raises ``RAGError``/``ValueError`` for bad options, ``MissingExtraError``
        when the local embedder's extra is not installed)."""
        return Pipeline(
            embed_url=self.embed_url or None,
            pgvector_dsn=self.pgvector_dsn or None,
            generator=generator,
            rerank_url=self.rerank_url or None,
            embed_model=self.embed_model or DEFAULT_EMBED_MODEL,
            embed_dim=self.embed_dim or DEFAULT_EMBED_DIM,
            table=self.table,
            chunk_tokens=self.chunk_tokens,
        )


def load_bench_corpus(
    corpus: Path | None = None, questions: Path | None = None
) -> tuple[BenchCorpus, Path | None]:
    """The bench corpus and the folder to ingest (None unless ``corpus`` is a folder).

    ``corpus``: a corpus JSON (``load_corpus``; None: the bundled one) or a folder of documents,
    which needs ``questions`` (``load_folder_questions``). Raises ``RAGError`` naming the problem.
    """
    if corpus is not None and corpus.is_dir():
        from fieldkit.rag._bench_folder import load_folder_questions

        if questions is None:
            raise RAGError("--corpus is a folder: give its questions with --questions FILE")
        return load_folder_questions(corpus, questions), corpus
    if questions is not None:
        raise RAGError("--questions goes with a --corpus folder")
    return load_corpus(corpus), None


def bench_steps(corpus: BenchCorpus) -> int:
    """Units of work ``run_rag_bench`` reports through ``on_step`` for ``corpus``."""
    in_corpus = sum(1 for q in corpus.questions if q.in_corpus)
    return 1 + 3 * in_corpus + len(corpus.questions)


def run_bench(
    pipe: Pipeline,
    corpus: BenchCorpus,
    *,
    folder: Path | None = None,
    k: int = 5,
    rerank_k: int = 3,
    mode: str = "hybrid",
    max_tokens: int = 96,
    status: Callable[[str], AbstractContextManager[Any]] | None = None,
    progress: Callable[[int], AbstractContextManager[Callable[[str], None]]] | None = None,
) -> RagBenchResult:
    """Start ``pipe``'s services, ingest ``folder`` (when given), run ``run_rag_bench``; close
    ``pipe`` on every exit path.

    ``status(label)`` wraps the setup (Postgres start, embedder load) so a front end can show a
    spinner; ``progress(total)`` yields the ``on_step`` callable for the measurement. With a
    folder, ``ingest`` reports the folder's ingest (files, chunks, unchanged, warnings).
    """
    with pipe:
        with status("starting Postgres and loading the embedder ...") if status else nullcontext():
            _ = pipe.store  # starts the embedded Postgres if needed
            load = getattr(pipe.embedder, "load", None)
            if callable(load):
                load()
        folder_ingest = None if folder is None else pipe.ingest_paths([folder], progress=False)
        bar = progress(bench_steps(corpus)) if progress else nullcontext(None)
        with bar as step:
            result = run_rag_bench(
                pipe, corpus, k=k, rerank_k=rerank_k, mode=mode, max_tokens=max_tokens, on_step=step
            )
    if folder_ingest is not None:
        result.ingest = {
            "documents": folder_ingest.files,
            "chunks": folder_ingest.chunks,
            "seconds": folder_ingest.seconds,
            "unchanged": folder_ingest.unchanged,
            "warnings": [f"{p}: {r}" for p, r in folder_ingest.warnings],
        }
    return result
