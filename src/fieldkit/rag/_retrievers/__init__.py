"""One retriever per ``RetrievalMode``, behind a registry keyed by the mode.

A retriever is a function ``(Request) -> list[Chunk]`` registered with ``@register(mode)`` in its
own module below; adding a mode is adding a module (and its name to ``RetrievalMode``).
"""

from __future__ import annotations

from fieldkit.rag._retrievers import dense, hybrid, lexical  # noqa: F401  (they register)
from fieldkit.rag._retrievers._base import RETRIEVERS, Request, Retriever, register, retriever_for

__all__ = ["RETRIEVERS", "Request", "Retriever", "register", "retriever_for"]
