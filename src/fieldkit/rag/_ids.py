"""The published chunk-id scheme (``doc_id * 10_000 + i``), plus the checks that make its
collisions visible (pure).

A single-chunk document gets the id ``doc.id`` and chunk *i* of a multi-chunk document gets
``doc.id * CHUNKS_PER_DOC_MAX + i``, so document 1's first chunk and a single-chunk document
10000 share id 10000. We keep the ids (they are what users see as ``Chunk.id`` and cite as
``[id]``) but track which document owns each id so such a clash is refused, never overwritten.
"""

from __future__ import annotations

from fieldkit.rag._types import BIGINT_MAX, BIGINT_MIN, CHUNKS_PER_DOC_MAX, RAGError

__all__ = ["BIGINT_MAX", "BIGINT_MIN", "IdRegistry", "chunk_ids", "collision_message"]


def chunk_ids(doc_id: int, n_chunks: int) -> list[int]:
    """The ids of a document's ``n_chunks`` chunks, in the published numbering (so ids match
    tables written by other clients).

    Raises RAGError when the document has more than ``CHUNKS_PER_DOC_MAX`` chunks or an id
    would not fit a Postgres BIGINT.
    """
    if n_chunks < 0:
        raise ValueError("n_chunks must be >= 0")
    if n_chunks > CHUNKS_PER_DOC_MAX:
        raise RAGError(
            f"document {doc_id} produced {n_chunks} chunks; the limit is "
            f"{CHUNKS_PER_DOC_MAX} chunks per document (raise chunk_tokens or split it)"
        )
    base = doc_id * CHUNKS_PER_DOC_MAX
    ids = [doc_id] if n_chunks == 1 else [base + i for i in range(n_chunks)]
    for cid in ids:
        if not BIGINT_MIN <= cid <= BIGINT_MAX:
            raise RAGError(
                f"document {doc_id}: chunk id {cid} does not fit a BIGINT; "
                "use smaller document ids for multi-chunk documents"
            )
    return ids


class IdRegistry:
    """Chunk-id → owning document for one ``ingest`` call: refuses duplicates and clashes.

    Memory is a few ints per chunk (the text and vectors are not kept).
    """

    __slots__ = ("_docs", "_owner")

    def __init__(self) -> None:
        self._owner: dict[int, int] = {}
        self._docs: set[int] = set()

    def claim(self, doc_id: int, ids: list[int]) -> None:
        """Record that ``doc_id`` owns ``ids``; RAGError if the document was already given in
        this call or an id belongs to another document of this call."""
        if doc_id in self._docs:
            raise RAGError(
                f"document id {doc_id} appears twice in one ingest call; "
                "each document must be given once"
            )
        for cid in ids:
            other = self._owner.get(cid)
            if other is not None:
                raise RAGError(collision_message(cid, doc_id, other))
        self._docs.add(doc_id)
        for cid in ids:
            self._owner[cid] = doc_id


def collision_message(chunk_id: int, doc_id: int, other_doc: int) -> str:
    """The error text for a chunk-id clash between two documents."""
    return (
        f"chunk id {chunk_id} of document {doc_id} is already used by document {other_doc} "
        f"(id scheme: multi-chunk ids are doc_id * {CHUNKS_PER_DOC_MAX} + index); "
        f"refusing to overwrite it. Renumber one of the documents; document {doc_id} "
        "was not written"
    )
