"""``PipelineConfig``: the frozen, validated settings of a ``Pipeline``.

A value is checked once, when a configuration is made (``PipelineConfig(...)`` or
``with_value``), so no call re-validates it and no invalid setting can reach a query.
``FIXED`` names the settings a pipeline binds into its store, embedder or HTTP clients at
construction; changing one afterwards is refused rather than silently ignored.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from fieldkit.rag._fusion import _check_weights
from fieldkit.rag._prompt import DEFAULT_SYSTEM_PROMPT
from fieldkit.rag._sql import STORAGE_TYPES, TableName, parse_table_name
from fieldkit.rag._types import (
    DEFAULT_CHUNK_TOKENS,
    DEFAULT_EMBED_BATCH,
    DEFAULT_EMBED_DIM,
    DEFAULT_EMBED_MODEL,
    DEFAULT_RERANK_MODEL,
)

__all__ = ["FIELDS", "FIXED", "FUSIONS", "LEXICAL_BACKENDS", "RETARGET", "PipelineConfig"]

LEXICAL_BACKENDS = ("bm25", "postgres")
FUSIONS = ("document", "chunk")

# Bound into the store, the embedder or the HTTP clients when the pipeline is built.
FIXED = frozenset(
    {
        "embed_url",
        "rerank_url",
        "rerank_api_key",
        "embed_model",
        "embed_dim",
        "embed_api_key",
        "max_connections",
        "vector_storage",
        "timeout",
        "max_retries",
    }
)

_POSITIVE = ("embed_batch", "embed_dim", "chunk_tokens", "write_batch", "ef_search")


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be positive")


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """Every setting of a pipeline except its collaborators (embedder, generator)."""

    embed_url: str | None = None
    pgvector_dsn: str | None = None
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
    write_batch: int = 512
    ef_search: int = 100
    max_connections: int = 4
    vector_storage: str = "vector"
    lexical: str = "bm25"
    fusion: str = "document"
    fusion_weights: tuple[float, float] = (1.0, 0.7)
    fusion_k: int = 5

    def __post_init__(self) -> None:
        for name in _POSITIVE:
            _positive_int(name, getattr(self, name))
        _positive_int("max_connections", self.max_connections)
        if self.vector_storage not in STORAGE_TYPES:
            raise ValueError(
                f"vector_storage must be one of {', '.join(STORAGE_TYPES)}; "
                f"got {self.vector_storage!r}"
            )
        if self.lexical not in LEXICAL_BACKENDS:
            raise ValueError(
                f"lexical must be one of {', '.join(LEXICAL_BACKENDS)}; got {self.lexical!r}"
            )
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}; got {self.fusion!r}")
        weights = tuple(_check_weights(self.fusion_weights, 2))
        object.__setattr__(self, "fusion_weights", weights)
        if (
            isinstance(self.fusion_k, bool)
            or not isinstance(self.fusion_k, int)
            or self.fusion_k < 0
        ):
            raise ValueError("fusion_k must be an integer >= 0")
        if not isinstance(self.system_prompt, str):
            raise ValueError("system_prompt must be a string")
        parse_table_name(self.table)  # RAGError naming the problem
        if self.embed_url is not None:
            object.__setattr__(self, "embed_url", self.embed_url.rstrip("/"))

    @property
    def table_name(self) -> TableName:
        """The validated table name."""
        return parse_table_name(self.table)

    def with_value(self, name: str, value: Any) -> PipelineConfig:
        """A copy with one setting changed, validated like a new configuration."""
        return dataclasses.replace(self, **{name: value})


FIELDS = frozenset(f.name for f in dataclasses.fields(PipelineConfig))

# Where the chunks live: assigning one moves the pipeline to that table or database (its next
# call opens a new store), so code that retargets a pipeline by assignment keeps working.
RETARGET = frozenset({"table", "pgvector_dsn"})
