"""``hybrid``: the dense and lexical rankings fused by reciprocal rank fusion."""

from __future__ import annotations

from fieldkit.rag._fusion import document_fusion, reciprocal_rank_fusion
from fieldkit.rag._retrievers._base import Request, register
from fieldkit.rag._retrievers.dense import dense
from fieldkit.rag._retrievers.lexical import lexical
from fieldkit.rag._types import Chunk


@register("hybrid")
def hybrid(req: Request) -> list[Chunk]:
    """Both legs over a pool of ``max(4k, 40)`` (at most 1000), fused at document level
    (``fusion="document"``) or chunk level, with the configured weights and k."""
    cfg = req.config
    pool = req.sub(min(max(req.k * 4, 40), 1000))
    pool.vector()
    dense_hits = dense(pool)
    lexical_hits = lexical(pool)
    req.embed_ms += pool.embed_ms
    by_id = {c.id: c for c in lexical_hits}
    by_id.update({c.id: c for c in dense_hits})
    # lexical first: it wins exact ties (a document first in one leg and second in the
    # other), as it ranked known items better in benchmarks/bench_rag_docs.py
    rankings = [[c.id for c in lexical_hits], [c.id for c in dense_hits]]
    if cfg.fusion == "document":
        doc_of = {c.id: (c.doc_id if c.doc_id is not None else -c.id) for c in by_id.values()}
        order = document_fusion(
            rankings, doc_of, k=cfg.fusion_k, limit=req.k, weights=cfg.fusion_weights
        )
    else:
        fused = reciprocal_rank_fusion(
            rankings, k=cfg.fusion_k, limit=req.k, weights=cfg.fusion_weights
        )
        order = [cid for cid, _ in fused]
    return [by_id[cid] for cid in order]
