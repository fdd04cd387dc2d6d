"""Files → structured text: a title and blocks (heading path, text, char span, code or prose).

Markdown through markdown-it-py (CommonMark, linear time), HTML through the standard library's
``html.parser`` (navigation, scripts and styles dropped), PDF through pypdf (extra ``docs``,
imported only for PDFs), reStructuredText by its underlined headings, everything else as plain
text split at blank lines. Character spans index the extracted text (``ParsedDoc.text``);
``ParsedDoc.marks`` map them back to the source (offset, nearest HTML ``id``, PDF page).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from fieldkit._lazy import require

__all__ = ["Block", "Mark", "ParseError", "ParsedDoc", "kind_of", "parse_bytes", "parse_text"]

MARKDOWN_SUFFIXES = frozenset({".md", ".markdown", ".mdown", ".mkd"})
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
RST_SUFFIXES = frozenset({".rst", ".rest"})
PDF_SUFFIXES = frozenset({".pdf"})
TEXT_SUFFIXES = frozenset(
    {".txt", ".text", ".adoc", ".org", ".tex", ".csv", ".tsv", ".json", ".yaml", ".yml", ".toml"}
)
CODE_SUFFIXES = frozenset(
    {".py", ".pyi", ".js", ".ts", ".tsx", ".jsx", ".go", ".rs", ".c", ".h", ".cc", ".cpp",
     ".hpp", ".java", ".kt", ".rb", ".sh", ".bash", ".sql", ".lua", ".swift", ".scala",
     ".cu", ".cfg", ".ini"}
)  # fmt: skip


class ParseError(ValueError):
    """A file could not be turned into text (binary, broken PDF, undecodable)."""


@dataclass(frozen=True, slots=True)
class Block:
    """A unit of structure: a paragraph, list, table or code block under ``heading``."""

    heading: tuple[str, ...]
    text: str
    start: int
    end: int
    code: bool = False


@dataclass(frozen=True, slots=True)
class Mark:
    """From ``at`` in the extracted text on: source offset ``source`` (-1: no text source, as in
    PDF), the nearest preceding HTML ``id`` anchor and the PDF page (0: none)."""

    at: int
    source: int
    anchor: str = ""
    page: int = 0


@dataclass(slots=True)
class ParsedDoc:
    """The extracted text of a file, its title and its blocks in reading order.

    ``kind`` is the parser used; ``source`` the decoded file text when it differs from ``text``
    (HTML); ``marks`` (ascending ``at``) map extracted offsets to the source. No marks: the
    extracted text is the source itself.
    """

    title: str
    text: str
    blocks: list[Block] = field(default_factory=list)
    kind: str = "text"
    source: str | None = None
    marks: list[Mark] = field(default_factory=list)


def kind_of(path: Path) -> str | None:
    """``markdown``/``html``/``rst``/``pdf``/``text``/``code`` from the suffix, else None."""
    suffix = path.suffix.lower()
    for kind, suffixes in (
        ("markdown", MARKDOWN_SUFFIXES),
        ("html", HTML_SUFFIXES),
        ("rst", RST_SUFFIXES),
        ("pdf", PDF_SUFFIXES),
        ("text", TEXT_SUFFIXES),
        ("code", CODE_SUFFIXES),
    ):
        if suffix in suffixes:
            return kind
    return None


def decode(data: bytes) -> str:
    """UTF-8 (BOM stripped) or, failing that, Latin-1 only when the bytes look like text.

    Raises ParseError for binary data (NUL bytes or mostly control characters).
    """
    if b"\x00" in data[:8192]:
        raise ParseError("binary file (contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
        sample = text[:8192]
        bad = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\n\r\f")
        if sample and bad / len(sample) > 0.05:
            raise ParseError("not UTF-8 text and looks binary") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_bytes(data: bytes, kind: str, *, name: str = "") -> ParsedDoc:
    """Parse a file's bytes of ``kind`` (see ``kind_of``); the title defaults to ``name``."""
    if kind == "pdf":
        return _parse_pdf(data, name)
    return parse_text(decode(data), kind, name=name)


def parse_text(text: str, kind: str, *, name: str = "") -> ParsedDoc:
    """Parse decoded text of ``kind``."""
    text = text.replace("\x00", " ")
    if kind == "markdown":
        doc = _parse_markdown(text)
    elif kind == "html":
        doc = _parse_html(text)
    elif kind == "rst":
        doc = _parse_rst(text)
    else:
        doc = _paragraphs(text, (), code=kind == "code")
    if not doc.title:
        doc.title = name
    doc.kind = kind
    return doc


_BLANK_RUN = re.compile(r"\n[ \t]*\n")


def _paragraphs(
    text: str, heading: tuple[str, ...], *, code: bool = False, base: int = 0
) -> ParsedDoc:
    """Blank-line separated blocks of ``text`` (offsets shifted by ``base``)."""
    blocks: list[Block] = []
    pos = 0
    for m in [*_BLANK_RUN.finditer(text), None]:
        end = len(text) if m is None else m.start()
        piece = text[pos:end]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            body = piece.strip()
            blocks.append(
                Block(heading, body, base + pos + lead, base + pos + lead + len(body), code)
            )
        if m is not None:
            pos = m.end()
    return ParsedDoc(title="", text=text, blocks=blocks)


def _parse_markdown(text: str) -> ParsedDoc:
    markdown_it = require("markdown_it", "docs", purpose="Markdown parsing")
    md = markdown_it.MarkdownIt("commonmark").enable("table")
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    tokens = md.parse(text)
    path: list[tuple[int, str]] = []
    title = ""
    blocks: list[Block] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.level != 0 or tok.map is None or tok.nesting == -1:
            i += 1
            continue
        a, b = tok.map
        if tok.type == "heading_open":
            level = int(tok.tag[1:])
            name = tokens[i + 1].content.strip() if i + 1 < len(tokens) else ""
            while path and path[-1][0] >= level:
                path.pop()
            path.append((level, name))
            if level == 1 and not title:
                title = name
            i += 1
            continue
        start = offsets[a]
        end = min(offsets[b] - 1, len(text)) if b < len(offsets) else len(text)
        raw = text[start:end].strip("\n")
        if raw.strip():
            lead = text[start:end].index(raw[0]) if raw else 0
            blocks.append(
                Block(
                    tuple(n for _, n in path),
                    raw,
                    start + lead,
                    start + lead + len(raw),
                    tok.type in ("fence", "code_block"),
                )
            )
        i += 1
    return ParsedDoc(title=title, text=text, blocks=blocks)


_RST_UNDERLINE = re.compile(r"([=\-~^\"'`#*+_.:])\1{2,}[ \t]*\Z")


def _parse_rst(text: str) -> ParsedDoc:
    """Paragraphs under headings (a line underlined by a run of one punctuation character)."""
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    levels: list[str] = []
    path: list[tuple[int, str]] = []
    title = ""
    blocks: list[Block] = []
    seg_start = 0
    i = 0

    def flush(upto: int) -> None:
        heading = tuple(n for _, n in path)
        blocks.extend(_paragraphs(text[seg_start:upto], heading, base=seg_start).blocks)

    while i < len(lines) - 1:
        line, under = lines[i], lines[i + 1]
        if (
            line.strip()
            and not line.startswith((" ", "\t"))
            and _RST_UNDERLINE.match(under)
            and len(under.rstrip()) >= len(line.rstrip())
        ):
            flush(offsets[i])
            char = under[0]
            if char not in levels:
                levels.append(char)
            level = levels.index(char)
            while path and path[-1][0] >= level:
                path.pop()
            path.append((level, line.strip()))
            if not title:
                title = line.strip()
            seg_start = offsets[i + 2] if i + 2 < len(offsets) else len(text)
            i += 2
            continue
        i += 1
    flush(len(text))
    return ParsedDoc(title=title, text=text, blocks=blocks)


_BLOCK_TAGS = frozenset(
    {"p", "pre", "li", "dt", "dd", "tr", "table", "blockquote", "div", "section", "article",
     "ul", "ol", "dl", "figure", "figcaption", "br", "hr", "td", "th", "caption", "main"}
)  # fmt: skip
_SKIP_TAGS = frozenset({"script", "style", "noscript", "nav", "template", "svg"})
_VOID = frozenset({"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "wbr"})
_HEADINGS = {f"h{n}": n for n in range(1, 7)}


class _HTMLText(HTMLParser):
    """Collects text blocks under headings; skips scripts, styles and navigation chrome."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.h1 = ""
        self.parts: list[str] = []  # extracted text
        self.length = 0
        self.blocks: list[Block] = []
        self.path: list[tuple[int, str]] = []
        self._buf: list[str] = []
        self._skip: list[str] = []  # tag stack while inside skipped content
        self._in_title = False
        self._heading: tuple[int, list[str]] | None = None
        self._pre = 0
        self.marks: list[Mark] = []
        self._anchor = ""  # the last id seen outside skipped content
        self._buf_at: tuple[tuple[int, int], str] | None = None  # (line, col), anchor of _buf
        self._line_starts = [0]

    @staticmethod
    def _is_chrome(tag: str, attrs: list[tuple[str, str | None]]) -> bool:
        if tag in _SKIP_TAGS:
            return True
        for key, value in attrs:
            if value is None:
                continue
            if key == "role" and value in ("navigation", "banner", "contentinfo"):
                return True
            if key == "class" and any(c.startswith("nav") for c in value.split()):
                return True
            if key == "aria-hidden" and value == "true":
                return True
        return False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title" and not self._skip:
            self._in_title = True
            return
        if self._skip:
            if tag == self._skip[0] and tag not in _VOID:
                self._skip.append(tag)
            return
        if tag not in _VOID and self._is_chrome(tag, attrs):
            self._skip.append(tag)
            return
        for key, value in attrs:
            if value and (key == "id" or (key == "name" and tag == "a")):
                self._anchor = value
        if tag in _HEADINGS:
            self._flush()
            self._heading = (_HEADINGS[tag], [])
        elif tag in _BLOCK_TAGS:
            self._flush()
        if tag == "pre":
            self._pre += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
            return
        if self._skip:
            if tag == self._skip[0]:
                self._skip.pop()
            return
        if tag in _HEADINGS and self._heading is not None:
            level, words = self._heading
            name = " ".join("".join(words).split())
            self._heading = None
            while self.path and self.path[-1][0] >= level:
                self.path.pop()
            self.path.append((level, name))
            if level == 1 and not self.h1:
                self.h1 = name
            return
        if tag in _BLOCK_TAGS:
            self._flush(code=tag == "pre")
        if tag == "pre" and self._pre:
            self._pre -= 1

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
            return
        if self._skip:
            return
        if self._heading is not None:
            self._heading[1].append(data)
            return
        if self._buf_at is None and data.strip():
            self._buf_at = (self.getpos(), self._anchor)
        self._buf.append(data)

    def _flush(self, *, code: bool = False) -> None:
        raw = "".join(self._buf)
        at, self._buf_at = self._buf_at, None
        self._buf = []
        body = raw.strip("\n") if self._pre or code else " ".join(raw.split())
        if not body.strip():
            return
        if self.parts:
            self.parts.append("\n\n")
            self.length += 2
        start = self.length
        if at is not None:
            (line, col), anchor = at
            self.marks.append(Mark(start, self.source_offset(line, col), anchor))
        self.parts.append(body)
        self.length += len(body)
        self.blocks.append(
            Block(tuple(n for _, n in self.path), body, start, self.length, bool(self._pre or code))
        )

    def source_offset(self, line: int, col: int) -> int:
        """Character offset in the fed text of ``getpos()``'s (1-based line, column)."""
        starts = self._line_starts
        return starts[min(line, len(starts)) - 1] + col

    def close(self) -> None:
        super().close()
        self._flush()


def _parse_html(text: str) -> ParsedDoc:
    parser = _HTMLText()
    pos = text.find("\n")
    while pos >= 0:  # line starts, so getpos() maps to source offsets
        parser._line_starts.append(pos + 1)
        pos = text.find("\n", pos + 1)
    parser.feed(text)
    parser.close()
    title = " ".join(parser.title.split()) or parser.h1
    return ParsedDoc(
        title=title,
        text="".join(parser.parts),
        blocks=parser.blocks,
        source=text,
        marks=parser.marks,
    )


def _parse_pdf(data: bytes, name: str) -> ParsedDoc:
    pypdf = require("pypdf", "docs", purpose="PDF parsing")
    import io

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise ParseError("encrypted PDF")
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = ""
        if reader.metadata is not None and reader.metadata.title:
            meta_title = str(reader.metadata.title).strip()
    except ParseError:
        raise
    except Exception as exc:  # pypdf raises many types for broken files
        raise ParseError(f"broken PDF: {type(exc).__name__}: {exc}") from exc
    parts: list[str] = []
    blocks: list[Block] = []
    marks: list[Mark] = []
    length = 0
    for number, page in enumerate(pages, start=1):
        page = page.replace("\x00", " ")
        if not page.strip():
            continue
        base = length + (2 if parts else 0)
        if parts:
            parts.append("\n\n")
        parts.append(page)
        length = base + len(page)
        marks.append(Mark(base, -1, page=number))
        blocks.extend(_paragraphs(page, (f"page {number}",), base=base).blocks)
    if not blocks:
        raise ParseError("PDF has no extractable text (scanned images?)")
    return ParsedDoc(
        title=meta_title or name, text="".join(parts), blocks=blocks, kind="pdf", marks=marks
    )
