"""Schema-aware TSV codec for trial logs (pure: bytes in, records out; no file access).

The file format is the csv module's default dialect with a tab delimiter, ``\\n`` line
terminator, minimal quoting and doubled quotes, UTF-8; it is read exactly as ``csv.reader``
reads it (a ``"`` opens a quoted field only at the start of a field), with no field-size limit.
Parsing is incremental: callers hand in the bytes appended since last time and get back only
*complete* records plus how many bytes they consumed, so a torn last line is never data.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

__all__ = [
    "ParsedChunk",
    "Record",
    "RecordStream",
    "complete_prefix_len",
    "encode_row",
    "ends_inside_quotes",
    "first_record",
    "parse_chunk",
    "salvage_short_row",
    "split_records",
]


class _Dialect(csv.Dialect):
    delimiter = "\t"
    quotechar = '"'
    doublequote = True
    skipinitialspace = False
    lineterminator = "\n"
    quoting = csv.QUOTE_MINIMAL
    strict = False


DIALECT = _Dialect


def _quote_minimal(cell: str) -> str:
    if any(ch in cell for ch in '\t\n\r"'):
        return '"' + cell.replace('"', '""') + '"'
    return cell


def encode_row(cells: Sequence[str]) -> bytes:
    """One record as UTF-8 bytes ending in ``\\n`` (tabs, newlines and quotes get quoted).

    A carriage return is quoted too: with a ``\\n`` terminator the csv writer leaves a bare
    ``\\r`` unquoted, and every reader then splits the row there.
    """
    if any("\r" in c for c in cells):
        return ("\t".join(_quote_minimal(c) for c in cells) + "\n").encode("utf-8")
    buf = io.StringIO()
    csv.writer(buf, dialect=DIALECT).writerow(cells)
    return buf.getvalue().encode("utf-8")


@dataclass(frozen=True, slots=True)
class Record:
    """One parsed record: its cells and the 1-based physical line it starts on."""

    line: int
    cells: list[str]


@dataclass(frozen=True, slots=True)
class ParsedChunk:
    """Complete records parsed from a chunk, bytes consumed, and physical lines consumed."""

    records: list[Record]
    consumed: int
    lines: int


def _field_starts_quoted(line: str) -> bool:
    """Whether a field of *line* opens with ``"`` (only there does csv treat it as a quote)."""
    return line.startswith('"') or '\t"' in line


_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)")
_TEXT_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)")


def _quoted_record(
    lines: list[str], terms: list[str] | None, i: int
) -> tuple[list[str], int] | None:
    """``(cells, next_line)`` for the record starting at ``lines[i]``, or None if it is unfinished.

    The csv module's non-strict reading of the dialect: a ``"`` opens a quoted field only at the
    start of a field; inside one, ``""`` is a quote and a lone ``"`` closes it, after which any
    text up to the next tab is kept literally. A quoted field runs on across line breaks (kept as
    written). No field-size limit: whatever an append wrote is read back.
    """
    cells: list[str] = []
    s = lines[i]
    p = 0
    n = len(lines)
    while True:
        if s.startswith('"', p):
            buf: list[str] = []
            p += 1
            while True:
                q = s.find('"', p)
                if q < 0:
                    buf.append(s[p:])
                    buf.append("\n" if terms is None else terms[i])
                    i += 1
                    if i >= n:
                        return None
                    s, p = lines[i], 0
                    continue
                buf.append(s[p:q])
                if s.startswith('"', q + 1):
                    buf.append('"')
                    p = q + 2
                    continue
                p = q + 1
                break
            t = s.find("\t", p)
            buf.append(s[p:] if t < 0 else s[p:t])
            cells.append("".join(buf))
        else:
            t = s.find("\t", p)
            cells.append(s[p:] if t < 0 else s[p:t])
        if t < 0:
            return cells, i + 1
        p = t + 1


def _line_offset(data: bytes, lines: int) -> int:
    """Byte offset where physical line number *lines* (0-based) of *data* starts."""
    offset = 0
    for count, m in enumerate(_LINE.finditer(data)):
        if count == lines:
            break
        offset = m.end()
    return offset


class RecordStream:
    """The complete records at the start of *data*, one ``(start_line, cells)`` at a time.

    The same records ``csv.reader`` gives with the file dialect (blank lines dropped, undecodable
    bytes → U+FFFD, a ``"`` inside an unquoted cell kept literally), without its field-size
    limit. A record is complete at a line break outside a quoted field; an unfinished last record
    (a torn append, or a quoted field still open at the end) is left unconsumed. Lines whose
    fields do not open with ``"`` are split on tabs directly; only the rest walk quoted fields.
    ``consumed`` (bytes of *data* read as records) is final once iteration has finished.
    """

    def __init__(self, data: bytes, *, first_line: int = 1) -> None:
        self.data = data
        self.first_line = first_line
        self.consumed = 0

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        data = self.data
        end = data.rfind(b"\n")
        if end < 0:
            return
        text = data[: end + 1].decode("utf-8", errors="replace")
        terms: list[str] | None = None
        if "\r" in text:  # a bare CR ends a line for csv too (as a file opened with newline="")
            pieces = _TEXT_LINE.findall(text)
            lines = [piece.rstrip("\r\n") for piece in pieces]
            terms = [piece[len(line) :] for piece, line in zip(pieces, lines, strict=True)]
        else:
            lines = text.split("\n")
            lines.pop()  # the text ends with a newline: the last piece is empty
        del text
        first = self.first_line
        if terms is None and b'"' not in data:
            for i, ln in enumerate(lines):
                if ln:
                    yield first + i, ln.split("\t")
            self.consumed = end + 1
            return
        i = 0
        count = len(lines)
        while i < count:
            ln = lines[i]
            if not _field_starts_quoted(ln):
                if ln:
                    yield first + i, ln.split("\t")
                i += 1
                continue
            got = _quoted_record(lines, terms, i)
            if got is None:
                self.consumed = _line_offset(data, i)
                return
            cells, nxt = got
            yield first + i, cells
            i = nxt
        self.consumed = end + 1


def split_records(data: bytes, *, first_line: int = 1) -> tuple[list[tuple[int, list[str]]], int]:
    """``([(start_line, cells), ...], consumed)``: all of ``RecordStream(data)`` at once."""
    stream = RecordStream(data, first_line=first_line)
    records = list(stream)
    return records, stream.consumed


def complete_prefix_len(data: bytes) -> int:
    """Length of the longest prefix of *data* made only of complete records."""
    end = data.rfind(b"\n")
    if end < 0:
        return 0
    if not (data.startswith(b'"') or b'\t"' in data or b'\n"' in data or b'\r"' in data):
        return end + 1  # no field opens a quote: every line break ends a record
    return split_records(data)[1]


def first_record(data: bytes) -> list[str] | None:
    """The cells of the first complete record of *data* (blank lines skipped), or None."""
    records, _ = split_records(data[: data.find(b"\n") + 1])
    if not records:  # a blank or quoted multi-line first line: parse on (linear, rare)
        records, _ = split_records(data)
    return records[0][1] if records else None


def ends_inside_quotes(tail: bytes) -> bool:
    """Whether *tail* (an unfinished last record) stops inside an open quoted field."""
    return split_records(tail + b"\n")[1] == 0


def parse_chunk(data: bytes, *, first_line: int = 1) -> ParsedChunk:
    """Parse the complete records at the start of *data* (see ``complete_prefix_len``).

    Blank lines are dropped. Undecodable bytes become U+FFFD rather than failing the read.
    """
    pairs, n = split_records(data, first_line=first_line)
    records = [Record(line, cells) for line, cells in pairs]
    return ParsedChunk(records, n, data.count(b"\n", 0, n))


def salvage_short_row(header: Sequence[str], cells: Sequence[str]) -> Iterator[list[str]]:
    """Candidate repairs of a row whose tail lost its tabs (the harness's leaked tool-call markup).

    The missing trailing fields were written space-separated into the last present cell. The
    ``status`` token anchors the split (tried from the right); fields after it are split off in
    order and whatever remains is the notes. The hypothesis is cut at ``</hypothesis>`` and a
    leaked ``<parameter name="notes">`` body becomes the notes when those are empty. The caller
    keeps the first candidate that parses as a trial.
    """
    from fieldkit.lineage._labels import FailureLabel

    missing = len(header) - len(cells)
    if missing <= 0 or not cells or "status" not in header:
        return
    folded = len(cells) - 1
    status_at = list(header).index("status")
    between = status_at - folded - 1
    if between < 0:
        return
    after = len(header) - status_at - 1
    labels = "|".join(re.escape(v.value) for v in FailureLabel)
    pattern = re.compile(" " + "([^ ]*) " * between + f"({labels})(?= |$)")
    text = cells[-1]
    for m in reversed(list(pattern.finditer(text))):
        head = text[: m.start()]
        rest = text[m.end() + 1 :] if after else ""
        tail = rest.split(" ", after - 1) if after > 1 else [rest]
        if after and len(tail) != after:
            continue
        if after:
            tail[-1] = tail[-1].strip()
        leaked_notes = ""
        if "</hypothesis>" in head:
            head, _, leaked = head.partition("</hypothesis>")
            tag = '<parameter name="notes">'
            if tag in leaked:
                leaked_notes = leaked.split(tag, 1)[1].strip()
        row = [*cells[:-1], head, *m.groups()[:between], m.group(between + 1), *tail][: len(header)]
        if "notes" in header:
            n = list(header).index("notes")
            if n < len(row) and leaked_notes and not row[n]:
                row[n] = leaked_notes
        if len(row) == len(header):
            yield row
