"""Extracted-text spans → places in the source file a reader can open (pure).

A chunk's span indexes the parser's extracted text; ``Locator.locate`` turns it into the source
character span, the 1-based source line (text formats and HTML), the nearest preceding HTML
``id`` anchor and the PDF page, and ``source_uri`` into ``file:///…#L12`` / ``#anchor`` /
``#page=3``.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from fieldkit.rag._parsers import ParsedDoc

__all__ = ["Location", "Locator", "source_uri"]


@dataclass(frozen=True, slots=True)
class Location:
    """Where a span sits in its source: character span (extracted-text span for PDFs), line
    (0: unknown), anchor ("" : none) and page (0: none)."""

    start: int
    end: int
    line: int = 0
    anchor: str = ""
    page: int = 0


class Locator:
    """Maps spans of one parsed document; built once per document (O(size)), O(log n) a span."""

    def __init__(self, doc: ParsedDoc) -> None:
        self._doc = doc
        self._source = doc.source if doc.source is not None else doc.text
        self._has_lines = doc.kind != "pdf"
        self._marks = doc.marks
        self._mark_at = [m.at for m in doc.marks]
        starts = [0]
        if self._has_lines:
            text = self._source
            pos = text.find("\n")
            while pos >= 0:
                starts.append(pos + 1)
                pos = text.find("\n", pos + 1)
        self._line_starts = starts

    def _source_offset(self, at: int) -> tuple[int, str, int]:
        """(source offset, anchor, page) of extracted offset ``at``."""
        if not self._marks:
            return at, "", 0
        i = bisect_right(self._mark_at, at) - 1
        if i < 0:
            first = self._marks[0]
            return (first.source if first.source >= 0 else at), "", first.page
        mark = self._marks[i]
        if mark.source < 0:
            return at, mark.anchor, mark.page
        return mark.source, mark.anchor, mark.page

    def line_of(self, offset: int) -> int:
        """1-based line of a source offset (0 when the source has no lines, as in PDF)."""
        if not self._has_lines:
            return 0
        return bisect_right(self._line_starts, max(offset, 0))

    def locate(self, start: int, end: int) -> Location:
        """The source location of the extracted span ``[start, end)``."""
        src_start, anchor, page = self._source_offset(start)
        if self._marks and self._marks[0].source >= 0:
            # HTML: the span ends where the block after the last one it touches begins.
            j = bisect_right(self._mark_at, max(end - 1, start))
            src_end = self._marks[j].source if j < len(self._marks) else len(self._source)
            src_end = max(src_end, src_start)
        else:  # text formats: extracted offsets are source offsets; PDF: extracted ones
            src_end = end
        return Location(src_start, src_end, self.line_of(src_start), anchor, page)


def source_uri(path: str, *, line: int = 0, anchor: str = "", page: int = 0) -> str:
    """``file://`` URI of ``path`` with the fragment that opens the place: ``#page=N`` (PDF),
    ``#anchor`` (HTML), else ``#L<line>``; no fragment when nothing is known."""
    try:
        base = Path(path).as_uri()
    except ValueError:  # a relative path: quote it as is
        base = "file:" + quote(path)
    if page > 0:
        return f"{base}#page={page}"
    if anchor:
        return f"{base}#{quote(anchor, safe='-._~:')}"
    if line > 0:
        return f"{base}#L{line}"
    return base
