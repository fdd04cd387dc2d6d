"""The strict-context system prompt and the grounded message builder (pure).

The user message layout is the published API's: ``Context passages:`` then one
``[id] (label) text`` line per chunk, then ``Question: ...``. Line breaks inside a
passage or label are folded to spaces so a passage cannot forge another ``[id]`` line or a
``Question:`` line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from fieldkit.rag._types import Chunk

__all__ = ["DEFAULT_SYSTEM_PROMPT", "REFUSAL_SENTENCE", "build_messages", "format_passage"]

REFUSAL_SENTENCE = "The provided context does not contain the answer."

DEFAULT_SYSTEM_PROMPT = (
    "You are a careful assistant. Answer the question using ONLY the provided context "
    "passages. Each passage is prefixed by its row id in square brackets, for example [123]. "
    "If the answer is in the context, state it plainly and cite the ids of the passages you "
    "used in a final line of the form 'Sources: [id, id]'. If the context does not contain "
    f"the answer, reply with exactly this single sentence: {REFUSAL_SENTENCE} "
    "Never fall back to general knowledge."
)

_LINE_BREAKS = re.compile(r"[\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029]+")


def _one_line(text: str) -> str:
    """Each run of line breaks, with the whitespace around it, becomes one space.

    Split-and-strip rather than a ``\\s*<break>\\s*`` pattern: that one backtracks over every
    run of spaces not followed by a break (quadratic time on 40 KB of spaces).
    """
    parts = _LINE_BREAKS.split(text)
    if len(parts) == 1:
        return text
    middle = [p.strip() for p in parts[1:-1]]
    return " ".join([parts[0].rstrip(), *(m for m in middle if m), parts[-1].lstrip()])


def format_passage(chunk: Chunk) -> str:
    """``[id] (label) text`` (or ``[id] text`` without a label), on exactly one line."""
    text = _one_line(chunk.text)
    if chunk.label:
        return f"[{chunk.id}] ({_one_line(chunk.label)}) {text}"
    return f"[{chunk.id}] {text}"


def build_messages(system_prompt: str, query: str, chunks: Sequence[Chunk]) -> list[dict[str, Any]]:
    """The two chat messages (system, user) that ground the generator in ``chunks``."""
    block = "\n".join(format_passage(c) for c in chunks)
    return [
        {"role": "system", "content": system_prompt},
        {"role": "user", "content": f"Context passages:\n{block}\n\nQuestion: {query}"},
    ]
