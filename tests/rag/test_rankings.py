"""Validation of reranker output (pure): re-sorted by logit, indexes checked."""

from __future__ import annotations

import pytest

from fieldkit.rag import Chunk, RAGError
from fieldkit.rag._pipeline import _apply_rankings

CHUNKS = [Chunk(11, "a", distance=0.5), Chunk(22, "b", distance=0.4), Chunk(33, "c", distance=0.6)]


def test_pinned_example() -> None:
    rankings = [{"index": 2, "logit": 5.0}, {"index": 0, "logit": 1.5}, {"index": 1, "logit": -2.0}]
    out = _apply_rankings(CHUNKS, {"rankings": rankings}, 2)
    assert [c.id for c in out] == [33, 11]
    assert out[0].rerank_score == 5.0
    assert out[0].distance == 0.6


def test_unsorted_rankings_are_sorted() -> None:
    rankings = [{"index": 1, "logit": -2.0}, {"index": 2, "logit": 5.0}, {"index": 0, "logit": 1.5}]
    assert [c.id for c in _apply_rankings(CHUNKS, rankings, 3)] == [33, 11, 22]


@pytest.mark.parametrize("index", [-1, 3, 1.0, "0", True])
def test_bad_index_is_refused(index: object) -> None:
    with pytest.raises(RAGError, match="index"):
        _apply_rankings(CHUNKS, [{"index": index, "logit": 1.0}], 1)


@pytest.mark.parametrize(
    "entry", [{"index": 0}, {"logit": 1.0}, {"index": 0, "logit": "high"}, "x"]
)
def test_malformed_entries_are_refused(entry: object) -> None:
    with pytest.raises(RAGError, match="malformed"):
        _apply_rankings(CHUNKS, [entry], 1)


def test_nan_logit_is_refused() -> None:
    with pytest.raises(RAGError, match="NaN"):
        _apply_rankings(CHUNKS, [{"index": 0, "logit": float("nan")}], 1)


def test_missing_rankings_is_empty_and_not_a_list_is_refused() -> None:
    assert _apply_rankings(CHUNKS, {}, 2) == []
    with pytest.raises(RAGError, match="expected a list"):
        _apply_rankings(CHUNKS, {"rankings": "nope"}, 2)


def test_duplicate_index_counts_once() -> None:
    out = _apply_rankings(CHUNKS, [{"index": 0, "logit": 3.0}, {"index": 0, "logit": 2.0}], 3)
    assert [c.id for c in out] == [11]
