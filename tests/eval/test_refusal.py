"""REFUSAL_PATTERNS / is_refusal: the 0.3.0 pinned cases plus the false positives we fixed."""

from __future__ import annotations

import re

import pytest

from fieldkit.eval import REFUSAL_PATTERNS, is_refusal

REFUSALS = [
    "I do not know the answer.",
    "I don't have enough information.",
    "I don\u2019t know.",
    "I cannot answer that.",
    "I am not able to provide that.",
    "The provided context does not contain the answer.",
    "Context doesn't mention it.",
    "Not specified in the context.",
    "No information available.",
    "There is no specific information about it.",
    "Unclear from the passages.",
    "Insufficient context for that question.",
    "Cannot be determined from the source.",
    "I am unable to determine the year.",
    "I cannot verify that claim.",
    "The figure is not explicitly mentioned.",
    "That is not available in the provided context.",
]

ANSWERS = [
    "George W. Bush won the 2004 election.",
    "The Spark has 128 GB of unified memory.",
    "Phelps won 8 medals at the 2008 Olympics.",
    # 0.3.0 false positives
    "I am able to answer that: it is 42.",
    "Hi do not know what to say, he said.",
    "The casino information desk is open.",
    "The model is not available in stores yet.",
    "He was not directly involved in the merger.",
]


def test_nine_case_insensitive_patterns() -> None:
    assert len(REFUSAL_PATTERNS) == 9
    assert all(isinstance(p, re.Pattern) and p.flags & re.IGNORECASE for p in REFUSAL_PATTERNS)


@pytest.mark.parametrize("text", REFUSALS)
def test_refusals(text: str) -> None:
    assert is_refusal(text) is True


@pytest.mark.parametrize("text", ANSWERS)
def test_answers_are_not_refusals(text: str) -> None:
    assert is_refusal(text) is False


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t"])
def test_empty_and_blank_are_refusals(text: str | None) -> None:
    assert is_refusal(text) is True
