"""BM25 (Lucene variant, k1=1.5, b=0.75) over the lexemes Postgres computes (``tsv`` column).

Postgres's ``ts_rank``/``ts_rank_cd`` have no inverse document frequency, so a query word that
appears in every chunk weighs as much as a rare one. Retrieval scores BM25 in SQL over postings
kept in Postgres (``fieldkit.rag._lexsql``); ``Bm25Index`` is the same formula in numpy over
rows held in memory, the reference that SQL is tested against and a scorer for ad-hoc units.

Postgres's parser splits identifiers at underscores (``pg_stat_activity`` → pg, stat, activ),
so each ``a_b`` identifier is also indexed whole (``identifier_terms``): a query naming it
matches the chunks that contain it, not every chunk that mentions ``pg``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "BM25_B",
    "BM25_K1",
    "IDENTIFIER_MAX",
    "Bm25Index",
    "identifier_terms",
    "with_identifiers",
]

BM25_K1 = 1.5
BM25_B = 0.75

# Starts only where a run of [a-z0-9] starts and never backtracks into a run: linear in the
# text (the plain ``[a-z0-9]+(?:_[a-z0-9]+)+`` restarts inside every long run: quadratic).
_IDENTIFIER = re.compile(r"(?<![a-z0-9])[a-z0-9]++(?:_[a-z0-9]++)+")

# Longer identifiers are not indexed whole, as Postgres skips words over 2047 bytes: a longer
# term would not fit a btree entry of the postings table (about 2.7 kB) and fail the write.
IDENTIFIER_MAX = 2047


def identifier_terms(text: str) -> Counter[str]:
    """Underscore-joined identifiers of ``text`` up to ``IDENTIFIER_MAX`` characters,
    lower-cased, with their counts (linear)."""
    return Counter(t for t in _IDENTIFIER.findall(text.lower()) if len(t) <= IDENTIFIER_MAX)


def with_identifiers(
    row: Sequence[Any],
) -> tuple[int, int | None, str | None, list[str], list[int]]:
    """``(id, doc_id, label, lexemes, tfs, text)`` → the BM25 row with identifier terms added."""
    rid, doc_id, label, lexemes, tfs, text = row
    terms = [str(t) for t in lexemes]
    counts = [int(n) for n in tfs]
    for term, n in identifier_terms(str(text or "")).items():
        terms.append(term)
        counts.append(n)
    return int(rid), doc_id, label, terms, counts


@dataclass
class Bm25Index:
    """Postings per lexeme: chunk positions and BM25 weights (idf x saturated tf)."""

    ids: NDArray[np.int64]
    doc_ids: NDArray[np.int64]
    labels: list[str]
    postings: dict[str, tuple[NDArray[np.int64], NDArray[np.float32]]]
    version: tuple[int, int]

    @classmethod
    def build(
        cls,
        rows: Sequence[tuple[int, int | None, str | None, Sequence[str], Sequence[int]]],
        version: tuple[int, int] = (0, 0),
        *,
        k1: float = BM25_K1,
        b: float = BM25_B,
    ) -> Bm25Index:
        """From ``(id, doc_id, label, lexemes, term_frequencies)`` rows."""
        n = len(rows)
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
        doc_ids = np.fromiter(
            (r[0] if r[1] is None else r[1] for r in rows), dtype=np.int64, count=n
        )
        labels = [r[2] or "" for r in rows]
        lengths = np.fromiter((len(r[3]) for r in rows), dtype=np.int64, count=n)
        postings: dict[str, tuple[NDArray[np.int64], NDArray[np.float32]]] = {}
        if n == 0 or int(lengths.sum()) == 0:
            return cls(ids, doc_ids, labels, postings, version)
        terms = np.array([t for r in rows for t in r[3]], dtype=object)
        tfs = np.array([f for r in rows for f in r[4]], dtype=np.float32)
        rows_of = np.repeat(np.arange(n, dtype=np.int64), lengths)
        dl = np.bincount(rows_of, weights=tfs, minlength=n).astype(np.float32)
        avgdl = float(dl.mean()) or 1.0
        vocab, inverse = np.unique(terms, return_inverse=True)
        df = np.bincount(inverse, minlength=len(vocab)).astype(np.float64)
        idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
        norm = k1 * (1.0 - b + b * dl[rows_of] / avgdl)
        weights = idf[inverse] * tfs * (k1 + 1.0) / (tfs + norm)
        order = np.argsort(inverse, kind="stable")
        inv_sorted = inverse[order]
        bounds = np.searchsorted(inv_sorted, np.arange(len(vocab) + 1))
        rows_sorted = rows_of[order]
        w_sorted = weights[order].astype(np.float32)
        for t_idx, term in enumerate(vocab):
            lo, hi = bounds[t_idx], bounds[t_idx + 1]
            postings[str(term)] = (rows_sorted[lo:hi], w_sorted[lo:hi])
        return cls(ids, doc_ids, labels, postings, version)

    def __len__(self) -> int:
        return len(self.ids)

    def search(
        self, lexemes: Sequence[str], k: int, labels: Sequence[str] | None = None
    ) -> list[tuple[int, float]]:
        """``[(chunk id, score)]`` of the ``k`` best chunks with a positive score, best first
        (ties by id). ``labels`` keeps only chunks with one of those labels."""
        if k <= 0 or len(self.ids) == 0:
            return []
        scores = np.zeros(len(self.ids), dtype=np.float32)
        for term in set(lexemes):
            hit = self.postings.get(term)
            if hit is not None:
                scores[hit[0]] += hit[1]
        if labels is not None:
            keep = set(labels)
            mask = np.fromiter((lab in keep for lab in self.labels), dtype=bool, count=len(self))
            scores[~mask] = 0.0
        candidates = np.flatnonzero(scores > 0)
        if len(candidates) == 0:
            return []
        if len(candidates) > k:  # every chunk tied with the k-th stays, so ties cut by id
            kth = np.partition(scores[candidates], len(candidates) - k)[len(candidates) - k]
            candidates = candidates[scores[candidates] >= kth]
        order = sorted(candidates.tolist(), key=lambda i: (-float(scores[i]), int(self.ids[i])))
        return [(int(self.ids[i]), float(scores[i])) for i in order[:k]]
