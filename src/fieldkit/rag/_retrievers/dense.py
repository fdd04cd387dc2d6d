"""``dense``: nearest chunks by cosine distance (HNSW)."""

from __future__ import annotations

from fieldkit.rag._retrievers._base import Request, register
from fieldkit.rag._types import Chunk


@register("dense")
def dense(req: Request) -> list[Chunk]:
    """The ``k`` nearest chunks to the query embedding, nearest first."""
    return req.store.dense(req.vector(), req.k, req.labels, ef_search=req.config.ef_search)
