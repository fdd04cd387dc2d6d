"""Parsers, structure-aware chunking, BM25 and document-level fusion (pure logic)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldkit.rag import document_fusion
from fieldkit.rag._chunking import chunk_document, context_line, estimate_tokens
from fieldkit.rag._lexical import Bm25Index
from fieldkit.rag._parsers import ParseError, decode, kind_of, parse_bytes, parse_text

MD = """# Guide

Intro paragraph about the guide.

## Install

Run the installer.

```python
def install():
    return 42
```

## Use

### Ask

Ask a question.
"""


def test_markdown_blocks_carry_heading_path_span_and_code() -> None:
    doc = parse_text(MD, "markdown", name="guide")
    assert doc.title == "Guide"
    by_text = {b.text.splitlines()[0]: b for b in doc.blocks}
    assert by_text["Intro paragraph about the guide."].heading == ("Guide",)
    fence = by_text["```python"]
    assert fence.code and fence.heading == ("Guide", "Install")
    assert by_text["Ask a question."].heading == ("Guide", "Use", "Ask")
    for b in doc.blocks:
        assert doc.text[b.start : b.end] == b.text


def test_html_skips_navigation_and_scripts_and_keeps_headings() -> None:
    html = (
        "<html><head><title>9.4. String Functions</title><style>p{}</style></head><body>"
        '<div class="navheader"><a>Prev</a> Next</div><nav>menu</nav>'
        "<h1>String Functions</h1><p>Functions for   text.</p><script>var x=1;</script>"
        "<h2>concat</h2><pre>SELECT concat('a', 'b');\n-- ab</pre><p>Caf&eacute; &amp; more</p>"
        '<div role="navigation">footer links</div></body></html>'
    )
    doc = parse_text(html, "html")
    assert doc.title == "9.4. String Functions"
    texts = [b.text for b in doc.blocks]
    assert "Functions for text." in texts
    assert "Café & more" in texts
    assert not any("Prev" in t or "menu" in t or "var x" in t or "footer" in t for t in texts)
    pre = next(b for b in doc.blocks if b.code)
    assert pre.text == "SELECT concat('a', 'b');\n-- ab"
    assert pre.heading == ("String Functions", "concat")
    for b in doc.blocks:
        assert doc.text[b.start : b.end] == b.text


def test_rst_headings_by_underline() -> None:
    rst = "Title\n=====\n\nFirst para.\n\nSection\n-------\n\nSecond para.\n"
    doc = parse_text(rst, "rst")
    assert doc.title == "Title"
    assert [(b.heading, b.text) for b in doc.blocks] == [
        (("Title",), "First para."),
        (("Title", "Section"), "Second para."),
    ]


def test_decode_refuses_binary_and_reads_latin1() -> None:
    with pytest.raises(ParseError, match="binary"):
        decode(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    assert decode("café\r\nok".encode("latin-1")) == "café\nok"
    assert decode("\ufeffhello".encode()) == "hello"


def test_broken_pdf_is_a_parse_error() -> None:
    pytest.importorskip("pypdf")
    with pytest.raises(ParseError, match="PDF"):
        parse_bytes(b"%PDF-1.4\n this is not really a pdf", "pdf", name="x")


def test_kind_of_suffixes() -> None:
    from pathlib import Path

    assert kind_of(Path("a.MD")) == "markdown"
    assert kind_of(Path("a.htm")) == "html"
    assert kind_of(Path("a.py")) == "code"
    assert kind_of(Path("a.bin")) is None


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=600))
def test_markdown_spans_index_the_text(text: str) -> None:
    doc = parse_text(text, "markdown")
    for b in doc.blocks:
        assert doc.text[b.start : b.end] == b.text


_words = st.lists(
    st.text(alphabet="abcdefghij .\n#`", min_size=1, max_size=40), min_size=0, max_size=40
)


@settings(max_examples=80, deadline=None)
@given(_words, st.integers(min_value=12, max_value=80))
def test_chunks_never_exceed_the_budget(parts: list[str], budget: int) -> None:
    text = "\n\n".join(parts)
    doc = parse_text(text, "markdown", name="T")
    for c in chunk_document(doc, budget):
        assert estimate_tokens([c.text])[0] <= budget, c.text


def test_chunking_follows_headings_and_splits_oversize_blocks() -> None:
    doc = parse_text(MD + "\n" + "word " * 500 + "\n", "markdown", name="guide")
    chunks = chunk_document(doc, 60)
    for c in chunks:
        assert estimate_tokens([c.text])[0] <= 60
        assert c.text.startswith(context_line("Guide", c.heading))
    headings = [c.heading for c in chunks]
    assert ("Guide", "Install") in headings and ("Guide", "Use", "Ask") in headings
    assert sum(1 for c in chunks if c.heading == ("Guide", "Use", "Ask")) > 5  # split, kept


def test_chunking_with_the_real_tokenizer(local_embedder) -> None:  # type: ignore[no-untyped-def]
    budget = local_embedder.max_tokens
    assert budget == 254
    doc = parse_text(MD + "\n" + "tokenization " * 900, "markdown", name="guide")
    chunks = chunk_document(doc, budget, local_embedder.count_tokens)
    counts = local_embedder.count_tokens([c.text for c in chunks])
    assert max(counts) <= budget and len(chunks) >= 4


def test_bm25_scores_match_the_formula() -> None:
    rows = [
        (1, 1, "", ["cat", "dog"], [2, 1]),
        (2, 2, "x", ["dog"], [1]),
        (3, 3, "", ["bird"], [3]),
    ]
    idx = Bm25Index.build(rows)
    n, avgdl, k1, b = 3, (3 + 1 + 3) / 3, 1.5, 0.75
    idf_cat = math.log(1 + (n - 1 + 0.5) / (1 + 0.5))
    want = idf_cat * 2 * (k1 + 1) / (2 + k1 * (1 - b + b * 3 / avgdl))
    hits = idx.search(["cat"], 5)
    assert hits[0][0] == 1 and hits[0][1] == pytest.approx(want, rel=1e-5)
    assert [h[0] for h in idx.search(["dog"], 5)] == [2, 1]  # shorter chunk first
    assert idx.search(["dog"], 5, labels=["x"]) == [
        (2, pytest.approx(idx.search(["dog"], 1)[0][1]))
    ]
    assert idx.search(["fish"], 5) == []
    assert Bm25Index.build([]).search(["cat"], 3) == []


def test_bm25_rare_terms_outweigh_common_ones() -> None:
    rows = [(i, i, "", ["the", "common"], [5, 1]) for i in range(1, 50)]
    rows.append((99, 99, "", ["the", "zorblax"], [1, 1]))
    idx = Bm25Index.build(rows)
    assert idx.search(["common", "zorblax"], 1)[0][0] == 99


def test_document_fusion_prefers_a_document_both_legs_rank_first() -> None:
    doc_of = {"a1": "A", "a2": "A", "b1": "B", "c1": "C"}
    dense = ["a1", "b1", "c1"]
    lexical = ["b1", "a2", "c1"]
    # chunk-level RRF: b1 (1/62+1/61) beats a1 (1/61) and a2 (1/62)
    assert document_fusion([dense, lexical], doc_of)[0] in ("a1", "b1")
    dense = ["a1", "c1", "b1"]
    lexical = ["a2", "b1", "c1"]
    out = document_fusion([dense, lexical], doc_of)
    assert out[0] in ("a1", "a2") and out[1] in ("b1", "c1")
    assert sorted(out) == sorted(doc_of)


@given(
    st.lists(st.lists(st.integers(0, 30), max_size=15, unique=True), min_size=1, max_size=3),
    st.integers(1, 5),
)
def test_document_fusion_is_a_permutation_with_distinct_documents_first(
    rankings: list[list[int]], docs: int
) -> None:
    doc_of = {k: k % docs for r in rankings for k in r}
    out = document_fusion(rankings, doc_of)
    assert sorted(out) == sorted(doc_of)
    n_docs = len(set(doc_of.values()))
    assert len({doc_of[k] for k in out[:n_docs]}) == n_docs


def test_identifier_terms_keep_underscored_names_whole() -> None:
    from fieldkit.rag._lexical import identifier_terms, with_identifiers

    assert identifier_terms("See pg_stat_activity and PG_STAT_ACTIVITY, not pg.") == {
        "pg_stat_activity": 2
    }
    row = with_identifiers((7, 1, "", ["pg", "stat"], [1, 1], "pg_stat"))
    assert row == (7, 1, "", ["pg", "stat", "pg_stat"], [1, 1, 1])
    rows = [
        with_identifiers((1, 1, "", ["pg", "depend"], [1, 1], "pg_depend")),
        with_identifiers((2, 2, "", ["pg", "depend", "class"], [1, 1, 1], "pg class depend")),
    ]
    idx = Bm25Index.build(rows)
    assert idx.search(["pg", "depend", *identifier_terms("pg_depend")], 2)[0][0] == 1


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab0_ .-Z", max_size=40))
def test_identifier_terms_match_the_plain_pattern(text: str) -> None:
    import re
    from collections import Counter

    from fieldkit.rag._lexical import identifier_terms

    plain = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)+")  # the definition; backtracks on long runs
    assert identifier_terms(text) == Counter(plain.findall(text.lower()))


def test_a_heading_longer_than_the_budget_does_not_overflow_chunks() -> None:
    """A context line (title › headings) too long for the budget is shortened, not sent whole:
    the embedder would otherwise truncate the chunk's body silently."""
    text = "# " + " ".join(f"w{i}" for i in range(60)) + "\n\nThe body about quokkas.\n"
    doc = parse_text(text, "markdown", name="T")
    chunks = chunk_document(doc, 40)
    assert chunks and any("quokkas" in c.text for c in chunks)
    for c in chunks:
        assert estimate_tokens([c.text])[0] <= 40, c.text
