"""The BM25 index in Postgres on hostile text: very long identifiers, characters whose
lower case differs between Python and Postgres, quotes, NUL, empty and stop-word queries; and
the SQL ranking against the in-memory reference on random small corpora."""

from __future__ import annotations

import itertools
import secrets
import threading
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fieldkit.rag import Document, Pipeline
from tests.rag.test_lexical_index import _agrees, _Hash, _query_terms, _reference


@pytest.fixture
def hpipe(make_pipe: Callable[..., Pipeline]) -> Pipeline:
    p = make_pipe(embedder=_Hash(), write_batch=16)
    p.ensure_schema()
    return p


def test_a_very_long_identifier_does_not_break_ingest(hpipe: Pipeline) -> None:
    long_ident = "_".join(secrets.token_hex(8) for _ in range(400))  # ~6.8k chars, incompressible
    hpipe.ingest([Document(1, f"blob {long_ident} end"), Document(2, "short_name here")])
    _agrees(hpipe)
    assert [c.doc_id for c in hpipe.retrieve("short_name", top_k=3, mode="lexical")] == [2]
    assert hpipe.retrieve(long_ident, top_k=3, mode="lexical")[0].doc_id == 1


def test_non_ascii_case_agrees_with_the_reference(hpipe: Pipeline) -> None:
    # KELVIN SIGN lower-cases to ASCII "k" in Python; Postgres's lower() may leave it alone
    text = "\u212a_value and \u0130_x and ÄÖ_ÜÉ plain_ok"
    hpipe.ingest([Document(1, text), Document(2, "nothing here")])
    _agrees(hpipe)
    for q in ("\u212a_value", "k_value", "plain_ok", "\u0130_x"):
        want = _reference(hpipe).search(_query_terms(hpipe, q), 5)
        got = [c.id for c in hpipe.retrieve(q, top_k=5, mode="lexical")]
        assert got == [cid for cid, _ in want], q


@pytest.mark.parametrize("query", ["", "   ", "the and of", "'", "'; DROP TABLE x; --", "\\", "%s"])
def test_empty_stop_word_and_quoted_queries(hpipe: Pipeline, query: str) -> None:
    hpipe.ingest([Document(1, "it's the o'reilly book; DROP TABLE x; -- and %s \\ things")])
    got = hpipe.retrieve(query, top_k=5, mode="lexical")
    want = _reference(hpipe).search(_query_terms(hpipe, query), 5)
    assert [c.id for c in got] == [cid for cid, _ in want]
    assert hpipe.count() == 1


def test_nul_in_a_query_separates_words(hpipe: Pipeline) -> None:
    hpipe.ingest([Document(1, "some text"), Document(2, "other words")])
    assert [c.doc_id for c in hpipe.retrieve("some\x00text", top_k=3, mode="lexical")] == [1]


_WORDS = [
    "postgres", "vector", "Vectors", "running", "runs", "the", "and", "of", "it's", "o'reilly",
    "naïve", "café", "ÜBER", "日本語", "work_mem", "pg_stat_activity", "A_B", "x_1_y", "--",
    "%s", "\\", "'", '"', "ß", "straße", "🙂", "1234", "v2_0",
]  # fmt: skip

_texts = st.lists(st.sampled_from(_WORDS), min_size=0, max_size=12).map(" ".join)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    corpus=st.lists(_texts, min_size=1, max_size=8),
    queries=st.lists(_texts, min_size=1, max_size=3),
)
def test_sql_bm25_matches_the_reference_on_random_corpora(
    hpipe: Pipeline, corpus: list[str], queries: list[str]
) -> None:
    """Scores equal to the in-memory BM25 (float32 there), order by score then id."""
    hpipe.store.drop()
    hpipe.ensure_schema()
    hpipe.ingest([Document(i + 1, t or "-") for i, t in enumerate(corpus)])
    _agrees(hpipe)
    ref = _reference(hpipe)
    for q in queries:
        terms = _query_terms(hpipe, q)
        scores = dict(ref.search(terms, len(corpus)))  # every chunk the query matches
        want = ref.search(terms, 5)
        got = [c.id for c in hpipe.retrieve(q, top_k=5, mode="lexical")]
        assert len(got) == len(want) and set(got) <= set(scores), q
        # same order wherever the scores differ by more than float32 rounding
        for a, b in itertools.pairwise(got):
            assert scores[a] > scores[b] - 1e-4, q
        assert {cid for cid, s in want if s > want[-1][1] + 1e-4} <= set(got), q


def test_ties_at_the_cut_go_to_the_lowest_ids(hpipe: Pipeline) -> None:
    """Identical chunks score exactly alike: the ``k`` kept are the lowest ids, in SQL and in
    the in-memory reference."""
    hpipe.ingest([Document(i, "walrus tusk" if i % 3 == 1 else "walrus") for i in range(1, 7)])
    ref = _reference(hpipe)
    want = [2, 3, 5]  # 2, 3, 5, 6 tie (shorter); 1 and 4 score lower
    assert [cid for cid, _ in ref.search(_query_terms(hpipe, "walrus"), 3)] == want
    assert [c.id for c in hpipe.retrieve("walrus", top_k=3, mode="lexical")] == want


def test_concurrent_ingests_of_the_same_documents_keep_the_index_in_agreement(
    make_pipe: Callable[..., Pipeline],
) -> None:
    """Writers replacing the same documents at once (the statistics row every write updates):
    no deadlock or duplicate, and the postings match whichever version was written last."""
    first = make_pipe(embedder=_Hash(), write_batch=8)
    first.ensure_schema()
    others = [make_pipe(embedder=_Hash(), write_batch=8) for _ in range(3)]
    errors: list[BaseException] = []

    def load(p: Pipeline, n: int) -> None:
        try:
            for round_ in range(3):
                p.ingest(
                    Document(i, f"writer {n} round {round_} doc{i} shared_term")
                    for i in range(1, 41)
                )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=load, args=(p, n)) for n, p in enumerate(others)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert first.count() == 40
    _agrees(first)
    assert len(first.retrieve("shared_term", top_k=50, mode="lexical")) == 40
