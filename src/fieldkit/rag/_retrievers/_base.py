"""The retriever registry and the request every retriever receives."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from fieldkit.rag._config import PipelineConfig
from fieldkit.rag._store import Store
from fieldkit.rag._types import RETRIEVAL_MODES, Chunk

__all__ = ["RETRIEVERS", "Request", "Retriever", "register", "retriever_for"]


@dataclass
class Request:
    """One retrieval: the query, how many chunks, an optional label filter, the store, the
    configuration, and the query embedding (computed at most once, on first ``vector()``)."""

    query: str
    k: int
    labels: list[str] | None
    store: Store
    config: PipelineConfig
    embed_query: Callable[[str], NDArray[np.float32]]
    embed_ms: float = 0.0
    _vector: NDArray[np.float32] | None = field(default=None, repr=False)

    def vector(self) -> NDArray[np.float32]:
        """The query's embedding (timed into ``embed_ms``)."""
        if self._vector is None:
            t0 = time.perf_counter()
            self._vector = self.embed_query(self.query)
            self.embed_ms += (time.perf_counter() - t0) * 1000.0
        return self._vector

    @property
    def has_vector(self) -> bool:
        """Whether the query was embedded already (lexical hits then carry a distance)."""
        return self._vector is not None

    def sub(self, k: int) -> Request:
        """The same request for ``k`` chunks, sharing the query embedding."""
        other = Request(self.query, k, self.labels, self.store, self.config, self.embed_query)
        other._vector = self._vector
        return other


Retriever = Callable[[Request], list[Chunk]]

RETRIEVERS: dict[str, Retriever] = {}


def register(mode: str) -> Callable[[Retriever], Retriever]:
    """Register ``fn`` as the retriever of ``mode`` (one of ``RETRIEVAL_MODES``)."""
    if mode not in RETRIEVAL_MODES:
        raise ValueError(f"unknown retrieval mode {mode!r}; add it to RetrievalMode first")

    def deco(fn: Retriever) -> Retriever:
        RETRIEVERS[mode] = fn
        return fn

    return deco


def retriever_for(mode: str) -> Retriever:
    """The retriever of ``mode``; ValueError naming the known modes otherwise."""
    fn = RETRIEVERS.get(mode) if isinstance(mode, str) else None
    if fn is None:
        raise ValueError(f"mode must be one of {', '.join(RETRIEVAL_MODES)}; got {mode!r}")
    return fn
