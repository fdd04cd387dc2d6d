"""load_rubric, the rubric constants, the Hints block, and the judge-backed scorers."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import pytest

from fieldkit.eval import (
    RUBRIC_OFFICE_ACTION_ARGUMENT,
    RUBRIC_PATENT_CLAIM_VALIDITY,
    _format_rubric_hints,
    load_rubric,
    office_action_argument,
    patent_claim_validity,
)


def test_rubric_texts() -> None:
    for word in (
        "PatentScore",
        "novelty",
        "non-obviousness",
        "indefiniteness",
        '"score"',
        '"rationale"',
    ):
        assert word in RUBRIC_PATENT_CLAIM_VALIDITY
    for word in ("rejection", "statutory", "persuasiveness", '"score"'):
        assert word in RUBRIC_OFFICE_ACTION_ARGUMENT
    assert load_rubric("patent_claim_validity") == RUBRIC_PATENT_CLAIM_VALIDITY
    assert load_rubric("office_action_argument") == RUBRIC_OFFICE_ACTION_ARGUMENT


@pytest.mark.parametrize("name", ["nope", "../rubrics/office_action_argument", "", "a/b"])
def test_unknown_or_path_names_refused(name: str) -> None:
    with pytest.raises(FileNotFoundError):
        load_rubric(name)


def test_hints() -> None:
    assert _format_rubric_hints(None) == ""
    assert _format_rubric_hints({}) == ""
    h = _format_rubric_hints({"claim_type": "independent", "claim_count": 3})
    assert h.startswith("Hints:") and "claim_count: 3" in h and "claim_type: independent" in h
    h = _format_rubric_hints({"required_citations": ["MPEP 2143", "KSR v. Teleflex"]})
    assert h.splitlines() == [
        "Hints:",
        "- required_citations:",
        "  - MPEP 2143",
        "  - KSR v. Teleflex",
    ]
    assert _format_rubric_hints({"z": 1, "a": 2}) == _format_rubric_hints({"a": 2, "z": 1})
    assert _format_rubric_hints({"z": 1, "a": 2}).splitlines()[1] == "- a: 2"
    h = _format_rubric_hints({"venue": {"jurisdiction": "US", "art_unit": "2143"}})
    assert '{"art_unit": "2143", "jurisdiction": "US"}' in h
    assert not h.endswith("\n")


@dataclass
class _Grade:
    score: float | None


class _Judge:
    def __init__(self, score: float | None) -> None:
        self.score = score
        self.calls: list[dict[str, Any]] = []

    def grade(
        self,
        *,
        prediction: str,
        question: str | None = None,
        reference: str | None = None,
        context: str | None = None,
    ) -> _Grade:
        self.calls.append(
            {
                "prediction": prediction,
                "question": question,
                "reference": reference,
                "context": context,
            }
        )
        return _Grade(self.score)


@pytest.mark.parametrize("fn", [patent_claim_validity, office_action_argument])
def test_judge_scorers(fn: Any) -> None:
    j = _Judge(1.0)
    assert fn("pred claim", "ref claim", judge=j) == 1.0
    assert j.calls[-1] == {
        "prediction": "pred claim",
        "question": None,
        "reference": "ref claim",
        "context": None,
    }
    assert fn("p", "r", judge=_Judge(0.42)) == 0.42
    assert fn("p", "r", judge=_Judge(None)) == 0.0
    j = _Judge(0.5)
    fn(
        "p",
        "r",
        judge=j,
        rubric={"cited_prior_art": ["US123", "US456"], "claim_type": "independent"},
    )
    ctx = j.calls[-1]["context"]
    assert ctx.startswith("Hints:") and "cited_prior_art" in ctx and "US123" in ctx
    assert "claim_type: independent" in ctx
    fn("p", "", judge=j)
    assert j.calls[-1]["reference"] is None
    params = inspect.signature(fn).parameters
    assert params["judge"].kind is inspect.Parameter.KEYWORD_ONLY
    assert params["judge"].default is inspect.Parameter.empty
    assert params["rubric"].kind is inspect.Parameter.KEYWORD_ONLY


def test_office_action_hints() -> None:
    j = _Judge(0.7)
    office_action_argument(
        "p",
        "r",
        judge=j,
        rubric={
            "rejection_type": "103",
            "citations": ["MPEP 2143", "KSR"],
            "claim_count": 4,
            "relies_on_official_notice": True,
        },
    )
    ctx = j.calls[-1]["context"]
    for s in (
        "rejection_type: 103",
        "MPEP 2143",
        "claim_count: 4",
        "relies_on_official_notice: True",
    ):
        assert s in ctx


def test_judge_errors_propagate() -> None:
    class Boom:
        def grade(self, **_: Any) -> _Grade:
            raise RuntimeError("judge down")

    with pytest.raises(RuntimeError, match="judge down"):
        patent_claim_validity("p", "r", judge=Boom())  # type: ignore[arg-type]


@pytest.mark.parametrize("fn", [patent_claim_validity, office_action_argument])
@pytest.mark.parametrize("score", [5.0, -0.1, 1.0000001, float("nan"), float("inf")])
def test_judge_scores_outside_unit_interval_are_refused(fn: Any, score: float) -> None:
    """A 0-5 rubric's 5 is not an accuracy of 5: refused instead of passed through."""
    with pytest.raises(ValueError, match=r"outside 0\.\.1"):
        fn("pred", "ref", judge=_Judge(score))


@pytest.mark.parametrize("score", [0.0, 1.0, 0.5])
def test_judge_scores_at_the_bounds_pass(score: float) -> None:
    assert patent_claim_validity("pred", "ref", judge=_Judge(score)) == score
