"""Answering from retrieved passages, step by step (what ``rag ask`` and ``rag serve`` use):
``find_passages`` retrieves (and reranks), ``stream_answer`` yields the answer's text as it is
generated, ``citations_json``/``chunk_json`` are the JSON forms of the sources, ``answer_note``
says why an answer may be missing or unsupported.
"""

from __future__ import annotations

from fieldkit.rag._answer import (
    Passages,
    answer_note,
    chunk_json,
    citations_json,
    find_passages,
    stream_answer,
)

__all__ = [
    "Passages",
    "answer_note",
    "chunk_json",
    "citations_json",
    "find_passages",
    "stream_answer",
]
