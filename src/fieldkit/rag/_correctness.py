"""Answer correctness for the RAG bench, made hard to game by copying.

``grade_answer`` gives each answer one verdict:

- ``right``: a gold string occurs in the answer outside any span copied from the passages the
  model was shown (a run of ``COPY_WORDS`` or more consecutive words shared with a passage),
  and it is not merely a word of the question echoed back ("half" in "half-precision");
- ``copied``: the gold string occurs only inside copied spans, or most of the answer is
  passage text (the model pasted its context instead of answering);
- ``refused``: the answer declines (``is_decline``) - right for a question the corpus cannot
  answer, not credited for one it can;
- ``wrong``: anything else, including an invented answer to an out-of-corpus question.

Matching is on normalised word sequences (case-folded; letters and numbers, a decimal point kept
inside a number; other punctuation and spacing ignored), so "128GB", "128 GB" and "128-gb" all
contain the gold "128 GB", while "arm" does not match inside "alarm" nor "5 GB" inside "3.5 GB".
A gold string with no letters or digits (e.g. ``<=>``) is matched as a case-folded substring,
and counts only outside the copied runs (widened to their neighbouring words).
Every step is linear in the text lengths.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from fieldkit.eval import is_refusal

__all__ = [
    "COPIED_SHARE",
    "COPY_WORDS",
    "VERDICTS",
    "Grade",
    "Verdict",
    "answer_contains",
    "copied_mask",
    "grade_answer",
    "is_decline",
    "normalise_answer",
]

# A decimal number ("3.5", "1.2.3") is one word: "5 GB" must not match inside "3.5 GB".
_WORDS = re.compile(r"\d+(?:\.\d+)*|[^\W\d_]+")
# Declines that fieldkit.eval's refusal catalogue does not list, seen from small models:
# "the provided context passages do not contain ...", "... are not related to the question".
_DECLINES = re.compile(
    r"\b(?:context|passages?|documents?|sources?)\s+(?:do|does|did)\s+not\s+"
    r"(?:contain|include|mention|cover|answer|say)\b"
    r"|\bnot\s+(?:related|relevant|applicable)\s+to\s+the\s+question\b",
    re.IGNORECASE,
)

#: Consecutive words shared with a passage that make a span "copied".
COPY_WORDS: Final = 8
#: Share of an answer's words that, copied, make the whole answer ``copied``.
COPIED_SHARE: Final = 0.5

Verdict = Literal["right", "wrong", "copied", "refused"]
VERDICTS: Final[tuple[Verdict, ...]] = ("right", "wrong", "copied", "refused")


@dataclass(frozen=True, slots=True)
class Grade:
    """One answer's verdict, why, and the share of its words copied from the passages."""

    verdict: Verdict
    reason: str
    copied_share: float = 0.0


def is_decline(text: str | None) -> bool:
    """An empty answer, a refusal (``fieldkit.eval.is_refusal``), or a decline that points at
    the passages ("the passages do not contain ...", "not related to the question")."""
    return not text or is_refusal(text) or bool(_DECLINES.search(text))


def normalise_answer(text: str) -> str:
    """*text* as space-separated lower-case words, digit runs split from letters."""
    return " ".join(_words(text))


def _words(text: str) -> list[str]:
    return _WORDS.findall(unicodedata.normalize("NFKC", text).casefold())


def answer_contains(answer: str | None, gold: Iterable[str]) -> bool:
    """True when any of the *gold* strings occurs anywhere in *answer* (normalised; see module
    doc). Plain containment: ``grade_answer`` is the measure that copying cannot fool."""
    if not answer:
        return False
    norm = f" {normalise_answer(answer)} "
    raw = unicodedata.normalize("NFKC", answer).casefold()
    for g in gold:
        want = normalise_answer(g)
        if want and f" {want} " in norm:
            return True
        if not want and g.strip() and unicodedata.normalize("NFKC", g).casefold() in raw:
            return True
    return False


def copied_mask(words: Sequence[str], passages: Iterable[str], n: int = COPY_WORDS) -> list[bool]:
    """For each word of an answer, whether it lies in a run of ``n`` or more consecutive words
    that also occurs in one of *passages* (normalised). Hashing n-grams: linear time."""
    grams: set[tuple[str, ...]] = set()
    for passage in passages:
        pw = _words(passage)
        grams.update(tuple(pw[i : i + n]) for i in range(len(pw) - n + 1))
    mask = [False] * len(words)
    for i in range(len(words) - n + 1):
        if tuple(words[i : i + n]) in grams:
            for j in range(i, i + n):
                mask[j] = True
    return mask


def _occurrences(words: Sequence[str], want: Sequence[str]) -> Iterable[int]:
    """Start positions of *want* in *words* (word-aligned; linear for the short gold strings)."""
    k = len(want)
    first = want[0]
    for i, w in enumerate(words):
        if w == first and list(words[i : i + k]) == list(want):
            yield i


def _echoes_question(
    words: Sequence[str], start: int, want: Sequence[str], question: Sequence[str]
) -> bool:
    """The gold words are all question words, and this occurrence sits in a phrase the question
    has too (the gold plus a neighbouring word): the answer repeats the question."""
    if not question or not set(want) <= set(question):
        return False
    k = len(want)
    q = f" {' '.join(question)} "
    before = words[start - 1 : start + k] if start > 0 else []
    after = words[start : start + k + 1] if start + k < len(words) else []
    return any(len(p) == k + 1 and f" {' '.join(p)} " in q for p in (before, after))


def _copied_spans(
    found: Sequence[re.Match[str]], mask: Sequence[bool], end: int
) -> list[tuple[int, int]]:
    """Character spans of the copied word runs, each widened to the neighbouring words, so
    the symbols between copied words (and at a run's edge) count as copied too."""
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(mask):
        if not mask[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(mask) and mask[j + 1]:
            j += 1
        lo = found[i - 1].end() if i > 0 else 0
        hi = found[j + 1].start() if j + 1 < len(found) else end
        spans.append((lo, hi))
        i = j + 1
    return spans


def _finds(text: str, sub: str) -> Iterable[int]:
    """Start positions of *sub* in *text*."""
    i = text.find(sub)
    while i >= 0:
        yield i
        i = text.find(sub, i + 1)


def _within(spans: Sequence[tuple[int, int]], start: int, size: int) -> bool:
    """Whether ``[start, start + size)`` lies inside one of the sorted *spans*."""
    k = bisect.bisect_right(spans, start, key=lambda span: span[0]) - 1
    return k >= 0 and spans[k][0] <= start and start + size <= spans[k][1]


def grade_answer(
    answer: str | None,
    gold: Iterable[str],
    passages: Iterable[str] = (),
    question: str = "",
    *,
    in_corpus: bool = True,
    copy_words: int = COPY_WORDS,
    copied_share: float = COPIED_SHARE,
) -> Grade:
    """The verdict on *answer* to *question*, given its *gold* strings and the *passages* the
    model was shown (see module doc). An out-of-corpus question has no gold: refusing is its
    right answer, reported as ``refused``; anything else is ``wrong`` (or ``copied``)."""
    if copy_words <= 0:
        raise ValueError(f"copy_words must be positive, got {copy_words}")
    text = answer or ""
    norm = unicodedata.normalize("NFKC", text).casefold()
    found = list(_WORDS.finditer(norm))
    words = [m.group() for m in found]
    mask = copied_mask(words, list(passages), copy_words) if words else []
    share = sum(mask) / len(words) if words else 0.0
    q_words = _words(question)
    inside_copy: str | None = None
    if in_corpus:
        for g in gold:
            want = _words(g)
            if not want:  # a symbol-only gold string: substring match, not word-aligned
                raw = unicodedata.normalize("NFKC", g).casefold()
                if not g.strip() or raw not in norm:
                    continue
                copied = _copied_spans(found, mask, len(norm))
                if any(not _within(copied, i, len(raw)) for i in _finds(norm, raw)):
                    return Grade("right", f"contains {g!r} outside copied text", share)
                inside_copy = inside_copy or g
                continue
            for start in _occurrences(words, want):
                if any(mask[start : start + len(want)]):
                    inside_copy = inside_copy or g
                elif not _echoes_question(words, start, want, q_words):
                    return Grade("right", f"says {g!r} in its own words", share)
    if not words or is_decline(text):
        return Grade("refused", "declines to answer", share)
    if inside_copy is not None:
        return Grade("copied", f"{inside_copy!r} only inside text copied from a passage", share)
    if share >= copied_share:
        return Grade("copied", f"{share:.0%} of the answer is passage text", share)
    if not in_corpus:
        return Grade("wrong", "answers a question the corpus cannot answer", share)
    return Grade("wrong", "no gold answer outside copied or echoed text", share)
