"""An LLM judge beside the bench's string metric: ``judge_answers`` grades each in-corpus answer
with ``fieldkit.eval``'s correctness rubric (0-5) against its gold strings.

For users with a real model as judge: a small model grades no better than it answers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fieldkit.eval import Judge, JudgeError

__all__ = ["JUDGE_PASS", "judge_answers"]

#: A judge score (0-5 correctness rubric) at or above this counts the answer as right.
JUDGE_PASS = 4.0


def judge_answers(
    calls: Sequence[dict[str, Any]],
    judge: Judge,
    *,
    on_step: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Grade every successful in-corpus call with gold strings; each graded call gets
    ``judge_score`` (None: no score or a failed judge call) and ``judge_rationale``. Returns
    ``{"graded", "right", "correctness", "unscored"}`` (right: score >= ``JUDGE_PASS``)."""
    graded = right = unscored = 0
    for call in calls:
        if not (call.get("success") and call.get("in_corpus") and call.get("gold")):
            continue
        try:
            res = judge.grade(
                prediction=str(call.get("answer") or ""),
                question=str(call["question"]),
                reference=" / ".join(call["gold"]),
            )
            score, why = res.score, res.rationale
        except JudgeError as exc:
            score, why = None, f"judge call failed: {exc}"
        call.update(judge_score=score, judge_rationale=why)
        graded += 1
        if score is None:
            unscored += 1
        elif score >= JUDGE_PASS:
            right += 1
        if on_step is not None:
            on_step("judge")
    return {
        "graded": graded,
        "right": right,
        "correctness": right / graded if graded else None,
        "unscored": unscored,
        "pass_score": JUDGE_PASS,
    }
