"""``Pipeline``: ingest → retrieve (dense / lexical / hybrid) → rerank → fuse, over pgvector.

The published API's fields and methods, plus embedded defaults (no DSN → embedded
Postgres, no ``embed_url`` → the local embedder, no generator → retrieval-only answers), a
pooled store with COPY ingest and an HNSW index, hybrid retrieval, and per-call timings.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence, Sized
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np

from fieldkit._progress import Bar, progress_bar
from fieldkit.rag import _prompt
from fieldkit.rag._config import (
    FIELDS,
    FIXED,
    FUSIONS,
    LEXICAL_BACKENDS,
    RETARGET,
    PipelineConfig,
)
from fieldkit.rag._embedders import Embedder, LocalEmbedder, NIMEmbedder
from fieldkit.rag._ids import IdRegistry, chunk_ids
from fieldkit.rag._prompt import DEFAULT_SYSTEM_PROMPT, REFUSAL_SENTENCE
from fieldkit.rag._retrievers import Request, retriever_for
from fieldkit.rag._sql import TableName
from fieldkit.rag._store import Store, mask_dsn
from fieldkit.rag._types import (
    DEFAULT_CHUNK_TOKENS,
    DEFAULT_EMBED_BATCH,
    DEFAULT_EMBED_DIM,
    DEFAULT_EMBED_MODEL,
    DEFAULT_RERANK_MODEL,
    Chunk,
    Document,
    RAGError,
    _utf8_text,
    coerce_document,
)
from fieldkit.rag._writer import BulkWriter, Pending

if TYPE_CHECKING:
    from fieldkit.nim import NIMClient
    from fieldkit.rag._ingest_paths import IngestSummary
    from fieldkit.rag._sources import SourceTables


__all__ = ["FUSIONS", "LEXICAL_BACKENDS", "NO_GENERATOR_NOTE", "Pipeline"]

NO_GENERATOR_NOTE = "no generator configured: answer is None; 'chunks' are the retrieved passages"
NO_CONTEXT_NOTE = "no passages to ground an answer: the generator was not called"

ProgressFn = Callable[[int], None]

log = logging.getLogger("fieldkit.rag")


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


def _labels(label: str | Sequence[str] | None) -> list[str] | None:
    if label is None:
        return None
    if isinstance(label, str):
        return [label]
    out = list(label)
    if not all(isinstance(x, str) for x in out):
        raise TypeError("label must be a string or a sequence of strings")
    return out


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return (parts.scheme.lower(), (parts.hostname or "").lower(), parts.port)


@dataclass(repr=False)
class Pipeline:
    """A RAG pipeline over one pgvector table (see docs/api/rag.md).

    ``pgvector_dsn=None`` uses the embedded Postgres (``fieldkit[embedded]``), ``embed_url=None``
    the local MiniLM embedder (``fieldkit[local]``, dimension 384), ``generator=None`` makes
    ``ask`` return passages with ``answer=None``. The generator is caller-owned, never closed.
    """

    embed_url: str | None = None
    pgvector_dsn: str | None = None
    generator: NIMClient | None = None
    rerank_url: str | None = None
    rerank_api_key: str | None = None
    rerank_model: str = DEFAULT_RERANK_MODEL
    embed_model: str = DEFAULT_EMBED_MODEL
    embed_dim: int = DEFAULT_EMBED_DIM
    embed_api_key: str = "local"
    embed_batch: int = DEFAULT_EMBED_BATCH
    table: str = "chunks"
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    timeout: float = 60.0
    max_retries: int = 4
    # keyword settings with offline defaults
    embedder: Embedder | None = None
    write_batch: int = 512
    ef_search: int = 100
    max_connections: int = 4
    vector_storage: str = "vector"
    lexical: str = "bm25"
    fusion: str = "document"
    # (lexical, dense) RRF weights and k for hybrid: measured on benchmarks/bench_rag_docs.py
    # and the bundled corpus (docs/api/rag.md), the best setting on both together
    fusion_weights: tuple[float, float] = (1.0, 0.7)
    fusion_k: int = 5

    _embed_client: Any = field(default=None, init=False, repr=False, compare=False)
    _rerank_client: Any = field(default=None, init=False, repr=False, compare=False)
    _table: TableName = field(init=False, repr=False, compare=False)
    _store: Store | None = field(default=None, init=False, repr=False, compare=False)
    _closed: bool = field(default=False, init=False, repr=False, compare=False)
    last_ingest: dict[str, float] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _config: PipelineConfig | None = field(default=None, init=False, repr=False, compare=False)
    _sources: SourceTables | None = field(default=None, init=False, repr=False, compare=False)
    _has_sources: bool | None = field(default=None, init=False, repr=False, compare=False)

    def __setattr__(self, name: str, value: Any) -> None:
        # After construction every setting goes through the frozen configuration: a value is
        # validated when assigned (never at the next call), and a setting bound into the store,
        # embedder or clients at construction is refused instead of silently ignored.
        current = self.__dict__.get("_config")
        if name in FIELDS and isinstance(current, PipelineConfig):
            if name in FIXED:
                raise AttributeError(
                    f"Pipeline.{name} is fixed at construction (it chose the store, embedder "
                    "or HTTP clients); create a new Pipeline instead"
                )
            config = current.with_value(name, value)
            object.__setattr__(self, "_config", config)
            value = getattr(config, name)
            if name in RETARGET:
                self._retarget(config)
        elif name == "embedder" and current is not None:
            raise AttributeError(
                "Pipeline.embedder is fixed at construction; create a new Pipeline instead"
            )
        object.__setattr__(self, name, value)

    def __post_init__(self) -> None:
        config = PipelineConfig(**{name: getattr(self, name) for name in FIELDS})
        for name in FIELDS:  # normalised values (weights as a tuple, URL without a slash)
            object.__setattr__(self, name, getattr(config, name))
        self._table = config.table_name
        self.embedder = self._make_embedder()
        self._rerank_client = self._make_rerank_client()
        if self.embed_dim != config.embed_dim:
            config = config.with_value("embed_dim", self.embed_dim)
        object.__setattr__(self, "_config", config)

    def _retarget(self, config: PipelineConfig) -> None:
        """Point at ``config``'s table and database: the current store is closed, the next
        call opens one there."""
        object.__setattr__(self, "_table", config.table_name)
        store = self._store
        for name in ("_store", "_sources", "_has_sources"):
            object.__setattr__(self, name, None)
        if store is not None:
            store.close()

    @property
    def config(self) -> PipelineConfig:
        """The validated settings (frozen); assigning a pipeline attribute replaces it."""
        assert self._config is not None
        return self._config

    # -- construction helpers ----------------------------------------------------------------

    def _make_embedder(self) -> Embedder:
        embedder = self.embedder
        if embedder is None and self.embed_url:
            from fieldkit.nim import NIMClient

            self._embed_client = NIMClient(
                self.embed_url,
                self.embed_model,
                api_key=self.embed_api_key,
                timeout=self.timeout,
                max_retries=self.max_retries,
            )
            return NIMEmbedder(self._embed_client, model=self.embed_model, dim=self.embed_dim)
        if embedder is None:
            embedder = LocalEmbedder()
        dim = embedder.dim
        if dim != self.embed_dim:
            if self.embed_dim != DEFAULT_EMBED_DIM:
                raise ValueError(
                    f"embed_dim={self.embed_dim} but the embedder produces dimension {dim}"
                )
            self.embed_dim = dim  # the default (1024) adapts to the embedder
        return embedder

    def _make_rerank_client(self) -> Any:
        if not self.rerank_url:
            return None
        from fieldkit.nim import NIMClient

        key = self.rerank_api_key
        if key is None:
            # The embed key is reused for the reranker only on the same origin (never leaked).
            same = self.embed_url is not None and _origin(self.embed_url) == _origin(
                self.rerank_url
            )
            key = self.embed_api_key if same else "local"
        return NIMClient(
            self.rerank_url.rstrip("/"),
            self.rerank_model,
            api_key=key,
            timeout=self.timeout,
            max_retries=self.max_retries,
        )

    def __repr__(self) -> str:
        dsn = None if self.pgvector_dsn is None else mask_dsn(self.pgvector_dsn)
        return (
            f"Pipeline(embed_url={self.embed_url!r}, pgvector_dsn={dsn!r}, "
            f"generator={self.generator!r}, rerank_url={self.rerank_url!r}, "
            f"embed_model={self.embed_model!r}, embed_dim={self.embed_dim}, "
            f"table={self.table!r}, chunk_tokens={self.chunk_tokens})"
        )

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the HTTP clients and the connection pool; idempotent. Not the generator."""
        self._closed = True
        if self.embedder is not None and self._embed_client is not None:
            self.embedder.close()
        self._embed_client = None
        rerank, self._rerank_client = self._rerank_client, None
        if rerank is not None:
            rerank.close()
        store, self._store = self._store, None
        if store is not None:
            store.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RAGError("pipeline closed")

    @property
    def has_reranker(self) -> bool:
        """True when a rerank service is configured (otherwise rerank is a pass-through)."""
        return self._rerank_client is not None

    @property
    def table_name(self) -> str:
        """The chunk table as ``schema.name`` or ``name`` (Postgres-folded), for messages."""
        return self._table.qualified

    @property
    def store(self) -> Store:
        """The pooled store (starts the embedded Postgres on first use when no DSN was given)."""
        self._check_open()
        if self._store is None:
            dsn = self.pgvector_dsn
            revive = None
            if dsn is None:
                from fieldkit._embedded_pg import EmbeddedPostgresError, embedded_dsn

                try:
                    dsn = embedded_dsn()
                except EmbeddedPostgresError as exc:
                    raise RAGError(str(exc)) from exc
                revive = embedded_dsn  # restarts the embedded server if it died
            self._store = Store(
                dsn,
                self._table,
                self.embed_dim,
                max_connections=self.max_connections,
                connect_timeout=min(self.timeout, 30.0),
                ef_search=self.ef_search,
                revive=revive,
                storage=self.vector_storage,
            )
        return self._store

    def _embed(self, texts: Sequence[str], input_type: str) -> np.ndarray[Any, Any]:
        self._check_open()
        assert self.embedder is not None
        return self.embedder.embed(texts, input_type=input_type)

    # -- schema and ingest ---------------------------------------------------------------------

    def ensure_schema(self) -> None:
        """Create the table (the published API's columns plus ``doc_id``, ``chunk_index``,
        ``tsv``) with HNSW (cosine), GIN (full text) and b-tree indexes; idempotent. An existing
        table of another vector dimension is refused with RAGError, and so is a new table when
        the embedder returns vectors of another size than ``embed_dim`` (one short embedding
        tells)."""
        self.store.ensure_schema(probe=self._probe_dim)

    def _probe_dim(self) -> int:
        return int(np.asarray(self._embed(["dimension probe"], "passage")).shape[-1])

    def drop_table(self) -> None:
        """Drop this pipeline's table (and its indexes) if it exists, with the file records of
        ``ingest_paths``."""
        from fieldkit.rag._sources import SourceTables

        self.store.drop()
        SourceTables(self.store).drop()
        self._has_sources = None

    def count(self) -> int:
        """Number of chunks stored in the table."""
        return self.store.count()

    def ingest(
        self,
        documents: Iterable[Document | dict[str, Any]],
        *,
        chunk_tokens: int | None = None,
        progress: bool | ProgressFn | None = None,
    ) -> int:
        """Chunk, embed and store ``documents``; return the number of chunks written.

        Streams: documents are written in transactions of about ``write_batch`` chunks (memory
        bounded by a batch); a failure keeps every earlier batch. Re-ingesting a document
        replaces all of its old chunks. A duplicate document id in one call or a chunk id
        owned by another document raises RAGError; nothing already stored is overwritten.
        ``progress``: True/False for a progress bar on stderr (default: when stderr is a TTY),
        or a callable receiving the number of chunks written by each batch. A load of at least
        ``write_batch`` chunks into an empty table builds the HNSW index once at the end; a
        table found without its index (a bulk load killed mid-way) gets it rebuilt at the end.
        ``last_ingest`` then holds ``chunks``, ``seconds`` and ``index_build_seconds``.
        """
        from fieldkit.nim import chunk_text

        self._check_open()
        if chunk_tokens is None:
            budget = self.chunk_tokens
        elif isinstance(chunk_tokens, bool) or chunk_tokens <= 0:
            raise ValueError("chunk_tokens must be positive")
        else:
            budget = int(chunk_tokens)
        registry = IdRegistry()
        docs: list[int] = []
        pending: list[Pending] = []
        t_start = time.perf_counter()
        load = getattr(self.embedder, "load", None)
        writer = self.bulk_writer()
        if callable(load):  # load the model before the bar appears: it must not sit at 0%
            load()
        try:
            with writer, _progress(progress, documents) as report:
                for raw in documents:
                    doc = coerce_document(raw)
                    if "\x00" in doc.text or "\x00" in doc.label:
                        raise RAGError(
                            f"document {doc.id} contains NUL characters, which Postgres text "
                            "cannot store; remove them before ingesting"
                        )
                    pieces = [c for c in chunk_text(doc.text, max_tokens=budget) if c.strip()]
                    ids = chunk_ids(doc.id, len(pieces))
                    registry.claim(doc.id, ids)
                    docs.append(doc.id)
                    for idx, (cid, text) in enumerate(zip(ids, pieces, strict=True)):
                        pending.append((cid, doc.id, idx, doc.label, text))
                    if len(pending) >= self.write_batch:
                        report(writer.write(docs, pending), len(docs))
                        docs, pending = [], []
                if docs:
                    report(writer.write(docs, pending), len(docs))
        finally:
            self.last_ingest = {
                "chunks": writer.chunks,
                "seconds": time.perf_counter() - t_start,
                "index_build_seconds": writer.index_seconds,
            }
        return writer.chunks

    def bulk_writer(self) -> BulkWriter:
        """The writer ``ingest`` and ``ingest_paths`` store chunks through (a context manager:
        it builds a deferred HNSW index on exit)."""
        self._check_open()
        assert self.embedder is not None
        return BulkWriter(
            self.store,
            self.embedder,
            lambda texts: self._embed(texts, "passage"),
            write_batch=self.write_batch,
            embed_batch=self.embed_batch,
        )

    def ingest_paths(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        glob: Sequence[str] | str = (),
        label: str = "",
        chunk_tokens: int | None = None,
        max_file_bytes: int | None = None,
        progress: bool | Callable[[IngestSummary], None] | None = None,
        follow_symlinks: bool = False,
    ) -> IngestSummary:
        """Ingest files and folders (Markdown, HTML, reST, text, code, PDF) incrementally.

        Unchanged files (same content hash and embedder) are skipped, changed ones replaced,
        files deleted under an ingested folder removed. Chunks follow the document structure
        and fit the embedder's own token limit (``chunk_tokens`` overrides it); each keeps its
        source (path, title, heading path, span), returned as ``Chunk.source``. Files that
        cannot be ingested are listed in ``IngestSummary.warnings``; the rest is ingested and
        nothing stored is lost. A table built with another embedder or dimension is refused.
        ``glob``: patterns such as ``"*.md"`` (default: every supported file type).
        Nothing outside ``paths`` is read: a symlink resolving outside them is skipped with a
        warning unless ``follow_symlinks``; FIFOs, sockets and devices are skipped.
        """
        from fieldkit.rag._ingest_paths import DEFAULT_MAX_FILE_BYTES, ingest_paths

        self._check_open()
        if chunk_tokens is not None and (isinstance(chunk_tokens, bool) or chunk_tokens <= 8):
            raise ValueError("chunk_tokens must be more than 8")
        summary = ingest_paths(
            self,
            paths,
            glob=glob,
            label=label,
            chunk_tokens=chunk_tokens,
            max_file_bytes=max_file_bytes or DEFAULT_MAX_FILE_BYTES,
            progress=progress,
            follow_symlinks=follow_symlinks,
        )
        self._has_sources = None
        return summary

    def _source_tables(self) -> SourceTables | None:
        """The table's file/span side tables, when it was filled from files."""
        if self._has_sources is None or self._sources is None:
            from fieldkit.rag._sources import SourceTables

            self._sources = SourceTables(self.store)
            self._has_sources = self._sources.exists()
        return self._sources if self._has_sources else None

    def _with_sources(self, chunks: list[Chunk]) -> list[Chunk]:
        tables = self._source_tables() if chunks else None
        if tables is None:
            return chunks
        found = tables.sources([c.id for c in chunks])
        return [dataclasses.replace(c, source=found.get(c.id)) for c in chunks]

    # -- retrieval -----------------------------------------------------------------------------

    def retrieve(
        self,
        query: str,
        *,
        top_k: int = 5,
        mode: str = "dense",
        label: str | Sequence[str] | None = None,
    ) -> list[Chunk]:
        """The ``top_k`` best chunks for ``query``, best first.

        ``mode``: ``"dense"`` (cosine distance), ``"lexical"`` (Postgres full text;
        no embedding call, ``distance`` is None) or ``"hybrid"`` (both fused by reciprocal rank
        fusion). ``label`` keeps only chunks with that label (or any of several).
        """
        chunks, _, _ = self._retrieve(query, top_k, mode, label)
        return chunks

    def _retrieve(
        self, query: str, top_k: int, mode: str, label: str | Sequence[str] | None
    ) -> tuple[list[Chunk], float, float]:
        """(chunks, embed ms, database ms)."""
        retriever = retriever_for(mode)
        _utf8_text("the query", query)
        labels = _labels(label)
        if top_k <= 0:
            return [], 0.0, 0.0
        self._check_open()
        assert self._config is not None
        req = Request(
            query,
            top_k,
            labels,
            self.store,
            self._config,
            lambda text: self._embed([text], "query")[0],
        )
        t0 = time.perf_counter()
        chunks = self._with_sources(retriever(req))
        return chunks, req.embed_ms, max(_ms(t0) - req.embed_ms, 0.0)

    def rerank(self, query: str, chunks: Sequence[Chunk], *, top_k: int = 3) -> list[Chunk]:
        """Reorder ``chunks`` with the reranker and keep ``top_k`` (each with ``rerank_score``).

        Without a rerank service (``rerank_url=None``) it is a pass-through of the first
        ``top_k``. The server's rankings are re-sorted by logit and validated.
        """
        if not chunks or top_k <= 0:
            return []
        if self._closed:
            raise RAGError("pipeline closed")
        client = self._rerank_client
        if client is None:
            return list(chunks[:top_k])
        from fieldkit.nim import NIMError

        try:
            rankings = client.rerank(
                query,
                [c.text for c in chunks],
                model=self.rerank_model,
                url=self.rerank_url,
                truncate="END",
            )
        except NIMError as exc:
            raise RAGError(f"rerank request failed: {exc}") from exc
        return _apply_rankings(chunks, rankings, top_k)

    # -- generation ----------------------------------------------------------------------------

    def build_messages(self, query: str, chunks: Sequence[Chunk]) -> list[dict[str, Any]]:
        """The grounded chat messages (system prompt + passages + question)."""
        return _prompt.build_messages(self.system_prompt, query, chunks)

    def fuse(
        self,
        query: str,
        chunks: Sequence[Chunk],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        **gen_kwargs: Any,
    ) -> dict[str, Any]:
        """Call the generator on the grounded messages; return its raw chat-completions dict.

        Generator errors (``NIMError`` family) propagate unwrapped.
        """
        if self.generator is None:
            raise RAGError("no generator configured (generator=None); use retrieve() or ask()")
        messages = self.build_messages(query, chunks)
        result: dict[str, Any] = self.generator.chat(
            messages, max_tokens=max_tokens, temperature=temperature, **gen_kwargs
        )
        return result

    def ask(
        self,
        query: str,
        *,
        retrieve_k: int = 5,
        rerank_k: int = 3,
        max_tokens: int = 256,
        temperature: float = 0.0,
        mode: str = "dense",
        label: str | Sequence[str] | None = None,
        **gen_kwargs: Any,
    ) -> dict[str, Any]:
        """Retrieve, rerank and answer ``query``.

        Returns ``{"answer", "chunks", "raw", "timings_ms"}`` (the published API's three keys +
        timings in ms: embed, retrieve, rerank, generate, end_to_end). With ``generator=None`` the
        answer is None and a ``"note"`` says so; with nothing retrieved the generator is not
        called and the answer is the prompt's refusal sentence.
        """
        t_start = time.perf_counter()
        retrieved, embed_ms, retrieve_ms = self._retrieve(query, retrieve_k, mode, label)
        t0 = time.perf_counter()
        ranked = self.rerank(query, retrieved, top_k=rerank_k) if retrieved else []
        if not ranked and retrieved:
            ranked = list(retrieved[: max(rerank_k, 0)])
        rerank_ms = _ms(t0) if retrieved and self._rerank_client is not None else 0.0
        timings: dict[str, float] = {
            "embed": embed_ms,
            "retrieve": retrieve_ms,
            "rerank": rerank_ms,
            "generate": 0.0,
            "end_to_end": 0.0,
        }
        result: dict[str, Any] = {"answer": None, "chunks": ranked, "raw": None}
        if self.generator is None:
            result["note"] = NO_GENERATOR_NOTE
        elif not ranked:
            result["answer"] = REFUSAL_SENTENCE
            result["note"] = NO_CONTEXT_NOTE
        else:
            t0 = time.perf_counter()
            raw = self.fuse(
                query, ranked, max_tokens=max_tokens, temperature=temperature, **gen_kwargs
            )
            timings["generate"] = _ms(t0)
            result["raw"] = raw
            result["answer"] = _answer_text(raw)
        timings["end_to_end"] = _ms(t_start)
        result["timings_ms"] = timings
        return result


def _answer_text(raw: Any) -> str:
    try:
        content = raw["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return ""
    return content.strip() if isinstance(content, str) else ""


def _apply_rankings(chunks: Sequence[Chunk], rankings: Any, top_k: int) -> list[Chunk]:
    """Chunks reordered by the rankings' logits (descending; stable), validated, top ``top_k``."""
    if isinstance(rankings, dict):
        rankings = rankings.get("rankings", [])
    if not isinstance(rankings, list):
        raise RAGError(
            f"rerank response: expected a list of rankings, got {type(rankings).__name__}"
        )
    scored: list[tuple[float, int]] = []
    seen: set[int] = set()
    for entry in rankings:
        try:
            index = entry["index"]
            logit = float(entry["logit"])
        except (KeyError, TypeError, ValueError) as exc:
            raise RAGError(f"rerank response: malformed ranking {entry!r}") from exc
        if isinstance(index, bool) or not isinstance(index, int):
            raise RAGError(f"rerank response: index {index!r} is not an integer")
        if not 0 <= index < len(chunks):
            raise RAGError(
                f"rerank response: index {index} out of range for {len(chunks)} passages"
            )
        if math.isnan(logit):
            raise RAGError(f"rerank response: logit of passage {index} is NaN")
        if index in seen:
            continue
        seen.add(index)
        scored.append((logit, index))
    scored.sort(key=lambda s: -s[0])
    out: list[Chunk] = []
    for logit, index in scored[:top_k]:
        out.append(dataclasses.replace(chunks[index], rerank_score=logit))
    return out


class _progress:
    """Context manager giving ``report(chunks, docs)``: a bar on a TTY (``fieldkit._progress``),
    or a callback."""

    def __init__(self, progress: bool | ProgressFn | None, documents: Iterable[Any]) -> None:
        self._callback: ProgressFn | None = progress if callable(progress) else None
        enabled = False if callable(progress) else (None if progress is None else bool(progress))
        total = len(documents) if isinstance(documents, Sized) else None
        self._cm = progress_bar("ingesting documents", total, enabled=enabled)
        self._bar: Bar | None = None

    def __enter__(self) -> Callable[[int, int], None]:
        self._bar = self._cm.__enter__()
        return self._report

    def _report(self, chunks: int, docs: int) -> None:
        if self._callback is not None:
            self._callback(chunks)
        if self._bar is not None:
            self._bar.advance(docs)

    def __exit__(self, *exc: Any) -> None:
        self._cm.__exit__(*exc)
