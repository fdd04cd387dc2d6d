"""LLM-as-judge: three built-in rubrics, ``Judge.grade`` over a ``NIMClient``, a total parser.

``Judge.parse`` never raises: it finds a score in plain or fenced JSON (anywhere in the text, with
prose around it), in ``"score": 4`` / ``score: 4`` / ``Score: 4/5`` prose, accepts numeric strings
and exponents, and rejects non-finite or out-of-scale scores (``score=None``) when the scale is
known. Retries belong to the NIM client; the NIM module is imported only when grading.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fieldkit.nim import NIMClient

__all__ = [
    "BUILTIN_RUBRICS",
    "RUBRIC_CORRECTNESS",
    "RUBRIC_FAITHFULNESS",
    "RUBRIC_RELEVANCE",
    "RUBRIC_SCALES",
    "Judge",
    "JudgeError",
    "JudgeResult",
]

_JSON_TAIL = (
    'Return only a JSON object of the form {"score": <number>, "rationale": "<one sentence>"} '
    "with a numeric score and a string rationale."
)

RUBRIC_CORRECTNESS = (
    "You are an impartial grader. Compare the predicted answer with the reference answer and "
    "grade its correctness on a 0-5 scale:\n"
    "5 = exactly correct;\n"
    "4 = essentially correct, only minor wording differences;\n"
    "3 = partially correct;\n"
    "2 = mostly wrong but contains a correct fragment;\n"
    "1 = confidently wrong or unrelated;\n"
    "0 = a refusal or an empty answer.\n" + _JSON_TAIL
)

RUBRIC_FAITHFULNESS = (
    "You are an impartial grader. Judge, on a 0-1 scale, whether every factual claim in the "
    "predicted answer is supported by the given context passages:\n"
    "1.0 = every claim is supported by the context;\n"
    "0.5 = some claims are supported;\n"
    "0.0 = no claim is supported.\n"
    "If the answer is a refusal or says the context does not contain the answer, give 0.5 when "
    "the context really lacks a direct answer and 0.0 when the context actually contains it.\n"
    + _JSON_TAIL
)

RUBRIC_RELEVANCE = (
    "You are an impartial grader. Judge, on a 0-1 scale, whether the predicted answer addresses "
    "the question:\n"
    "1.0 = it directly answers the question;\n"
    "0.5 = it partially answers or hedges;\n"
    "0.0 = it is off-topic or refuses.\n" + _JSON_TAIL
)

BUILTIN_RUBRICS: dict[str, str] = {
    "correctness": RUBRIC_CORRECTNESS,
    "faithfulness": RUBRIC_FAITHFULNESS,
    "relevance": RUBRIC_RELEVANCE,
}

#: The score range of each built-in rubric (keyed by the rubric text); used to validate scores.
RUBRIC_SCALES: dict[str, tuple[float, float]] = {
    RUBRIC_CORRECTNESS: (0.0, 5.0),
    RUBRIC_FAITHFULNESS: (0.0, 1.0),
    RUBRIC_RELEVANCE: (0.0, 1.0),
}

#: The grade() arguments each built-in rubric cannot work without.
_REQUIRED: dict[str, tuple[str, ...]] = {
    RUBRIC_CORRECTNESS: ("reference",),
    RUBRIC_FAITHFULNESS: ("context",),
    RUBRIC_RELEVANCE: ("question",),
}


class JudgeError(Exception):
    """The judge call failed or returned no message content."""


@dataclass(frozen=True, slots=True)
class JudgeResult:
    """A parsed grade; ``score is None`` exactly when no (valid) score was found."""

    score: float | None
    rationale: str
    raw: str


_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\r?\n?(.*?)(?:```|\Z)", re.DOTALL)
_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d{1,3})?"
_SCORE_RE = re.compile(
    rf"""["']?\bscore["']?\s*(?:(?:[:=]|\bis\b|\bof\b)\s*)?["']?({_NUM})["']?"""
    rf"""(?:[ \t]*(?:/|out[ \t]+of)[ \t]*({_NUM}))?""",
    re.IGNORECASE,
)
_RATIONALE_RE = re.compile(
    r"""["']?\brationale["']?\s*[:=]\s*"((?:[^"\\]|\\.)*)\"""", re.IGNORECASE
)
_MAX_SCAN = 200_000  # characters of judge output considered; longer tails are ignored


def _as_score(v: Any) -> tuple[float | None, float | None]:
    """``(score, denominator)`` from a JSON ``score`` value; numeric strings and ``"4/5"`` count."""
    if isinstance(v, bool):
        return None, None
    if isinstance(v, int | float):
        f = float(v)
        return (f if math.isfinite(f) else None), None
    if isinstance(v, str):
        m = re.fullmatch(rf"\s*({_NUM})\s*(?:/\s*({_NUM})\s*)?", v)
        if m:
            num = float(m.group(1))
            den = float(m.group(2)) if m.group(2) is not None else None
            if not math.isfinite(num) or (den is not None and not (math.isfinite(den) and den > 0)):
                return None, None
            return num, den
    return None, None


def _fit(score: float | None, den: float | None, scale: tuple[float, float] | None) -> float | None:
    """Rescale ``score/den`` to ``scale`` when the denominator differs; reject out-of-range."""
    if score is None:
        return None
    if den is not None and scale is not None and den != scale[1]:
        score = score / den * scale[1]
    if den is not None and scale is None and not (0 <= score <= den):
        return None
    if scale is not None and not (scale[0] <= score <= scale[1]):
        return None
    return score


def _candidates(text: str) -> list[str]:
    """Fenced block bodies first (in order), then the whole text."""
    out = [m.group(2).strip() for m in _FENCE.finditer(text)]
    out.append(text)
    return out


def _from_json(text: str) -> tuple[dict[str, Any], float | None, float | None] | None:
    """First JSON object in ``text`` (scanning every ``{``) that carries a usable ``score``."""
    dec = json.JSONDecoder()
    start = text.find("{")
    tries = 0
    while start != -1 and tries < 2000:
        tries += 1
        try:
            obj, _end = dec.raw_decode(text, start)
        except (ValueError, RecursionError):
            obj = None
        if isinstance(obj, dict) and "score" in obj:
            score, den = _as_score(obj["score"])
            if score is not None:
                return obj, score, den
        start = text.find("{", start + 1)
    return None


def parse_judge_output(raw: Any, scale: tuple[float, float] | None = None) -> JudgeResult:
    """Total parser behind ``Judge.parse`` (never raises; ``raw`` is kept unmodified)."""
    try:
        raw_s = raw if isinstance(raw, str) else ("" if raw is None else str(raw))
        text = raw_s.strip()[:_MAX_SCAN]
        for cand in _candidates(text):
            hit = _from_json(cand)
            if hit is not None:
                obj, score, den = hit
                fitted = _fit(score, den, scale)
                rationale = obj.get("rationale", "")
                return JudgeResult(fitted, "" if rationale is None else str(rationale), raw_s)
        m = _SCORE_RE.search(text)
        if m is not None:
            num = float(m.group(1))
            den = float(m.group(2)) if m.group(2) is not None else None
            got: float | None = num if math.isfinite(num) else None
            if den is not None and (not math.isfinite(den) or den <= 0):
                got = None
            r = _RATIONALE_RE.search(text)
            rationale = r.group(1) if r else text
            return JudgeResult(_fit(got, den, scale), rationale, raw_s)
        return JudgeResult(None, text, raw_s)
    except Exception:  # pragma: no cover - defensive: parse is documented as total
        return JudgeResult(None, "", raw if isinstance(raw, str) else "")


@dataclass
class Judge:
    """LLM-as-judge over any ``NIMClient`` (the published fields and defaults)."""

    client: NIMClient
    rubric: str = RUBRIC_CORRECTNESS
    max_tokens: int = 160
    temperature: float = 0.0

    @classmethod
    def builtin(cls, client: NIMClient, kind: str, **kwargs: Any) -> Judge:
        """A judge with a built-in rubric: ``correctness``, ``faithfulness`` or ``relevance``."""
        if kind not in BUILTIN_RUBRICS:
            raise ValueError(f"unknown rubric {kind!r}; available: {sorted(BUILTIN_RUBRICS)}")
        return cls(client, BUILTIN_RUBRICS[kind], **kwargs)

    @staticmethod
    def build_user_message(
        *,
        prediction: str,
        question: str | None = None,
        reference: str | None = None,
        context: str | None = None,
    ) -> str:
        """The user message: the given parts, then a blank line and ``Grade:``."""
        parts: list[str] = []
        if question is not None:
            parts.append(f"Question: {question}")
        if reference is not None:
            parts.append(f"Reference answer: {reference}")
        if context is not None:
            parts.append(f"Context passages:\n\n{context}")
        parts.append(f"Predicted answer: {prediction}")
        parts.append("\nGrade:")
        return "\n".join(parts)

    def grade(
        self,
        *,
        prediction: str,
        question: str | None = None,
        reference: str | None = None,
        context: str | None = None,
    ) -> JudgeResult:
        """Ask the model; unparseable answer → ``score=None``, failed call → ``JudgeError``."""
        given = {"question": question, "reference": reference, "context": context}
        missing = [k for k in _REQUIRED.get(self.rubric, ()) if given[k] is None]
        if missing:
            raise ValueError(f"this rubric needs {', '.join(missing)}= to grade")
        from fieldkit.nim import NIMError

        user = self.build_user_message(
            prediction=prediction, question=question, reference=reference, context=context
        )
        messages = [{"role": "system", "content": self.rubric}, {"role": "user", "content": user}]
        try:
            resp = self.client.chat(
                messages, max_tokens=self.max_tokens, temperature=self.temperature
            )
        except NIMError as exc:
            raise JudgeError(f"judge call failed: {exc}") from exc
        try:
            content = resp["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise JudgeError(f"judge response missing content: {resp!r}"[:2000]) from exc
        return parse_judge_output(
            "" if content is None else content, RUBRIC_SCALES.get(self.rubric)
        )

    @staticmethod
    def parse(raw: str, *, scale: tuple[float, float] | None = None) -> JudgeResult:
        """Extract ``score``/``rationale`` from a judge reply; total (never raises).

        ``scale=(lo, hi)`` rejects scores outside it (``score=None``) and rescales ``a/b`` forms
        whose denominator differs (``8/10`` on a 0-5 scale → 4.0). Without a scale, ``a/b`` gives
        ``a`` when ``0 <= a <= b``.
        """
        return parse_judge_output(raw, scale)
