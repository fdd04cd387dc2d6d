"""``BulkWriter``: the one path by which chunks reach the store (``ingest`` and
``ingest_paths`` both write through it).

It embeds a batch, writes it in one transaction (``Store.write_batch``: the documents' old
chunks are replaced, the lexical postings follow by trigger) and owns the HNSW policy: a load of
at least one full batch into an empty table drops the index and builds it once at the end
(many times faster than maintaining it per row); a table found without its index (a bulk load
killed mid-way) gets it rebuilt at the end. A failed write keeps every earlier batch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from types import TracebackType

import numpy as np
from numpy.typing import NDArray

from fieldkit.rag._embedders import Embedder, LocalEmbedder
from fieldkit.rag._store import Row, Store
from fieldkit.rag._types import RAGError

__all__ = ["PROGRESS_SLICE", "BulkWriter", "Pending"]

log = logging.getLogger("fieldkit.rag")

PROGRESS_SLICE = 64  # chunks per embedding call while someone watches the progress
# (chunk id, document id, chunk index, label, text)
Pending = tuple[int, int, int, str, str]


class BulkWriter:
    """Context manager: ``write(doc_ids, pending)`` per batch; ``close`` builds a deferred index.

    ``embed``: texts → vectors (passage side). ``embed_batch``: texts per embedding request
    (a local embedder gets the whole batch: it sorts by length and pads per mini-batch).
    """

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        embed: Callable[[Sequence[str]], NDArray[np.float32]],
        *,
        write_batch: int,
        embed_batch: int,
    ) -> None:
        self.store = store
        self.write_batch = write_batch
        self._embed = embed
        self._step = 0 if isinstance(embedder, LocalEmbedder) else max(embed_batch, 1)
        self.batches = 0
        self.chunks = 0
        self.embed_seconds = 0.0
        self.index_seconds = 0.0
        self.deferred = False
        self.bulk = False  # a load into an empty table: VACUUM ANALYZE at the end

    def __enter__(self) -> BulkWriter:
        return self.open()

    def open(self) -> BulkWriter:
        """Note a table found without its HNSW index, to rebuild it in ``close``."""
        if self.store.has_ann_index() is False:  # None: no table yet (the first write says so)
            log.warning(
                "table %s has no HNSW index (an interrupted bulk load?); this ingest rebuilds it",
                self.store.table.qualified,
            )
            self.deferred = True
        return self

    def write(
        self,
        doc_ids: Sequence[int],
        pending: Sequence[Pending],
        *,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Embed and store one batch: replaces the chunks of ``doc_ids`` by ``pending``.
        ``progress(n)`` is called with the chunks embedded so far (a watched local embedder
        gets slices of ``PROGRESS_SLICE`` so a long batch shows movement)."""
        if not doc_ids:
            return 0
        if (
            self.batches == 0
            and not self.deferred
            and len(pending) >= self.write_batch
            and self.store.is_empty()
        ):
            self.store.drop_ann_index()
            self.deferred = True
            self.bulk = True
        t0 = time.perf_counter()
        rows: list[Row] = []
        step = self._step or max(len(pending), 1)
        if progress is not None:
            step = min(step, PROGRESS_SLICE)
        for start in range(0, len(pending), step):
            part = pending[start : start + step]
            vectors = self._embed([p[4] for p in part])
            for (cid, doc_id, idx, label, text), vec in zip(part, vectors, strict=True):
                rows.append((cid, doc_id, idx, label, text, vec))
            if progress is not None:
                progress(len(rows))
        self.embed_seconds += time.perf_counter() - t0
        self.store.write_batch(list(doc_ids), rows)
        self.batches += 1
        self.chunks += len(rows)
        return len(rows)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(failed=exc_type is not None)

    def close(self, *, failed: bool = False) -> None:
        """Build the deferred HNSW index (and VACUUM ANALYZE after a bulk load into an empty
        table). After a failed load an index error is only logged:
        the load's own error is the one to report (retrieval warns until the next ingest or
        ``ensure_schema()`` rebuilds it)."""
        if not self.deferred:
            return
        self.deferred = False
        t0 = time.perf_counter()
        try:
            self.store.build_ann_index()
        except RAGError as err:
            self.index_seconds = time.perf_counter() - t0
            if not failed:
                raise
            log.warning(
                "could not build the HNSW index of %s after the failed ingest: %s",
                self.store.table.qualified,
                err,
            )
        if self.bulk and not failed:
            self.store.vacuum()
        self.index_seconds = time.perf_counter() - t0
