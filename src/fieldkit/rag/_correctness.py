"""Answer correctness for the RAG bench: is a gold answer string present in the model's answer?

Matching is on normalised word sequences (case-folded; letters and digit runs; punctuation and
spacing ignored), so "128GB", "128 GB" and "128-gb" all contain the gold "128 GB", while "arm"
does not match inside "alarm". A gold string with no letters or digits (e.g. ``<=>``) is
matched as a case-folded substring. Linear in the text length.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

__all__ = ["answer_contains", "normalise_answer"]

_WORDS = re.compile(r"\d+|[^\W\d_]+")


def normalise_answer(text: str) -> str:
    """*text* as space-separated lower-case words, digit runs split from letters."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_WORDS.findall(folded))


def answer_contains(answer: str | None, gold: Iterable[str]) -> bool:
    """True when any of the *gold* strings occurs in *answer* (normalised; see module doc)."""
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
