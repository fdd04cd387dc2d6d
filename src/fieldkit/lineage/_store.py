"""``LineageStore``: the append-only ``results.tsv`` trial log, safe under concurrent writers.

Guarantees: every append is one ``write`` of one complete row, flushed and fsynced while an
exclusive ``flock`` is held; the header is decided and written under that same lock, so it is
written exactly once however many processes create the store at once; readers take a shared
lock and only ever parse complete records, so a half-written or torn row is never data.
Reads are incremental: the store remembers what it parsed and reads only bytes appended since.
"""

from __future__ import annotations

import os
import stat
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from fieldkit.lineage._base import LineageBase
from fieldkit.lineage._index import LineageIndex
from fieldkit.lineage._policy import (
    FloatFormat,
    MalformedRowWarning,
    choose_metric_field,
    default_metric_field,
    outside_stacklevel,
    report_malformed,
)
from fieldkit.lineage._render import one_line
from fieldkit.lineage._trial import CANONICAL_HEADER, Trial, row_plan
from fieldkit.lineage._tsv import (
    RecordStream,
    complete_prefix_len,
    encode_row,
    ends_inside_quotes,
    first_record,
    salvage_short_row,
    split_records,
)

try:  # POSIX; on other platforms the store still imports and reads (appends are unlocked).
    import fcntl as _fcntl
except ImportError:  # pragma: no cover - Windows
    _fcntl = None  # type: ignore[assignment]

__all__ = ["LineageStore", "default_metric_field"]

_WINDOW = 4096  # bytes at each end of what was read, re-checked before every incremental read


def _lock(fd: int, exclusive: bool) -> None:
    if _fcntl is not None:
        _fcntl.flock(fd, _fcntl.LOCK_EX if exclusive else _fcntl.LOCK_SH)


def _unlock(fd: int) -> None:
    if _fcntl is not None:
        _fcntl.flock(fd, _fcntl.LOCK_UN)


def _open_regular(path: Path, flags: int) -> int:
    """``os.open`` that refuses anything but a regular file (a FIFO would block every read)."""
    fd = os.open(path, flags | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0), 0o644)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise ValueError(f"{path} is not a regular file; a trial log must be one")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


@dataclass
class _ReadMark:
    """What a reader has consumed of one file, and enough to notice it being rewritten.

    An append only adds bytes after ``offset``. Anything else (the file replaced, truncated,
    rewritten in place at any length) changes the inode, shrinks it, changes its mtime without
    growing it, or changes the first or last ``_WINDOW`` bytes already read; every one of those
    makes the reader start over. A same-length edit more than ``_WINDOW`` bytes from both ends,
    when the file also grew before the next read, is the one case this cheap check cannot see.
    """

    ident: tuple[int, int]
    offset: int = 0  # end of the complete records read so far
    size: int = 0  # file size at the last read
    mtime_ns: int = 0
    head: bytes = b""
    tail: bytes = b""

    def holds(self, fd: int, st: os.stat_result) -> bool:
        if (st.st_dev, st.st_ino) != self.ident or st.st_size < self.offset:
            return False
        if st.st_size == self.size and st.st_mtime_ns != self.mtime_ns:
            return False
        if self.head and os.pread(fd, len(self.head), 0) != self.head:
            return False
        return (
            not self.tail or os.pread(fd, len(self.tail), self.offset - len(self.tail)) == self.tail
        )

    def advance(self, consumed: bytes, st: os.stat_result) -> None:
        """Record that *consumed* (the bytes right after ``offset``) has been read."""
        if len(self.head) < _WINDOW:
            self.head = (self.head + consumed[:_WINDOW])[:_WINDOW]
        self.tail = (self.tail + consumed[-_WINDOW:])[-_WINDOW:]
        self.offset += len(consumed)
        self.size = st.st_size
        self.mtime_ns = st.st_mtime_ns


class LineageStore(LineageBase):
    """Trial log at ``<root>/results.tsv`` (``root`` positional; the rest is keyword-only).

    ``metric_field`` picks the ranked column (default: ``core_metric`` if present, else
    ``val_bpb``). Malformed rows are skipped with a ``MalformedRowWarning`` and counted in
    ``skipped_rows``; ``strict=True`` raises ``ValueError`` naming the line instead.
    ``salvage_malformed=True`` recovers rows whose tail lost its tabs (the cxcscmu harness's
    leaked tool-call markup) instead of skipping them. ``float_format="cxcscmu"`` appends float
    cells as the harness writes them (``1.072210``, ``+0.000036``) instead of the lossless
    repr (``1.07221``), so rows added to a harness file look like its own.

    The file is read as ``csv.reader`` reads it (any cell length); a file replaced, truncated
    or rewritten in place by another tool is noticed and read again.
    """

    RESULTS_FILENAME = "results.tsv"

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        lower_is_better: bool = True,
        metric_field: str | None = None,
        strict: bool = False,
        salvage_malformed: bool = False,
        float_format: FloatFormat = "repr",
    ) -> None:
        super().__init__(lower_is_better, metric_field, strict, float_format)
        self.root = Path(root)
        self.results_path = self.root / self.RESULTS_FILENAME
        self.salvage_malformed = salvage_malformed
        #: the file's header once read; bytes of an unfinished last record; rows salvaged
        self.header: tuple[str, ...] | None = None
        self.torn_bytes = 0
        self.salvaged_rows = 0
        self._mark: _ReadMark | None = None
        self._lines = 0
        # The writer side tracks only the header and where the last complete record ends;
        # it never builds trials, so the time spent under the exclusive lock stays tiny.
        self._w_mark: _ReadMark | None = None
        self._w_header: tuple[str, ...] | None = None

    @classmethod
    def open(cls, path: str | os.PathLike[str], **kwargs: object) -> LineageStore:
        """A store for a directory *or* a ``*.tsv`` file path (any file name)."""
        p = Path(path)
        if p.suffix == ".tsv" or (p.exists() and not p.is_dir()):
            store = cls(p.parent, **kwargs)  # type: ignore[arg-type]
            store.results_path = p
            return store
        return cls(p, **kwargs)  # type: ignore[arg-type]

    # -- state ----------------------------------------------------------------------------
    def _reset(self) -> None:
        """Forget everything read: the next read starts from byte 0."""
        self.header = None
        self.torn_bytes = 0
        self.salvaged_rows = 0
        self.skipped_rows = 0
        self.malformed_rows = []
        self._mark = None
        self._lines = 0
        self._index = LineageIndex(
            metric_field=self._metric_field_arg or "core_metric",
            lower_is_better=self.lower_is_better,
        )

    def _where(self) -> str:
        return str(self.results_path)

    def _default_dir(self) -> Path:
        return self.results_path.parent

    def _default_tree_path(self) -> str:
        return str(self.results_path.parent / "tree.tsv")

    def _key_insights(self) -> str | None:
        from fieldkit.lineage._render_cxcscmu import split_key_insights

        try:
            text = (self.results_path.parent / "KNOWLEDGE.md").read_text(encoding="utf-8")
        except OSError:
            return None
        return split_key_insights(text)

    # -- reading --------------------------------------------------------------------------
    def _sync(self) -> LineageIndex:
        try:
            fd = _open_regular(self.results_path, os.O_RDONLY)
        except FileNotFoundError:
            if self._mark is not None:
                self._reset()
            return self._index
        try:
            _lock(fd, exclusive=False)
            try:
                st = os.fstat(fd)
                data = self._fetch_new(fd, st)
            finally:
                _unlock(fd)
        finally:
            os.close(fd)
        if data:
            self._ingest(data, st)  # parse outside the lock: writers are never held up by it
        return self._index

    def _fetch_new(self, fd: int, st: os.stat_result) -> bytes:
        """The bytes after what was read (all of them after a rewrite); caller holds a lock."""
        if self._mark is None or not self._mark.holds(fd, st):
            self._reset()
            self._mark = _ReadMark((st.st_dev, st.st_ino))
        if st.st_size == self._mark.offset:
            self._mark.size, self._mark.mtime_ns = st.st_size, st.st_mtime_ns
            return b""
        return os.pread(fd, st.st_size - self._mark.offset, self._mark.offset)

    def _ingest(self, data: bytes, st: os.stat_result) -> None:
        """Parse the complete records of *data* (which starts at the read mark) into the index."""
        assert self._mark is not None
        stream = RecordStream(data, first_line=self._lines + 1)
        records = iter(stream)  # streamed: each row's cells are dropped once it is a Trial
        if self.header is None:
            first = next(records, None)
            if first is not None:
                self._take_header(first[1])
        if self.header is not None:
            bad = self._index_records(records)
            if bad and self.strict:
                self._reset()
            report_malformed(self._where(), bad, strict=self.strict)
            self.malformed_rows.extend(bad)
            self.skipped_rows += len(bad)
        else:
            for _ in records:  # no header yet: only blank lines, nothing to build
                pass
        consumed = stream.consumed
        if (
            consumed < len(data)
            and self.header is not None
            and self._whole_last_row(data, consumed)
        ):
            consumed = len(data)
        self._mark.advance(data[:consumed], st)
        self._lines += data.count(b"\n", 0, consumed)
        self._note_torn(len(data) - consumed)

    def _whole_last_row(self, data: bytes, start: int) -> bool:
        """Index the unterminated last line ``data[start:]`` when it is one complete row of the
        header's width (a file whose last line lacks ``\n``, as ``csv`` reads it); False for a
        torn one (an open quote, missing cells), which stays unread and reported.

        Writers append whole rows under the exclusive lock, so a reader never sees a row in
        flight; the next append ends this line before writing its own."""
        assert self.header is not None
        tail = data[start:]
        records, used = split_records(tail + b"\n", first_line=self._lines + 1)
        if used != len(tail) + 1 or len(records) != 1 or len(records[0][1]) != len(self.header):
            return False
        bad = self._index_records(records)
        report_malformed(self._where(), bad, strict=self.strict)
        self.malformed_rows.extend(bad)
        self.skipped_rows += len(bad)
        return True

    def _take_header(self, cells: list[str]) -> None:
        """Adopt the first record as the header (``ValueError`` if this is no trial log)."""
        header = tuple(cells)
        if "exp_id" not in header:  # a wrong file, not a log with bad rows
            self._reset()
            raise ValueError(
                f"{self.results_path} is not a trial log: its first line has no "
                f"'exp_id' column ({one_line(cells[0])[:60]!r}…)"
            )
        try:
            field = choose_metric_field(self._metric_field_arg, header, self._where())
        except ValueError:
            self._reset()
            raise
        self.header = header
        self._index = LineageIndex(metric_field=field, lower_is_better=self.lower_is_better)

    def _index_records(self, records: Iterable[tuple[int, list[str]]]) -> list[tuple[int, str]]:
        """Index well-formed *records* (and salvaged ones); ``(line, why)`` for the rest."""
        assert self.header is not None
        idx = self._index
        plan = row_plan(self.header, idx.metric_field)
        check = plan.check
        width = len(self.header)
        rows: list[tuple[str, ...]] = []
        bad: list[tuple[int, str]] = []
        for line, cells in records:
            try:
                rows.append(check(cells))
                continue
            except ValueError as exc:
                why = str(exc)
            if self.salvage_malformed and len(cells) < width:
                fixed = self._salvage(cells, idx.metric_field)
                if fixed is not None:
                    idx.extend_rows(plan, rows)  # keep file order around the salvaged row
                    rows.clear()
                    idx.extend((fixed,))
                    self.salvaged_rows += 1
                    continue
            bad.append((line, why))
        if bad and self.strict:
            return bad
        idx.extend_rows(plan, rows)
        return bad

    def _note_torn(self, torn: int) -> None:
        if torn and torn != self.torn_bytes:
            warnings.warn(
                f"{self.results_path}: ignoring a torn last line ({torn} bytes: no "
                "newline yet, or a quoted cell left open) — an append was interrupted",
                MalformedRowWarning,
                stacklevel=outside_stacklevel(),
            )
        self.torn_bytes = torn

    def _salvage(self, cells: list[str], metric_field: str) -> Trial | None:
        assert self.header is not None
        for row in salvage_short_row(self.header, cells):
            try:
                return Trial.from_cells(self.header, row, metric_field=metric_field)
            except ValueError:
                continue
        return None

    # -- writing --------------------------------------------------------------------------
    def append(self, trial: Trial) -> None:
        """Append one trial as one locked, flushed and fsynced write.

        A new file gets the canonical header (plus the trial's extra columns); an existing file
        keeps its own header, and the row is laid out in that header's column order.
        """
        if not isinstance(trial, Trial):
            raise TypeError(f"append() takes a Trial, got {type(trial).__name__}")
        self.root.mkdir(parents=True, exist_ok=True)
        self.results_path.parent.mkdir(parents=True, exist_ok=True)
        # Lock order is always the instance mutex, then the file lock (reads take them in the
        # same order), so threads sharing one store cannot deadlock each other.
        with self._mu:
            fd = _open_regular(self.results_path, os.O_RDWR | os.O_CREAT | os.O_APPEND)
            try:
                _lock(fd, exclusive=True)
                try:
                    self._append_locked(fd, trial)
                finally:
                    _unlock(fd)
            finally:
                os.close(fd)

    def _writer_scan(self, fd: int) -> tuple[tuple[str, ...] | None, int]:
        """(header, torn-tail length) of the file, scanning only bytes new to this writer."""
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{self.results_path} is not a regular file; a trial log must be one")
        if self._w_mark is None or not self._w_mark.holds(fd, st):
            self._w_mark = _ReadMark((st.st_dev, st.st_ino))
            self._w_header = None
        mark = self._w_mark
        if st.st_size > mark.offset:
            data = os.pread(fd, st.st_size - mark.offset, mark.offset)
            if self._w_header is None:
                cells = first_record(data)
                self._w_header = tuple(cells) if cells is not None else None
            mark.advance(data[: complete_prefix_len(data)], st)
        return self._w_header, st.st_size - mark.offset

    def _append_locked(self, fd: int, trial: Trial) -> None:
        header, torn = self._writer_scan(fd)
        assert self._w_mark is not None
        prefix = b""
        tail = b""
        if header is None:
            if torn:  # only a torn, header-less fragment: a dead first write
                os.ftruncate(fd, 0)
                st = os.fstat(fd)
                self._w_mark = _ReadMark((st.st_dev, st.st_ino))
            header = CANONICAL_HEADER + tuple(k for k in trial.extras if k not in CANONICAL_HEADER)
            prefix = encode_row(header)
            self._w_header = header
        else:
            if "exp_id" not in header or "status" not in header:
                raise ValueError(f"{self.results_path} header lacks exp_id/status: {list(header)}")
            missing = [k for k, v in trial.extras.items() if v and k not in header]
            if missing:
                raise ValueError(
                    f"{self.results_path} has no column(s) {missing} for this trial's extras; "
                    f"its header is {list(header)}"
                )
            if torn:
                tail = os.pread(fd, torn, self._w_mark.offset)
                # End the dead fragment as its own (malformed) record, closing an open quote.
                prefix = b'"\n' if ends_inside_quotes(tail) else b"\n"
        field = default_metric_field(header)
        if self._metric_field_arg is not None and self._metric_field_arg in header:
            field = self._metric_field_arg
        fmt = self.float_format
        data = prefix + encode_row([trial.file_cell(c, field, float_format=fmt) for c in header])
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
        self._w_mark.advance(tail + data, os.fstat(fd))
