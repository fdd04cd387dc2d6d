"""``irac_structure``: how many of Issue, Rule, Application, Conclusion a legal answer shows.

Four case-insensitive detectors, each a set of word-bounded lead-ins; the score is the number that
fire divided by four. The patterns are alternations of literals with bounded gaps only, so a
search is linear in the answer's length.
"""

from __future__ import annotations

import re

__all__ = ["irac_structure"]

_USC = r"35\s{1,5}U\.?S\.?C\.?"
_SECTION = r"(?:§|sec\.?|section\.?)?"

_DETECTORS: tuple[re.Pattern[str], ...] = (
    # Issue
    re.compile(r"\b(?:issue\s{0,5}[:\s]|the\s+issue|question\s+presented|whether)", re.IGNORECASE),
    # Rule
    re.compile(
        r"\b(?:rule\b|under\s+" + _USC + r"|under\s+the\s+(?:statute|law|holding|standard|mpep)"
        r"|mpep\s{1,5}" + _SECTION + r"\s{0,5}\d"
        r"|" + _USC + r"\s{0,5}" + _SECTION + r"\s{0,5}\d{2,3}"
        r"|law\s+(?:provides|states|requires)|holding\b)",
        re.IGNORECASE,
    ),
    # Application
    re.compile(
        r"\b(?:application\b|applying|here[,\s]|in\s+this\s+case|in\s+the\s+(?:present|instant)"
        r"|the\s+(?:present|instant)\s+(?:claim|application|invention)|as\s+applied|applied\s+to)",
        re.IGNORECASE,
    ),
    # Conclusion
    re.compile(
        r"\b(?:conclusion|in\s+conclusion|therefore|accordingly|thus[,\s]"
        r"|for\s+(?:the\s+)?(?:above|foregoing)\s+reasons|in\s+sum"
        r"|the\s+(?:examiner|applicant)\s+(?:should|is\s+respectfully\s+requested))",
        re.IGNORECASE,
    ),
)


def irac_structure(predicted: str | None, expected: str | None = "") -> float:
    """Fraction (0, 0.25, 0.5, 0.75 or 1.0) of the IRAC parts present; ``expected`` is ignored."""
    text = "" if predicted is None else str(predicted)
    if not text.strip():
        return 0.0
    return sum(1 for d in _DETECTORS if d.search(text) is not None) / 4
