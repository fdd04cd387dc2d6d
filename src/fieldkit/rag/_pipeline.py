"""``Pipeline``: ingest → retrieve (dense / lexical / hybrid) → rerank → fuse, over pgvector.

The compatible fields and methods, plus embedded defaults (no DSN → embedded
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
from fieldkit.rag._embedders import Embedder, LocalEmbedder, NIMEmbedder
from fieldkit.rag._fusion import document_fusion, reciprocal_rank_fusion
from fieldkit.rag._ids import IdRegistry, chunk_ids
from fieldkit.rag._prompt import DEFAULT_SYSTEM_PROMPT, REFUSAL_SENTENCE
from fieldkit.rag._sql import STORAGE_TYPES, TableName, parse_table_name
from fieldkit.rag._store import Row, Store, mask_dsn
from fieldkit.rag._types import (
    DEFAULT_CHUNK_TOKENS,
    DEFAULT_EMBED_BATCH,
    DEFAULT_EMBED_DIM,
    DEFAULT_EMBED_MODEL,
    DEFAULT_RERANK_MODEL,
    RETRIEVAL_MODES,
    Chunk,
    Document,
    RAGError,
    coerce_document,
)

if TYPE_CHECKING:
    from fieldkit.nim import NIMClient
    from fieldkit.rag._ingest_paths import IngestSummary
    from fieldkit.rag._lexical import Bm25Index
    from fieldkit.rag._sources import SourceTables

LEXICAL_BACKENDS = ("bm25", "postgres")
FUSIONS = ("document", "chunk")

__all__ = ["NO_GENERATOR_NOTE", "Pipeline"]

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


_POSITIVE_SIZES = frozenset(
    {"embed_batch", "embed_dim", "chunk_tokens", "write_batch", "ef_search"}
)


def _check_mode(mode: str) -> str:
    if mode not in RETRIEVAL_MODES:
        raise ValueError(f"mode must be one of {', '.join(RETRIEVAL_MODES)}; got {mode!r}")
    return mode


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
    _bm25: Bm25Index | None = field(default=None, init=False, repr=False, compare=False)
    _sources: SourceTables | None = field(default=None, init=False, repr=False, compare=False)
    _has_sources: bool | None = field(default=None, init=False, repr=False, compare=False)

    def __setattr__(self, name: str, value: Any) -> None:
        # The sizes are checked on every assignment (construction included), so a call never
        # has to re-validate them.
        if name in _POSITIVE_SIZES and (
            isinstance(value, bool) or not isinstance(value, int) or value <= 0
        ):
            raise ValueError(f"{name} must be positive")
        super().__setattr__(name, value)

    def __post_init__(self) -> None:
        if self.max_connections <= 0:
            raise ValueError("max_connections must be positive")
        if self.vector_storage not in STORAGE_TYPES:
            raise ValueError(
                f"vector_storage must be one of {', '.join(STORAGE_TYPES)}; "
                f"got {self.vector_storage!r}"
            )
        if self.lexical not in LEXICAL_BACKENDS:
            raise ValueError(f"lexical must be one of {', '.join(LEXICAL_BACKENDS)}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}")
        from fieldkit.rag._fusion import _check_weights

        self.fusion_weights = tuple(_check_weights(self.fusion_weights, 2))  # type: ignore[assignment]
        if (
            isinstance(self.fusion_k, bool)
            or not isinstance(self.fusion_k, int)
            or self.fusion_k < 0
        ):
            raise ValueError("fusion_k must be an integer >= 0")
        self._table = parse_table_name(self.table)
        if self.embed_url is not None:
            self.embed_url = self.embed_url.rstrip("/")
        self.embedder = self._make_embedder()
        self._rerank_client = self._make_rerank_client()

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
        """Create the table (compatible columns plus ``doc_id``, ``chunk_index``, ``tsv``) with HNSW
        (cosine), GIN (full text) and b-tree indexes; idempotent. An existing table of another
        vector dimension is refused with RAGError."""
        self.store.ensure_schema()

    def drop_table(self) -> None:
        """Drop this pipeline's table (and its indexes) if it exists, with the file records of
        ``ingest_paths``."""
        from fieldkit.rag._sources import SourceTables

        self.store.drop()
        SourceTables(self.store).drop()
        self._has_sources = None
        self._bm25 = None

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
        pending: list[tuple[int, int, int, str, str]] = []
        written = 0
        flushes = 0
        deferred = False
        t_start = time.perf_counter()
        store = self.store
        if store.has_ann_index() is False:  # None: no table yet (the first write says so)
            # A bulk load killed before its index build leaves the table without one: build
            # it at the end of this ingest (dense search is a full scan until then).
            log.warning(
                "table %s has no HNSW index (an interrupted bulk load?); this ingest rebuilds it",
                self._table.qualified,
            )
            deferred = True
        load = getattr(self.embedder, "load", None)
        if callable(load):  # load the model before the bar appears: it must not sit at 0%
            load()
        failed = True
        try:
            with _progress(progress, documents) as report:
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
                        if flushes == 0 and not deferred and store.is_empty():
                            # A bulk load (at least one full batch) into an empty table:
                            # build the HNSW index once at the end, not row by row.
                            store.drop_ann_index()
                            deferred = True
                        n = self._flush(docs, pending)
                        flushes += 1
                        written += n
                        report(n, len(docs))
                        docs, pending = [], []
                if docs:
                    n = self._flush(docs, pending)
                    written += n
                    report(n, len(docs))
            failed = False
        finally:
            index_s = 0.0
            if deferred:
                t_index = time.perf_counter()
                try:
                    store.build_ann_index()
                except RAGError as exc:
                    if not failed:
                        raise
                    # The ingest's own error is the one to report; the index waits for the
                    # next ingest or ensure_schema(), and retrieval warns until then.
                    log.warning(
                        "could not build the HNSW index of %s after the failed ingest: %s",
                        self._table.qualified,
                        exc,
                    )
                index_s = time.perf_counter() - t_index
            self.last_ingest = {
                "chunks": written,
                "seconds": time.perf_counter() - t_start,
                "index_build_seconds": index_s,
            }
        return written

    def ingest_paths(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        glob: Sequence[str] | str = (),
        label: str = "",
        chunk_tokens: int | None = None,
        max_file_bytes: int | None = None,
        progress: bool | Callable[[IngestSummary], None] | None = None,
    ) -> IngestSummary:
        """Ingest files and folders (Markdown, HTML, reST, text, code, PDF) incrementally.

        Unchanged files (same content hash and embedder) are skipped, changed ones replaced,
        files deleted under an ingested folder removed. Chunks follow the document structure
        and fit the embedder's own token limit (``chunk_tokens`` overrides it); each keeps its
        source (path, title, heading path, span), returned as ``Chunk.source``. Files that
        cannot be ingested are listed in ``IngestSummary.warnings``; the rest is ingested and
        nothing stored is lost. A table built with another embedder or dimension is refused.
        ``glob``: patterns such as ``"*.md"`` (default: every supported file type).
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
        )
        self._has_sources = None
        return summary

    def _invalidate_lexical(self) -> None:
        self._bm25 = None

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

    def _flush(self, docs: list[int], pending: list[tuple[int, int, int, str, str]]) -> int:
        rows: list[Row] = []
        # A local embedder gets the whole batch at once: it sorts texts by length, so each of
        # its mini-batches pads only to its own longest text. NIM requests keep embed_batch.
        step = len(pending) if isinstance(self.embedder, LocalEmbedder) else self.embed_batch
        for start in range(0, len(pending), max(step, 1)):
            part = pending[start : start + max(step, 1)]
            vectors = self._embed([p[4] for p in part], "passage")
            for (cid, doc_id, idx, label, text), vec in zip(part, vectors, strict=True):
                rows.append((cid, doc_id, idx, label, text, vec))
        self.store.write_batch(docs, rows)
        return len(rows)

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
        _check_mode(mode)
        labels = _labels(label)
        if top_k <= 0:
            return [], 0.0, 0.0
        self._check_open()
        embed_ms = 0.0
        qvec = None
        if mode != "lexical":
            t0 = time.perf_counter()
            qvec = self._embed([query], "query")[0]
            embed_ms = _ms(t0)
        t0 = time.perf_counter()
        store = self.store
        if mode == "dense":
            assert qvec is not None
            chunks = store.dense(qvec, top_k, labels, ef_search=self.ef_search)
        elif mode == "lexical":
            chunks = self._lexical(query.replace("\x00", " "), top_k, labels, None)
        else:
            assert qvec is not None
            pool = min(max(top_k * 4, 40), 1000)
            dense = store.dense(qvec, pool, labels, ef_search=self.ef_search)
            lexical = self._lexical(query.replace("\x00", " "), pool, labels, qvec)
            by_id = {c.id: c for c in lexical}
            by_id.update({c.id: c for c in dense})
            # lexical first: it wins exact ties (a document first in one leg and second in
            # the other), as it ranked known items better in benchmarks/bench_rag_docs.py
            rankings = [[c.id for c in lexical], [c.id for c in dense]]
            if self.fusion == "document":
                doc_of = {
                    c.id: (c.doc_id if c.doc_id is not None else -c.id) for c in by_id.values()
                }
                order = document_fusion(
                    rankings, doc_of, k=self.fusion_k, limit=top_k, weights=self.fusion_weights
                )
            else:
                fused = reciprocal_rank_fusion(
                    rankings, k=self.fusion_k, limit=top_k, weights=self.fusion_weights
                )
                order = [cid for cid, _ in fused]
            chunks = [by_id[cid] for cid in order]
        chunks = self._with_sources(chunks)
        return chunks, embed_ms, _ms(t0)

    def _lexical(self, query: str, k: int, labels: list[str] | None, qvec: Any) -> list[Chunk]:
        if self.lexical == "bm25":
            return self.store.bm25(query, k, labels, qvec=qvec)
        return self.store.lexical(query, k, labels, qvec=qvec)

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

        Returns ``{"answer", "chunks", "raw", "timings_ms"}`` (the three compatible keys + timings
        in ms: embed, retrieve, rerank, generate, end_to_end). With ``generator=None`` the
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
