"""The refusal catalogue: nine regex families unioned from the project's RAG articles.

The published families, in their order and with ``re.IGNORECASE``, tightened against false
positives: word boundaries (no "Hi do not know", "casino information"), "I am able to answer"
is not a refusal, and "not available/directly/explicitly" only count when they talk about the
source.
"""

from __future__ import annotations

import re

__all__ = ["REFUSAL_PATTERNS", "is_refusal"]

_APOS = "['\u2019]"
_SOURCE = r"(?:the\s+)?(?:provided\s+|given\s+)?(?:context|passages?|text|documents?|sources?)"

REFUSAL_PATTERNS: tuple[re.Pattern[str], ...] = (
    # 1. "I do not / don't know|have"
    re.compile(rf"\bi\s+do(?:\s+not|n{_APOS}t)\s+(?:know|have)\b", re.IGNORECASE),
    # 2. "I cannot / can't / am not able to" answer|provide|determine|find
    re.compile(
        rf"\bi\s+(?:cannot|can{_APOS}t|am\s+not\s+able\s+to)\s+(?:answer|provide|determine|find)\b",
        re.IGNORECASE,
    ),
    # 3. "(the) (provided) context does not / doesn't contain|include|mention"
    re.compile(
        rf"\b(?:the\s+)?(?:provided\s+)?context\s+(?:does\s+not|doesn{_APOS}t)\s+"
        r"(?:contain|include|mention)",
        re.IGNORECASE,
    ),
    # 4. "not specified|mentioned|provided|stated|given", or "not available / directly / explicitly"
    #    when the sentence is about the source
    re.compile(
        r"\bnot\s+(?:specified|mentioned|provided|stated|given)\b"
        r"|\bnot\s+(?:directly|explicitly)\s+(?:stated|mentioned|specified|given|provided|"
        r"addressed|answered|say|says|said|covered)\b"
        rf"|\bnot\s+available\s+(?:in|from)\s+{_SOURCE}"
        r"|\bnot\s+available\s*(?:[.!]\s*)?$",  # not \s*[.!]?\s*: quadratic on spaces
        re.IGNORECASE,
    ),
    # 5. "I am unable / I cannot to determine|verify" (grammatical form of the second branch)
    re.compile(
        rf"\bi\s+(?:am\s+unable|cannot|can{_APOS}t)\s+(?:to\s+)?(?:determine|verify)\b",
        re.IGNORECASE,
    ),
    # 6. "no (specific|direct) information"
    re.compile(r"\bno\s+(?:specific\s+|direct\s+)?information\b", re.IGNORECASE),
    # 7. the whole word "unclear"
    re.compile(r"\bunclear\b", re.IGNORECASE),
    # 8. "insufficient information|context|data"
    re.compile(r"\binsufficient\s+(?:information|context|data)\b", re.IGNORECASE),
    # 9. "cannot be determined"
    re.compile(r"\bcannot\s+be\s+determined\b", re.IGNORECASE),
)


def is_refusal(text: str | None) -> bool:
    """True for an empty or whitespace-only answer, or when any refusal pattern matches."""
    if text is None or not text.strip():
        return True
    return any(p.search(text) for p in REFUSAL_PATTERNS)
