"""Citations that open: extracted spans → source line, HTML anchor, PDF page, file:// uri."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fieldkit.rag import Source
from fieldkit.rag._chunking import chunk_document
from fieldkit.rag._locate import Locator, source_uri
from fieldkit.rag._parsers import Mark, ParsedDoc, parse_text

HTML = (
    "<html><head><title>CREATE INDEX</title></head><body>\n"
    '<div class="navheader"><a href="x">Prev</a></div>\n'
    '<div class="refsynopsisdiv" id="SQL-CREATEINDEX-SYNOPSIS">\n'
    "<h2>Synopsis</h2>\n"
    "<pre>CREATE INDEX name ON table</pre>\n"
    "</div>\n"
    '<div class="refsect1" id="SQL-CREATEINDEX-DESCRIPTION">\n'
    "<h2>Description</h2>\n"
    "<p>CREATE INDEX constructs an index\n on the specified column(s).</p>\n"
    '<p>Indexes are <a id="inline-anchor"></a>used to speed up queries.</p>\n'
    "</div></body></html>\n"
)


def test_html_blocks_map_to_the_source_and_the_nearest_id() -> None:
    doc = parse_text(HTML, "html")
    locator = Locator(doc)
    found = {}
    for block in doc.blocks:
        at = locator.locate(block.start, block.end)
        # the source span starts at the block's own text, not at an offset of extracted text
        assert HTML[at.start :].startswith(block.text.split()[0])
        assert at.line == HTML.count("\n", 0, at.start) + 1
        assert at.end > at.start
        found[at.line] = at.anchor
    assert found == {
        5: "SQL-CREATEINDEX-SYNOPSIS",
        9: "SQL-CREATEINDEX-DESCRIPTION",
        11: "SQL-CREATEINDEX-DESCRIPTION",  # an id after the text's start is not its anchor
    }
    first = chunk_document(doc, 200)[-1]  # a chunk of both paragraphs: where the first starts
    assert Locator(doc).locate(first.start, first.end).line == 9


def test_html_ids_inside_navigation_are_not_anchors() -> None:
    html = '<nav id="menu"><p>Home</p></nav><p>Body text here.</p>'
    doc = parse_text(html, "html")
    assert Locator(doc).locate(0, 5).anchor == ""


def test_markdown_lines_are_source_lines() -> None:
    md = "# Title\n\nFirst paragraph.\n\n## Section\n\nSecond\nparagraph here.\n"
    doc = parse_text(md, "markdown")
    locator = Locator(doc)
    lines = [locator.locate(c.start, c.end).line for c in chunk_document(doc, 10)]
    assert lines == [3, 7, 8]  # the last paragraph is split at its line break


def test_pdf_pages() -> None:
    text = "page one text\n\npage two text"
    doc = ParsedDoc("t", text, kind="pdf", marks=[Mark(0, -1, page=1), Mark(15, -1, page=2)])
    locator = Locator(doc)
    assert locator.locate(0, 4).page == 1 and locator.locate(0, 4).line == 0
    assert locator.locate(16, 20).page == 2 and locator.locate(16, 20).start == 16


def test_uris() -> None:
    assert source_uri("/d/a b.md", line=120) == "file:///d/a%20b.md#L120"
    assert source_uri("/d/x.html", anchor="SQL-X") == "file:///d/x.html#SQL-X"
    assert source_uri("/d/x.pdf", page=7) == "file:///d/x.pdf#page=7"
    assert source_uri("/d/x.txt") == "file:///d/x.txt"
    src = Source(path="/d/x.pdf", page=3)
    assert src.uri == "file:///d/x.pdf#page=3" and src.to_dict()["uri"] == src.uri


_LINES = st.lists(
    st.text(alphabet="abc xyz.\t", min_size=0, max_size=30), min_size=1, max_size=30
).map("\n".join)


@settings(max_examples=60, deadline=None)
@given(_LINES, st.sampled_from(["text", "markdown", "rst", "code"]))
def test_text_formats_span_is_the_source_and_line_counts_newlines(text: str, kind: str) -> None:
    doc = parse_text(text, kind)
    locator = Locator(doc)
    for block in doc.blocks:
        at = locator.locate(block.start, block.end)
        assert text[at.start : at.end] == block.text
        assert at.line == text.count("\n", 0, at.start) + 1
