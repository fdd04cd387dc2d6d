"""Every regex that sees outside text runs in linear time: long adversarial inputs.

Each input is a trigger word followed by a long run of one filler and an ending that makes the
match fail late: the shape that makes a backtracking pattern quadratic. The check compares the
cost at two sizes measured in the same test (``tests/_growth.py``): about 8x from n to 8n for
linear code, about 64x for a quadratic pattern; no number of seconds is assumed.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldkit.eval import is_refusal
from fieldkit.eval._judge import parse_judge_output
from fieldkit.lineage._trial import CANONICAL_HEADER
from fieldkit.lineage._tsv import salvage_short_row, split_records
from fieldkit.rag import Chunk
from fieldkit.rag._correctness import grade_answer, is_decline, normalise_answer
from fieldkit.rag._lexical import identifier_terms
from fieldkit.rag._prompt import format_passage
from fieldkit.testing._behaviour import split_deltas
from tests._growth import assert_linear

N = 5_000  # the smaller of the two sizes compared (the larger is 8N)

TRIGGERS = [
    "", "not", "not available", "i", "i do", "i cannot", "the context", "passages do",
    "not related to", "no", "insufficient",
    "cannot be", "unclear", "score", '"score":', "rationale", 'rationale: "', "```", "```json",
    "keep", "[1]", "x", "1.",
]  # fmt: skip
FILLERS = [" ", "\t", " \n", "a", "'", '"', "`", ":", "\\", "\u2028", "0", "."]
ENDINGS = ["", "x", "!", "\n", '"', "1/", "keep"]


def _chunk(text: str, label: str) -> str:
    return format_passage(Chunk(id=1, text=text, label=label))


TARGETS: dict[str, Callable[[str], object]] = {
    "rag passage": lambda s: _chunk(s, ""),
    "rag label": lambda s: _chunk("t", s),
    "rag identifier terms": identifier_terms,
    "is_refusal": is_refusal,
    "rag decline": is_decline,
    "rag answer words": normalise_answer,
    "rag grade": lambda s: grade_answer(s, ["128 GB", "<=>"], [s], s),
    "judge parse": parse_judge_output,
    "lineage salvage": lambda s: list(salvage_short_row(CANONICAL_HEADER, ["1", "t", s])),
    "lineage split": lambda s: split_records(s.encode("utf-8", "replace") + b"\n"),
    "simulator deltas": split_deltas,
}


@pytest.mark.parametrize("target", sorted(TARGETS))
@settings(max_examples=25, deadline=None)
@given(
    trigger=st.sampled_from(TRIGGERS),
    filler=st.sampled_from(FILLERS),
    ending=st.sampled_from(ENDINGS),
    repeat=st.booleans(),
)
def test_outside_text_regexes_are_linear(
    target: str, trigger: str, filler: str, ending: str, repeat: bool
) -> None:
    def make(n: int) -> str:
        unit = trigger + filler * (n // 400 if repeat else n)
        return (unit * (400 if repeat else 1)) + ending

    assert_linear(make, TARGETS[target], N)


def test_the_reported_cases() -> None:
    assert_linear(lambda n: ("passage" + " " * n + "x", "label" + " " * n + "y"),
                  lambda pair: _chunk(*pair), N)  # fmt: skip
    assert_linear(lambda n: "not available" + " " * n + "x", is_refusal, N)


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("filler", FILLERS)
def test_every_filler_as_one_long_run(target: str, filler: str) -> None:
    """Each filler as one long run, for every target: the sampled property above may miss a
    combination; this sweep never does."""
    assert_linear(lambda n: filler * n + "x", TARGETS[target], N)


def test_the_check_catches_a_quadratic_pattern() -> None:
    """The growth check itself: a backtracking pattern on spaces fails it."""
    import re

    quadratic = re.compile(r" *x")  # every start position scans the rest of the run
    with pytest.raises(AssertionError, match="cost grew"):
        assert_linear(lambda n: " " * n + "y", quadratic.search, 500)
