"""Schema-aware TSV codec for trial logs (pure: bytes in, records out; no file access).

The file format is the csv module's default dialect with a tab delimiter, ``\\n`` line
terminator, minimal quoting and doubled quotes, UTF-8. Parsing is incremental: callers hand
in the bytes appended since last time and get back only *complete* records (a record ends at a
newline outside quotes) plus how many bytes they consumed, so a torn last line is never data.
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
    "complete_prefix_len",
    "encode_row",
    "first_record_len",
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


def complete_prefix_len(data: bytes) -> int:
    """Length of the longest prefix of *data* made only of complete records.

    A newline ends a record only outside quotes; with doubled-quote escaping that is exactly
    when the number of ``"`` bytes before it is even (``"`` and ``\\n`` never occur inside a
    UTF-8 multibyte sequence, so this works on bytes). Linear in ``len(data)`` even when a
    torn tail holds many quoted newlines.
    """
    end = data.rfind(b"\n")
    quotes = data.count(b'"', 0, end) if end >= 0 else 0
    while end >= 0:
        if quotes % 2 == 0:
            return end + 1
        prev = data.rfind(b"\n", 0, end)
        quotes -= data.count(b'"', max(prev, 0), end)
        end = prev
    return 0


def first_record_len(data: bytes) -> int:
    """Length of the first complete record of *data* (0 if there is none yet)."""
    end = data.find(b"\n")
    quotes = data.count(b'"', 0, end) if end >= 0 else 0
    while end >= 0:
        if quotes % 2 == 0:
            return end + 1
        nxt = data.find(b"\n", end + 1)
        if nxt >= 0:
            quotes += data.count(b'"', end, nxt)
        end = nxt
    return 0


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


def split_records(data: bytes, *, first_line: int = 1) -> tuple[list[tuple[int, list[str]]], int]:
    """``([(start_line, cells), ...], consumed)`` for the complete records at the start of *data*.

    Same records as ``csv.reader`` over the complete prefix (blank lines dropped, undecodable
    bytes → U+FFFD), but a line with no ``"`` or NUL and no over-long field is split on tabs
    directly: that is exactly what the csv reader would make of it, at a fraction of the cost.
    Only lines that need it (quoted cells) go through the csv reader, which pulls the following
    lines of a quoted multi-line cell itself. Text with a bare CR is read by csv throughout.
    """
    n = complete_prefix_len(data)
    if n == 0:
        return [], 0
    text = data[:n].decode("utf-8", errors="replace")
    lines = text.split("\n")
    lines.pop()  # the prefix ends with a newline: the last piece is empty
    records: list[tuple[int, list[str]]] = []
    if "\r" in text:  # a bare CR ends a csv record too: let the csv reader split everything
        reader = csv.reader(io.StringIO(text, newline=""), dialect=DIALECT)
        prev = 0
        for cells in reader:
            start = first_line + prev
            prev = reader.line_num
            if cells:
                records.append((start, cells))
        return records, n
    limit = csv.field_size_limit()
    if '"' not in text and "\x00" not in text and max(map(len, lines)) <= limit:
        return [(first_line + i, ln.split("\t")) for i, ln in enumerate(lines) if ln], n
    pos = 0
    count = len(lines)

    def feed() -> Iterator[str]:
        nonlocal pos
        while pos < count:
            pos += 1
            yield lines[pos - 1] + "\n"

    reader = csv.reader(feed(), dialect=DIALECT)
    while pos < count:
        ln = lines[pos]
        start = first_line + pos
        if '"' in ln or "\x00" in ln or len(ln) > limit:
            cells = next(reader, [])  # consumes this line and any continuation lines
            if cells:
                records.append((start, cells))
        else:
            pos += 1
            if ln:
                records.append((start, ln.split("\t")))
    return records, n


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
