"""Judge-backed scorers for patent work, their rubric texts and the ``Hints:`` block they send.

``load_rubric`` reads the packaged ``rubrics/<name>.md`` through ``importlib.resources`` (works
from a zip) and accepts only plain names. The scorers hand the prediction, the reference and the
rubric hints to any judge with a ``grade(*, prediction, question, reference, context)`` method.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any, Protocol

__all__ = [
    "ROW_RUBRIC_SCORERS",
    "RUBRIC_OFFICE_ACTION_ARGUMENT",
    "RUBRIC_PATENT_CLAIM_VALIDITY",
    "load_rubric",
    "office_action_argument",
    "patent_claim_validity",
]

_NAME = re.compile(r"[A-Za-z0-9_-]{1,100}")


class _Graded(Protocol):
    @property
    def score(self) -> float | None: ...


class _JudgeLike(Protocol):
    """What the scorers call: ``Judge.grade`` with the keywords they pass."""

    def grade(self, *, prediction: str, reference: str | None, context: str | None) -> _Graded: ...


def load_rubric(name: str) -> str:
    """The text of the packaged rubric ``<name>.md``; ``FileNotFoundError`` if there is none.

    ``name`` must be a plain file stem (letters, digits, ``_``, ``-``): paths are refused.
    """
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise FileNotFoundError(f"no rubric named {name!r} (names are plain file stems)")
    res = resources.files("fieldkit.eval").joinpath("rubrics", f"{name}.md")
    if not res.is_file():
        raise FileNotFoundError(f"no rubric named {name!r} in fieldkit/eval/rubrics/")
    return res.read_text(encoding="utf-8")


RUBRIC_PATENT_CLAIM_VALIDITY: str = load_rubric("patent_claim_validity")
RUBRIC_OFFICE_ACTION_ARGUMENT: str = load_rubric("office_action_argument")


def _format_rubric_hints(rubric: Mapping[str, Any] | None) -> str:
    """``Hints:`` then one ``- key: value`` line per key in sorted order (lists one item a line)."""
    if not rubric:
        return ""
    lines = ["Hints:"]
    for key in sorted(rubric):
        value = rubric[key]
        if isinstance(value, list | tuple):
            lines.append(f"- {key}:")
            lines.extend(f"  - {item}" for item in value)
        elif isinstance(value, dict):
            lines.append(f"- {key}: {json.dumps(value, sort_keys=True)}")
        else:
            lines.append(f"- {key}: {value}")
    return "\n".join(lines)


def _judged(
    predicted: str | None,
    expected: str | None,
    judge: _JudgeLike,
    rubric: Mapping[str, Any] | None,
) -> float:
    result = judge.grade(
        prediction="" if predicted is None else predicted,
        reference=expected or None,
        context=_format_rubric_hints(rubric) or None,
    )
    score = result.score
    if score is None:
        return 0.0
    value = float(score)
    if not 0.0 <= value <= 1.0:  # also NaN
        raise ValueError(
            f"judge score {score!r} is outside 0..1; grade with a rubric that asks for a 0..1 "
            "score (RUBRIC_PATENT_CLAIM_VALIDITY / RUBRIC_OFFICE_ACTION_ARGUMENT do)"
        )
    return value


def patent_claim_validity(
    predicted: str | None,
    expected: str | None,
    *,
    judge: _JudgeLike,
    rubric: Mapping[str, Any] | None = None,
) -> float:
    """The judge's score of a claim against the reference (``0.0`` when it gives none;
    ``ValueError`` for a score outside 0..1, which is not an accuracy).

    Build the judge with ``RUBRIC_PATENT_CLAIM_VALIDITY`` as its rubric; ``rubric`` hints reach it
    as the ``context`` block.
    """
    return _judged(predicted, expected, judge, rubric)


def office_action_argument(
    predicted: str | None,
    expected: str | None,
    *,
    judge: _JudgeLike,
    rubric: Mapping[str, Any] | None = None,
) -> float:
    """The judge's score of an office-action response (``0.0`` when it gives none;
    ``ValueError`` for a score outside 0..1).

    Build the judge with ``RUBRIC_OFFICE_ACTION_ARGUMENT``; pass the expected rejection type and
    citations as ``rubric`` hints.
    """
    return _judged(predicted, expected, judge, rubric)


#: Scorers that take a per-question ``rubric=`` mapping: ``VerticalBench`` passes each
#: question's ``rubric`` tag to these unless told otherwise (``row_rubric``).
ROW_RUBRIC_SCORERS: frozenset[Callable[..., float]] = frozenset(
    {patent_claim_validity, office_action_argument}
)
