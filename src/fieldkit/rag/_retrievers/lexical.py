"""``lexical``: BM25 over the Postgres postings (or ``ts_rank_cd`` with ``lexical="postgres"``)."""

from __future__ import annotations

from fieldkit.rag._retrievers._base import Request, register
from fieldkit.rag._types import Chunk


@register("lexical")
def lexical(req: Request) -> list[Chunk]:
    """The ``k`` best chunks by the configured lexical scoring; no embedding call. When the
    query was embedded already (hybrid), the hits carry their cosine distance."""
    text = req.query.replace("\x00", " ")
    qvec = req.vector() if req.has_vector else None
    return req.store.lexical(text, req.k, req.labels, qvec=qvec, scoring=req.config.lexical)
