"""exact_match, contains, numeric_match, mcq_letter: the pinned values plus properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fieldkit.eval import contains, exact_match, mcq_letter, numeric_match
from tests._growth import assert_linear


@pytest.mark.parametrize(("p", "e"), [("yes", "yes"), ("YES", "yes"), ("  yes\n", "yes")])
def test_exact_match_hits(p: str, e: str) -> None:
    assert exact_match(p, e) == 1.0


@pytest.mark.parametrize(("p", "e"), [("no", "yes"), ("yes it does", "yes"), (None, "yes")])
def test_exact_match_misses(p: str | None, e: str) -> None:
    assert exact_match(p, e) == 0.0


def test_contains() -> None:
    assert contains("the answer is yes", "yes") == 1.0
    assert contains("THE ANSWER IS YES", "yes") == 1.0
    assert contains("the answer is no", "yes") == 0.0
    assert contains("anything", "") == 0.0
    assert contains(None, "yes") == 0.0


@pytest.mark.parametrize(
    ("p", "e", "kw"),
    [
        ("the answer is 1234.5", "1234.5", {}),
        ("1240", "1234.5", {}),
        ("Revenue was $1,234,567", "1234567", {}),
        ("Revenue was 100, costs were 200", "100", {}),
        ("the loss was -50.0M", "-50", {}),
        ("109", "100", {"rel_tolerance": 0.1}),
        ("0.005", "0", {"rel_tolerance": 0.01}),
        ("about .5 of it", "0.5", {}),
    ],
)
def test_numeric_match_hits(p: str, e: str, kw: dict[str, float]) -> None:
    assert numeric_match(p, e, **kw) == 1.0


@pytest.mark.parametrize(
    ("p", "e", "kw"),
    [
        ("1300", "1234.5", {}),
        ("the data does not specify", "42", {}),
        ("42", "no answer", {}),
        ("111", "100", {"rel_tolerance": 0.1}),
        ("0.5", "0", {"rel_tolerance": 0.01}),
        (None, "42", {}),
    ],
)
def test_numeric_match_misses(p: str | None, e: str, kw: dict[str, float]) -> None:
    assert numeric_match(p, e, **kw) == 0.0


@given(st.floats(min_value=-1e12, max_value=1e12, allow_nan=False).filter(lambda x: abs(x) > 1e-3))
def test_numeric_match_reads_its_own_formatting(x: float) -> None:
    assert numeric_match(f"the value is {x:,.6f} units", f"{x:.6f}") == 1.0


MCQ_ONES = [
    ("B", "B"),
    ("b", "B"),
    ("C.", "C"),
    ("C)", "C"),
    ("- C", "C"),
    ("B", "b"),
    ("Answer: D", "D"),
    ("The answer is C.", "C"),
    ("I pick option A here.", "A"),
    ("My choice: B", "B"),
    ("A is wrong. Answer: D", "D"),
    ("The correct choice would be B.", "B"),
    ("<think>Maybe A, maybe B. Reasoning...</think>\nAnswer: C", "C"),
    ("<think>\nStep 1: read carefully.\nStep 2: pick.\n</think>\nD", "D"),
    ("Answer: A", "A"),
    ("Answer: (B)", "B"),
    ("I think a good answer is B", "B"),  # the article "a" is not option A
    ("<THINK>A</THINK> C", "C"),
]

MCQ_ZEROS = [
    ("A", "B"),
    ("A is wrong. Answer: D", "A"),
    ("I have no idea.", "B"),
    ("apple banana cantaloupe date", "A"),
    ("<think>Maybe A, maybe B. Reasoning...</think>\nAnswer: C", "A"),
    ("<think>The answer is A</think>", "A"),
    ("", "A"),
    ("   \n  ", "B"),
    ("A", ""),
    ("E", "E"),
    ("A", "X"),
    (None, "A"),
    ("Either A or B", "A"),  # a hedge names two letters
    ("<think>it is A", "A"),  # an unclosed think span is not an answer
]


@pytest.mark.parametrize(("p", "e"), MCQ_ONES)
def test_mcq_letter_hits(p: str, e: str) -> None:
    assert mcq_letter(p, e) == 1.0


@pytest.mark.parametrize(("p", "e"), MCQ_ZEROS)
def test_mcq_letter_misses(p: str | None, e: str) -> None:
    assert mcq_letter(p, e) == 0.0


def test_mcq_letter_strip_think_false() -> None:
    text = "<think>I think A</think>\nAnswer: B"
    assert mcq_letter(text, "B", strip_think=False) == 1.0
    assert mcq_letter(text, "A", strip_think=False) == 0.0


@given(st.sampled_from("ABCD"), st.text(max_size=40).filter(lambda s: "<" not in s))
def test_mcq_letter_answer_marker_wins(letter: str, prefix: str) -> None:
    """Whatever prose precedes it, a final ``Answer: X`` line after a think block is read."""
    assert mcq_letter(f"<think>{prefix}</think>\nAnswer: {letter}", letter) == 1.0


@given(st.text(max_size=200), st.text(max_size=3))
def test_scorers_are_total(p: str, e: str) -> None:
    for fn in (exact_match, contains, numeric_match, mcq_letter):
        assert fn(p, e) in (0.0, 1.0)


def test_scorer_regexes_are_linear_on_hostile_input() -> None:
    hostile = [
        lambda n: "answer" + " " * n + "x",
        lambda n: "1," * n + "x",
        lambda n: "<think>" * (n // 2),
    ]
    for make in hostile:
        assert_linear(make, lambda h: mcq_letter(h, "A"), 5_000)
        assert_linear(make, lambda h: numeric_match(h, "1"), 5_000)
