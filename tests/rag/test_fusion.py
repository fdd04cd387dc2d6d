"""Reciprocal rank fusion (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldkit.rag import reciprocal_rank_fusion


def test_known_values() -> None:
    out = reciprocal_rank_fusion([[1, 2, 3], [3, 1]], k=60)
    assert [key for key, _ in out] == [1, 3, 2]
    scores = dict(out)
    assert scores[1] == pytest.approx(1 / 61 + 1 / 62)
    assert scores[3] == pytest.approx(1 / 63 + 1 / 61)
    assert scores[2] == pytest.approx(1 / 62)


def test_items_in_both_lists_beat_single_list_items() -> None:
    out = reciprocal_rank_fusion([["a", "b", "c"], ["x", "y", "c"]], limit=2)
    assert out[0][0] == "c"
    assert len(out) == 2


def test_ties_break_by_best_position_then_list_order() -> None:
    out = reciprocal_rank_fusion([["a"], ["b"]])
    assert [key for key, _ in out] == ["a", "b"]


def test_bad_k() -> None:
    with pytest.raises(ValueError, match="k must be"):
        reciprocal_rank_fusion([[1]], k=-1)


def test_empty() -> None:
    assert reciprocal_rank_fusion([]) == []
    assert reciprocal_rank_fusion([[], []]) == []


@settings(max_examples=200, deadline=None)
@given(
    rankings=st.lists(st.lists(st.integers(0, 20), max_size=15), max_size=4),
    k=st.integers(0, 100),
)
def test_scores_are_sums_of_reciprocal_ranks(rankings: list[list[int]], k: int) -> None:
    out = reciprocal_rank_fusion(rankings, k=k)
    expected: dict[int, float] = {}
    for ranking in rankings:
        seen: set[int] = set()
        for pos, key in enumerate(ranking):
            if key not in seen:
                seen.add(key)
                expected[key] = expected.get(key, 0.0) + 1 / (k + pos + 1)
    assert {key for key, _ in out} == set(expected)
    for key, score in out:
        assert score == pytest.approx(expected[key])
    values = [s for _, s in out]
    assert values == sorted(values, reverse=True)
    assert out == reciprocal_rank_fusion(rankings, k=k)


def test_weights_scale_each_ranking() -> None:
    out = reciprocal_rank_fusion([["a", "b"], ["b", "a"]], k=5, weights=[1.0, 0.7])
    assert [key for key, _ in out] == ["a", "b"]
    assert dict(out)["a"] == pytest.approx(1 / 6 + 0.7 / 7)
    assert dict(out)["b"] == pytest.approx(1 / 7 + 0.7 / 6)
    only_second = reciprocal_rank_fusion([["a", "b"], ["b", "a"]], weights=[0.0, 1.0])
    assert only_second[0][0] == "b"


@pytest.mark.parametrize("weights", [[1.0], [1.0, -0.1], [1.0, float("nan")], [float("inf"), 1]])
def test_bad_weights_are_refused(weights: list[float]) -> None:
    with pytest.raises(ValueError, match="weights"):
        reciprocal_rank_fusion([["a"], ["b"]], weights=weights)


def test_pipeline_validates_fusion_settings() -> None:
    from fieldkit.rag import Pipeline

    assert Pipeline(pgvector_dsn="postgresql://x@127.0.0.1:1/db").fusion_weights == (1.0, 0.7)
    with pytest.raises(ValueError, match="weights"):
        Pipeline(pgvector_dsn="postgresql://x@127.0.0.1:1/db", fusion_weights=(1.0, -1.0))
    with pytest.raises(ValueError, match="expected 2"):
        Pipeline(pgvector_dsn="postgresql://x@127.0.0.1:1/db", fusion_weights=(1.0,))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fusion_k"):
        Pipeline(pgvector_dsn="postgresql://x@127.0.0.1:1/db", fusion_k=-1)
