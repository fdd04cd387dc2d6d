"""Answers from a pipeline as a stream: retrieve and rerank first, then the generator's tokens.

Shared by ``fieldkit rag ask`` and ``fieldkit rag serve`` so a streamed answer and a whole one
see the same passages and the same grounded prompt (``Pipeline.build_messages``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from fieldkit.rag._pipeline import NO_CONTEXT_NOTE, NO_GENERATOR_NOTE, Pipeline
from fieldkit.rag._prompt import REFUSAL_SENTENCE
from fieldkit.rag._types import Chunk

__all__ = ["Passages", "chunk_json", "find_passages", "stream_answer"]


@dataclass
class Passages:
    """The passages an answer is grounded in, best first, with timings in ms (``retrieve``,
    ``rerank``, then ``first_token``, ``generate`` and ``end_to_end`` once streamed)."""

    question: str
    chunks: list[Chunk]
    timings_ms: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)


def find_passages(pipe: Pipeline, question: str, *, k: int, mode: str) -> Passages:
    """Retrieve ``max(2k, 8)`` candidates and keep the ``k`` best (reranked when configured)."""
    t0 = time.perf_counter()
    retrieved = pipe.retrieve(question, top_k=max(k * 2, 8), mode=mode)
    t1 = time.perf_counter()
    ranked = pipe.rerank(question, retrieved, top_k=k) if retrieved else []
    t2 = time.perf_counter()
    timings = {"retrieve": (t1 - t0) * 1000.0, "rerank": (t2 - t1) * 1000.0}
    return Passages(question, ranked, timings, t0)


def stream_answer(
    pipe: Pipeline, passages: Passages, *, max_tokens: int, temperature: float = 0.0
) -> Iterator[str]:
    """The answer's text deltas as the generator produces them; nothing without a generator,
    the refusal sentence without passages. The timings are complete once it is exhausted."""
    generator = pipe.generator
    timings = passages.timings_ms
    if generator is not None and not passages.chunks:
        yield REFUSAL_SENTENCE
    elif generator is not None:
        t0 = time.perf_counter()
        messages = pipe.build_messages(passages.question, passages.chunks)
        with generator.chat_stream(
            messages, max_tokens=max_tokens, temperature=temperature
        ) as stream:
            for i, delta in enumerate(stream):
                if i == 0:
                    timings["first_token"] = (time.perf_counter() - t0) * 1000.0
                yield delta
        timings["generate"] = (time.perf_counter() - t0) * 1000.0
    timings["end_to_end"] = (time.perf_counter() - passages.started) * 1000.0


def answer_note(pipe: Pipeline, passages: Passages) -> str | None:
    """Why an answer is missing or not generated (None when the generator answered)."""
    if pipe.generator is None:
        return NO_GENERATOR_NOTE
    if not passages.chunks:
        return NO_CONTEXT_NOTE
    return None


def chunk_json(rank: int, chunk: Chunk) -> dict[str, Any]:
    """The JSON form of a ranked chunk, with its source (and ``uri``) when it came from a
    file."""
    return {
        "rank": rank,
        "id": chunk.id,
        "score": chunk.score,
        "distance": chunk.distance,
        "label": chunk.label,
        "source": None if chunk.source is None else chunk.source.to_dict(),
        "text": chunk.text,
    }


def citations_json(chunks: Sequence[Chunk]) -> list[dict[str, Any]]:
    """``chunk_json`` of each chunk, ranked from 1."""
    return [chunk_json(i, c) for i, c in enumerate(chunks, 1)]


def place(chunk: Chunk, path: str | None = None) -> str:
    """Where a chunk can be opened, for people: ``path:120``, ``path#anchor``, ``path, page 7``
    (``path`` overrides the stored one); ``chunk <id>`` without a source."""
    from fieldkit._rag_client import place as source_place

    return source_place(None if chunk.source is None else chunk.source.to_dict(), chunk.id, path)


def sources_text(chunks: Sequence[Chunk]) -> str:
    """A ``Sources:`` block for a chat reply: one ``[n] place (uri)`` line per passage."""
    lines = ["Sources:"]
    for i, c in enumerate(chunks, 1):
        uri = f" <{c.source.uri}>" if c.source is not None else ""
        lines.append(f"[{i}] {place(c)}{uri}")
    return "\n".join(lines)
