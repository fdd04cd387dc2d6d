"""Table-name validation and quoting: a hostile name is an error, never SQL."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldkit.rag import RAGError, parse_table_name
from fieldkit.rag._sql import dense_query, lexical_query

HOSTILE = [
    "chunks; DROP TABLE users",
    'chunks"; DROP TABLE users; --',
    "chunks--",
    "a b",
    "1chunks",
    "",
    "a.b.c",
    "x" * 64,
    "chunks\x00",
    "ch'unks",
    "schema.",
    ".table",
    "tåble",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_are_refused(name: str) -> None:
    with pytest.raises(RAGError, match="invalid table name"):
        parse_table_name(name)


def test_non_string_is_refused() -> None:
    with pytest.raises(RAGError, match="must be a string"):
        parse_table_name(123)


def test_names_fold_to_lower_case_like_unquoted_postgres() -> None:
    t = parse_table_name("My_Chunks")
    assert (t.schema, t.name) == (None, "my_chunks")
    q = parse_table_name("Public.Chunks")
    assert (q.schema, q.name, q.qualified) == ("public", "chunks", "public.chunks")


def test_statements_quote_the_identifier() -> None:
    t = parse_table_name("fk_docs")
    assert '"fk_docs"' in dense_query(t, labels=False).as_string(None)
    assert '"fk_docs"' in lexical_query(t, labels=True, with_distance=True).as_string(None)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_accepted_name_is_a_plain_identifier(name: str) -> None:
    try:
        t = parse_table_name(name)
    except RAGError:
        return
    for part in [t.schema, t.name]:
        if part is not None:
            assert re.fullmatch(r"[a-z_][a-z0-9_]*", part)
            assert len(part) <= 63
    for kind in ("hnsw", "tsv", "doc", "label"):
        assert len(t.index(kind).as_string(None).strip('"')) <= 63


def test_index_names_differ_between_long_table_names() -> None:
    a = parse_table_name("a" * 60 + "x")
    b = parse_table_name("a" * 60 + "y")
    assert a.index("hnsw").as_string(None) != b.index("hnsw").as_string(None)
