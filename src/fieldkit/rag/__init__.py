"""fieldkit.rag — a pgvector RAG pipeline: ingest → retrieve (dense/lexical/hybrid) → rerank → fuse.

Compatible with the published API (``Pipeline``, ``Document``, ``Chunk``, ``RAGError`` and the
constants), built on a pooled psycopg 3 store with COPY ingest and an HNSW index. With no
arguments a pipeline runs offline: embedded Postgres (extra ``embedded``) and the local MiniLM
embedder (extra ``local``). See docs/api/rag.md.
"""

from __future__ import annotations

import psycopg  # noqa: F401  (``fieldkit.rag.psycopg`` is importable, as in the published API)

from fieldkit.rag._embedders import (
    LOCAL_EMBED_DIM,
    LOCAL_EMBED_MODEL,
    Embedder,
    LocalEmbedder,
    NIMEmbedder,
)
from fieldkit.rag._fusion import document_fusion, reciprocal_rank_fusion
from fieldkit.rag._ingest_paths import IngestInterrupted, IngestSummary, slow_rate_advice
from fieldkit.rag._pipeline import Pipeline
from fieldkit.rag._prompt import DEFAULT_SYSTEM_PROMPT, REFUSAL_SENTENCE
from fieldkit.rag._server import RagServer
from fieldkit.rag._sql import parse_table_name
from fieldkit.rag._tables import TableInfo, drop_table, list_tables, table_stats
from fieldkit.rag._types import (
    CHUNKS_PER_DOC_MAX,
    DEFAULT_CHUNK_TOKENS,
    DEFAULT_EMBED_BATCH,
    DEFAULT_EMBED_DIM,
    DEFAULT_EMBED_MODEL,
    DEFAULT_RERANK_MODEL,
    DEFAULT_RERANK_URL,
    RETRIEVAL_MODES,
    Chunk,
    Document,
    RAGError,
    RetrievalMode,
    Source,
)

__all__ = [
    "CHUNKS_PER_DOC_MAX",
    "DEFAULT_CHUNK_TOKENS",
    "DEFAULT_EMBED_BATCH",
    "DEFAULT_EMBED_DIM",
    "DEFAULT_EMBED_MODEL",
    "DEFAULT_RERANK_MODEL",
    "DEFAULT_RERANK_URL",
    "DEFAULT_SYSTEM_PROMPT",
    "LOCAL_EMBED_DIM",
    "LOCAL_EMBED_MODEL",
    "REFUSAL_SENTENCE",
    "RETRIEVAL_MODES",
    "Chunk",
    "Document",
    "Embedder",
    "IngestInterrupted",
    "IngestSummary",
    "LocalEmbedder",
    "NIMEmbedder",
    "Pipeline",
    "RAGError",
    "RagServer",
    "RetrievalMode",
    "Source",
    "TableInfo",
    "document_fusion",
    "drop_table",
    "list_tables",
    "parse_table_name",
    "reciprocal_rank_fusion",
    "slow_rate_advice",
    "table_stats",
]
