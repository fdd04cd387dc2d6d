"""Every regex that sees outside text runs in linear time: long adversarial inputs, time budget.

Each input is a trigger word followed by 40,000 characters of one filler and an ending that
makes the match fail late: the shape that makes a backtracking pattern quadratic (seconds to
minutes). Linear code handles each in milliseconds; the budget is generous so a loaded CI box
never fails it, but finite, so a quadratic pattern does.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldkit.eval import is_refusal
from fieldkit.eval._judge import parse_judge_output
from fieldkit.lineage._trial import CANONICAL_HEADER
from fieldkit.lineage._tsv import salvage_short_row, split_records
from fieldkit.rag import Chunk
from fieldkit.rag._lexical import identifier_terms
from fieldkit.rag._prompt import format_passage
from fieldkit.testing._behaviour import split_deltas

N = 40_000
BUDGET_S = 2.0  # per call; a quadratic pattern on 40k characters takes 10 s or more

TRIGGERS = [
    "", "not", "not available", "i", "i do", "i cannot", "the context", "no", "insufficient",
    "cannot be", "unclear", "score", '"score":', "rationale", 'rationale: "', "```", "```json",
    "keep", "[1]", "x",
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
    unit = trigger + filler * (N // 400 if repeat else N)
    text = (unit * (400 if repeat else 1)) + ending
    t0 = time.perf_counter()
    TARGETS[target](text)
    assert time.perf_counter() - t0 < BUDGET_S, f"{target} took too long on {text[:40]!r}…"


def test_the_reported_cases() -> None:
    t0 = time.perf_counter()
    _chunk("passage" + " " * N + "x", "label" + " " * N + "y")
    is_refusal("not available" + " " * N + "x")
    assert time.perf_counter() - t0 < BUDGET_S


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("filler", FILLERS)
def test_every_filler_as_one_long_run(target: str, filler: str) -> None:
    """Each filler as one 40,000-character run, for every target: the sampled property above
    may miss a combination; this sweep never does."""
    text = filler * N + "x"
    t0 = time.perf_counter()
    TARGETS[target](text)
    assert time.perf_counter() - t0 < BUDGET_S, f"{target} took too long on {filler!r} * {N}"
