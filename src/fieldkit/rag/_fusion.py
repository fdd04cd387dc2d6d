"""Reciprocal rank fusion of several rankings (pure).

RRF (Cormack et al., 2009) scores an item ``sum(1 / (k + rank))`` over the rankings it appears
in (rank is 1-based). It needs no score calibration between a cosine distance and a text rank,
which is why hybrid retrieval uses it.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

__all__ = ["RRF_K", "document_fusion", "reciprocal_rank_fusion"]

RRF_K = 60

K = TypeVar("K", bound=Hashable)
D = TypeVar("D", bound=Hashable)


def _check_weights(weights: Sequence[float] | None, n: int) -> list[float]:
    if weights is None:
        return [1.0] * n
    out = [float(w) for w in weights]
    if len(out) != n:
        raise ValueError(f"weights: expected {n} (one per ranking), got {len(out)}")
    if not all(w >= 0.0 and w == w and w != float("inf") for w in out):
        raise ValueError("weights must be finite and >= 0")
    return out


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[K]],
    *,
    k: int = RRF_K,
    limit: int | None = None,
    weights: Sequence[float] | None = None,
) -> list[tuple[K, float]]:
    """Fuse rankings (best first) into ``[(key, score)]``, best first.

    Ties are broken by the earliest position an item reaches in any ranking, then by the order
    of the rankings, so the result is deterministic. A key repeated within one ranking counts
    at its best position only. ``k`` must be >= 0; ``limit`` truncates the result; ``weights``
    (one finite value >= 0 per ranking, default all 1) scales each ranking's contribution.
    """
    if k < 0:
        raise ValueError("k must be >= 0")
    wts = _check_weights(weights, len(rankings))
    scores: dict[K, float] = {}
    first_seen: dict[K, tuple[int, int]] = {}
    for r_idx, ranking in enumerate(rankings):
        seen: set[K] = set()
        for pos, key in enumerate(ranking):
            if key in seen:
                continue
            seen.add(key)
            scores[key] = scores.get(key, 0.0) + wts[r_idx] / (k + pos + 1)
            best = first_seen.get(key)
            if best is None or (pos, r_idx) < best:
                first_seen[key] = (pos, r_idx)
    ordered = sorted(scores, key=lambda key: (-scores[key], first_seen[key]))
    if limit is not None:
        ordered = ordered[: max(limit, 0)]
    return [(key, scores[key]) for key in ordered]


def document_fusion(
    rankings: Sequence[Sequence[K]],
    doc_of: Mapping[K, D],
    *,
    k: int = RRF_K,
    limit: int | None = None,
    weights: Sequence[float] | None = None,
) -> list[K]:
    """Fuse chunk rankings at document level: chunk keys, best first.

    Each ranking is reduced to its documents (a document ranks where its best chunk does) and
    the document rankings are fused by RRF, so a document both legs put first through different
    chunks beats another document's single chunk. The result lists each document's best chunk
    (by chunk-level RRF) in fused document order, then the remaining chunks by chunk-level RRF.
    ``weights`` as in :func:`reciprocal_rank_fusion`, at both levels.
    """
    doc_rankings = [[doc_of[key] for key in ranking] for ranking in rankings]
    doc_order = [doc for doc, _ in reciprocal_rank_fusion(doc_rankings, k=k, weights=weights)]
    chunk_order = [key for key, _ in reciprocal_rank_fusion(rankings, k=k, weights=weights)]
    best: dict[D, K] = {}
    for key in chunk_order:
        best.setdefault(doc_of[key], key)
    head = [best[doc] for doc in doc_order]
    taken = set(head)
    out = head + [key for key in chunk_order if key not in taken]
    if limit is not None:
        out = out[: max(limit, 0)]
    return out
