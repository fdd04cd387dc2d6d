"""The 0.3.0 chunk-id scheme and the in-call collision registry (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldkit.rag import CHUNKS_PER_DOC_MAX, RAGError
from fieldkit.rag._ids import BIGINT_MAX, IdRegistry, chunk_ids


def test_single_chunk_keeps_doc_id() -> None:
    assert chunk_ids(42, 1) == [42]


def test_multi_chunk_ids_pinned() -> None:
    assert chunk_ids(7, 4) == [70000, 70001, 70002, 70003]


def test_zero_chunks() -> None:
    assert chunk_ids(3, 0) == []


def test_too_many_chunks_names_doc_and_limit() -> None:
    with pytest.raises(RAGError, match=r"document 9 .*10000"):
        chunk_ids(9, CHUNKS_PER_DOC_MAX + 1)
    assert len(chunk_ids(9, CHUNKS_PER_DOC_MAX)) == CHUNKS_PER_DOC_MAX


def test_bigint_overflow_is_refused() -> None:
    with pytest.raises(RAGError, match="BIGINT"):
        chunk_ids(BIGINT_MAX // 1000, 2)
    assert chunk_ids(BIGINT_MAX, 1) == [BIGINT_MAX]


def test_registry_refuses_the_0_3_0_collision() -> None:
    reg = IdRegistry()
    reg.claim(1, chunk_ids(1, 2))  # 10000, 10001
    with pytest.raises(RAGError, match=r"chunk id 10000 of document 10000 .* document 1"):
        reg.claim(10000, chunk_ids(10000, 1))


def test_registry_refuses_duplicate_documents() -> None:
    reg = IdRegistry()
    reg.claim(5, [5])
    with pytest.raises(RAGError, match="appears twice"):
        reg.claim(5, [5])


@settings(max_examples=200, deadline=None)
@given(
    docs=st.dictionaries(
        st.integers(min_value=-(10**6), max_value=10**6), st.integers(0, 30), max_size=12
    )
)
def test_registry_accepts_exactly_the_collision_free_sets(docs: dict[int, int]) -> None:
    """Claims succeed iff no id is shared; when they succeed, all ids are distinct."""
    reg = IdRegistry()
    claimed: list[int] = []
    failed = False
    for doc_id, n in docs.items():
        ids = chunk_ids(doc_id, n)
        clash = set(ids) & set(claimed)
        try:
            reg.claim(doc_id, ids)
        except RAGError:
            assert clash
            failed = True
            break
        assert not clash
        claimed.extend(ids)
    if not failed:
        assert len(claimed) == len(set(claimed))
