"""Answer correctness: normalised gold-string containment."""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from fieldkit.rag._correctness import answer_contains, normalise_answer


def test_spacing_case_and_punctuation_do_not_matter() -> None:
    for answer in ("It has 128GB.", "128 gb of memory", "a 128-GB pool", "128 GB"):
        assert answer_contains(answer, ["128 GB"]), answer
    assert answer_contains("Use ef_search.", ["ef search"])
    assert answer_contains("it is the KV-cache", ["KV cache"])


def test_whole_words_only() -> None:
    assert not answer_contains("an alarm rang", ["arm"])
    assert not answer_contains("1280 GB", ["128 GB"])
    assert answer_contains("Arm cores", ["arm"])


def test_symbol_only_gold_is_a_substring() -> None:
    assert answer_contains("order by embedding <=> query", ["<=>"])
    assert not answer_contains("order by embedding <-> query", ["<=>"])


def test_empty_answer_or_gold_is_never_correct() -> None:
    assert not answer_contains(None, ["x"])
    assert not answer_contains("", ["x"])
    assert not answer_contains("anything", [])
    assert not answer_contains("anything", ["   "])


@given(st.text(), st.text(min_size=1))
def test_a_gold_string_inside_the_answer_is_always_found(prefix: str, gold: str) -> None:
    if normalise_answer(gold) or gold.strip():
        assert answer_contains(prefix + " " + gold + " .", [gold])


@given(st.text())
def test_normalisation_is_idempotent(text: str) -> None:
    once = normalise_answer(text)
    assert normalise_answer(once) == once


def test_linear_time_on_adversarial_text() -> None:
    text = "a1" * 200_000 + "!" * 200_000
    t0 = time.perf_counter()
    assert not answer_contains(text, ["a1a1b"])
    assert time.perf_counter() - t0 < 20  # generous budget for a linear scan
