"""Answer scorers for vertical benches: exact, contains, numeric (relative tolerance), MCQ letter.

A scorer is called as ``scorer(predicted, expected)`` and returns a float in 0…1. ``None`` counts
as an empty answer (a refusal scores 0, never raises). Every regex here is linear-time: no nested
or overlapping quantifiers, and bounded look-arounds only.
"""

from __future__ import annotations

import math
import re

__all__ = ["contains", "exact_match", "mcq_letter", "numeric_match"]


def _norm(text: object) -> str:
    return "" if text is None else str(text).strip().lower()


def exact_match(predicted: str | None, expected: str | None) -> float:
    """1.0 when both texts, whitespace-stripped and lower-cased, are equal."""
    return 1.0 if _norm(predicted) == _norm(expected) else 0.0


def contains(predicted: str | None, expected: str | None) -> float:
    """1.0 when the stripped, lower-cased expected text occurs in the prediction ("" never does)."""
    e = _norm(expected)
    if not e:
        return 0.0
    return 1.0 if e in _norm(predicted) else 0.0


# optional minus, digits with thousands commas, optional fraction; or a bare ".5" fraction
_NUMBER = re.compile(r"-?(?:\d[\d,]*(?:\.\d+)?|\.\d+)")


def _first_number(text: object) -> float | None:
    if text is None:
        return None
    m = _NUMBER.search(str(text))
    if m is None:
        return None
    try:
        value = float(m.group(0).replace(",", ""))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def numeric_match(
    predicted: str | None, expected: str | None, *, rel_tolerance: float = 0.01
) -> float:
    """1.0 when the first number of each side agree within ``rel_tolerance`` (relative).

    No number on either side (a refusal) scores 0. An expected value of exactly 0 compares
    ``|predicted| <= rel_tolerance`` (absolute). The 1% default follows FinanceBench grading.
    """
    p, e = _first_number(predicted), _first_number(expected)
    if p is None or e is None:
        return 0.0
    if e == 0:
        return 1.0 if abs(p) <= rel_tolerance else 0.0
    return 1.0 if abs(p - e) / abs(e) <= rel_tolerance else 0.0


_LETTERS = "ABCD"
# <think>…</think> spans (any case); an unclosed <think> hides everything after it
_THINK = re.compile(r"<think>.*?(?:</think>|\Z)", re.IGNORECASE | re.DOTALL)
# "Answer: D", "My choice: B", "Answer: (B)", "the answer is C", "choice would be B"
_MARKER = re.compile(
    r"\b(?:answer|choice|option)\b[^A-Za-z0-9]{0,20}"
    r"(?:(?:is|would\s{1,5}be|will\s{1,5}be|be)\b[^A-Za-z0-9]{0,20})?"
    r"([A-Da-d])\b",
    re.IGNORECASE,
)
# a standalone capital letter; lower-case "a" is the English article, not option A
_STANDALONE = re.compile(r"\b([A-D])\b")


def mcq_letter(predicted: str | None, expected: str | None, *, strip_think: bool = True) -> float:
    """1.0 when the option letter (A–D) read from the prediction equals ``expected``.

    Reading order: a bare letter (``"b"``, ``"C."``, ``"- C"``); else the letter after the first
    ``answer``/``choice``/``option`` marker; else the single distinct stand-alone capital
    letter (a hedge naming two letters scores 0). ``<think>`` spans are ignored unless
    ``strip_think=False``.
    """
    text = "" if predicted is None else str(predicted)
    if strip_think:
        text = _THINK.sub("", text)
    text = text.strip()
    exp = _norm(expected).upper()
    if not text or len(exp) != 1 or exp not in _LETTERS:
        return 0.0
    got: str | None = None
    bare = text.upper().strip(".,)!:- ")
    if len(bare) <= 1:
        got = bare if bare and bare in _LETTERS else None
    else:
        m = _MARKER.search(text)
        if m is not None:
            got = m.group(1).upper()
        else:
            found = set(_STANDALONE.findall(text))
            got = found.pop() if len(found) == 1 else None
    return 1.0 if got == exp else 0.0
