"""Property tests against the real store: re-ingest always replaces, lexical never breaks."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fieldkit.nim import chunk_text
from fieldkit.rag import Document, Pipeline
from fieldkit.rag._ids import chunk_ids

WORDS = st.sampled_from(["gpu", "memory", "spark", "vector", "index", "token", "lora", "ab"])
PARAGRAPH = st.lists(WORDS, min_size=1, max_size=12).map(" ".join)
TEXT = st.lists(PARAGRAPH, min_size=0, max_size=4).map("\n\n".join)


@pytest.fixture
def prop_pipe(make_pipe: Callable[..., Pipeline]) -> Pipeline:
    p = make_pipe()
    p.ensure_schema()
    return p


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(versions=st.lists(st.dictionaries(st.integers(1, 6), TEXT, max_size=4), max_size=4))
def test_table_always_holds_exactly_the_latest_version(
    prop_pipe: Pipeline, pg_dsn: str, versions: list[dict[int, str]]
) -> None:
    prop_pipe.drop_table()
    prop_pipe.ensure_schema()
    latest: dict[int, str] = {}
    for version in versions:
        docs = [Document(doc_id, text) for doc_id, text in version.items()]
        written = prop_pipe.ingest(docs, chunk_tokens=8)
        latest.update(version)
        expected_written = sum(
            len([c for c in chunk_text(t, max_tokens=8) if c.strip()]) for t in version.values()
        )
        assert written == expected_written
    expected: list[tuple[int, int, int, str]] = []
    for doc_id, text in latest.items():
        pieces = [c for c in chunk_text(text, max_tokens=8) if c.strip()]
        for idx, (cid, piece) in enumerate(
            zip(chunk_ids(doc_id, len(pieces)), pieces, strict=True)
        ):
            expected.append((cid, doc_id, idx, piece))
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute(
            f'SELECT id, doc_id, chunk_index, text FROM "{prop_pipe.table}" ORDER BY id'
        ).fetchall()
    assert rows == sorted(expected)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(query=st.text(max_size=40))
def test_lexical_and_hybrid_never_fail_on_any_query(prop_pipe: Pipeline, query: str) -> None:
    query = query + "\x00" if len(query) % 3 == 0 else query  # NUL cannot reach Postgres
    if not prop_pipe.count():
        prop_pipe.ingest([Document(1, "gpu memory spark"), Document(2, "vector index token")])
    for mode in ("lexical", "hybrid"):
        got = prop_pipe.retrieve(query, top_k=2, mode=mode)
        assert len(got) <= 2
        assert {c.id for c in got} <= {1, 2}
