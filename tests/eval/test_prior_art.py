"""prior_art_relevance(_full): pinned rankings, Likert branch, list parsing and rank helpers."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fieldkit.eval import (
    PriorArtRelevanceResult,
    prior_art_relevance,
    prior_art_relevance_full,
)
from fieldkit.eval._prior_art import _average_ranks, _parse


def test_id_rankings() -> None:
    assert prior_art_relevance(["a", "b", "c"], ["a", "b", "c"]) == 1.0
    assert prior_art_relevance(["c", "b", "a"], ["a", "b", "c"]) == -1.0
    assert prior_art_relevance(["a"], ["a"]) == 0.0
    assert prior_art_relevance(["a", "x", "c"], ["a", "b", "c"]) == pytest.approx(0.5)
    assert prior_art_relevance(["x", "y"], ["a", "b", "c"]) == 0.0
    assert prior_art_relevance(["a", "b"], ["a", "b", "c"]) == 1.0
    assert math.isclose(prior_art_relevance(["b", "a", "c", "d"], ["a", "b", "c", "d"]), 0.8)
    assert prior_art_relevance(["a", "a", "b", "c"], ["a", "b", "c"]) == 1.0
    assert isinstance(prior_art_relevance(["a", "b"], ["a", "b"]), float)


@pytest.mark.parametrize(
    ("p", "e"),
    [
        ("1. doc-a\n2. doc-b\n3. doc-c", "doc-a, doc-b, doc-c"),
        ('["a","b","c"]', "a, b, c"),
        ("a , b , c", "a, b, c"),
        ("- doc-a\n- doc-b\n- doc-c", "doc-a, doc-b, doc-c"),
        ("1) alpha\n2) beta\n3) gamma", "alpha, beta, gamma"),
    ],
)
def test_text_forms(p: str, e: str) -> None:
    assert prior_art_relevance(p, e) == 1.0


def test_empty() -> None:
    assert prior_art_relevance("", "") == 0.0
    assert prior_art_relevance("a, b", "") == 0.0
    assert prior_art_relevance("", "a, b") == 0.0


def test_full_likert_and_ids() -> None:
    r = prior_art_relevance_full("5, 4, 3, 2, 1", "5, 4, 3, 2, 1")
    assert (r.spearman_rho, r.mse_likert, r.n) == (1.0, 0.0, 5)
    r = prior_art_relevance_full(["4", "3", "2", "1"], ["5", "4", "3", "2"])
    assert r.mse_likert == 1.0 and r.spearman_rho == 1.0
    assert prior_art_relevance_full(["5", "4", "3"], ["5", "4", "3", "2"]).mse_likert is None
    assert prior_art_relevance_full(["a", "b"], ["a", "b"]).mse_likert is None
    r = prior_art_relevance_full(["a", "b", "c"], ["a", "b", "c"])
    assert isinstance(r, PriorArtRelevanceResult)
    assert (r.spearman_rho, r.mse_likert, r.n) == (1.0, None, 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.spearman_rho = 0.0  # type: ignore[misc]


def test_non_finite_ratings_are_not_likert() -> None:
    r = prior_art_relevance_full("nan, 1", "1, 2")
    assert r.mse_likert is None


def test_list_markers_leave_real_items_alone() -> None:
    assert _parse("1234567\n4.5\n2023-report") == ["1234567", "4.5", "2023-report"]
    assert _parse("10. ten\n* star") == ["ten", "star"]
    assert _parse(("x", "y")) == ["x", "y"]


def test_average_ranks() -> None:
    assert _average_ranks([3, 1, 2, 2]) == [4.0, 1.0, 2.5, 2.5]


@given(st.lists(st.text(alphabet="abcdefgh", min_size=1, max_size=4), min_size=2, unique=True))
def test_self_agreement_and_reversal(items: list[str]) -> None:
    assert prior_art_relevance(items, items) == pytest.approx(1.0)
    assert prior_art_relevance(list(reversed(items)), items) == pytest.approx(-1.0)


@given(
    st.lists(st.text(max_size=6), max_size=8),
    st.lists(st.text(max_size=6), max_size=8),
)
def test_rho_is_bounded(p: list[str], e: list[str]) -> None:
    r = prior_art_relevance_full(p, e)
    assert -1.0 <= r.spearman_rho <= 1.0
