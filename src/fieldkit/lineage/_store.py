"""``LineageStore``: the append-only ``results.tsv`` trial log, safe under concurrent writers.

Guarantees: every append is one ``write`` of one complete row, flushed and fsynced while an
exclusive ``flock`` is held; the header is decided and written under that same lock, so it is
written exactly once however many processes create the store at once; readers take a shared
lock and only ever parse complete records, so a half-written or torn row is never data.
Reads are incremental: the store remembers what it parsed and reads only bytes appended since.
"""

from __future__ import annotations

import gc
import os
import warnings
from pathlib import Path
from typing import Literal

from fieldkit.lineage._base import LineageBase, MalformedRowWarning
from fieldkit.lineage._index import LineageIndex
from fieldkit.lineage._render import one_line
from fieldkit.lineage._trial import CANONICAL_HEADER, Trial, row_builder
from fieldkit.lineage._tsv import (
    complete_prefix_len,
    encode_row,
    first_record_len,
    parse_chunk,
    salvage_short_row,
    split_records,
)

try:  # POSIX; on other platforms the store still imports and reads (appends are unlocked).
    import fcntl as _fcntl
except ImportError:  # pragma: no cover - Windows
    _fcntl = None  # type: ignore[assignment]

__all__ = ["LineageStore", "default_metric_field"]

_GC_PAUSE_BYTES = 1 << 20  # reads at least this big run with the cyclic GC paused


def default_metric_field(header: tuple[str, ...]) -> str:
    """``core_metric`` if the file has it, else ``val_bpb`` (the 0.3.0-era task metric)."""
    if "core_metric" in header:
        return "core_metric"
    if "val_bpb" in header:
        return "val_bpb"
    return "core_metric"


def _lock(fd: int, exclusive: bool) -> None:
    if _fcntl is not None:
        _fcntl.flock(fd, _fcntl.LOCK_EX if exclusive else _fcntl.LOCK_SH)


def _unlock(fd: int) -> None:
    if _fcntl is not None:
        _fcntl.flock(fd, _fcntl.LOCK_UN)


class LineageStore(LineageBase):
    """Trial log at ``<root>/results.tsv`` (0.3.0 constructor; the rest is keyword-only).

    ``metric_field`` picks the ranked column (default: ``core_metric`` if present, else
    ``val_bpb``). Malformed rows are skipped with a ``MalformedRowWarning`` and counted in
    ``skipped_rows``; ``strict=True`` raises ``ValueError`` naming the line instead.
    ``salvage_malformed=True`` recovers rows whose tail lost its tabs (the cxcscmu harness's
    leaked tool-call markup) instead of skipping them. ``float_format="cxcscmu"`` appends float
    cells as the harness writes them (``1.072210``, ``+0.000036``) instead of the lossless 0.3.0
    repr (``1.07221``), so rows added to a harness file look like its own.
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
        float_format: Literal["repr", "cxcscmu"] = "repr",
    ) -> None:
        if float_format not in ("repr", "cxcscmu"):
            raise ValueError(f"float_format must be 'repr' or 'cxcscmu', got {float_format!r}")
        super().__init__(lower_is_better=lower_is_better, metric_field=metric_field)
        self.float_format = float_format
        self.root = Path(root)
        self.results_path = self.root / self.RESULTS_FILENAME
        self.strict = strict
        self.salvage_malformed = salvage_malformed
        self._reset()
        self._reset_writer()

    @classmethod
    def open(cls, path: str | os.PathLike[str], **kwargs: object) -> LineageStore:
        """A store for a directory *or* a ``*.tsv`` file path (any file name)."""
        p = Path(path)
        if p.suffix == ".tsv" or p.is_file():
            store = cls(p.parent, **kwargs)  # type: ignore[arg-type]
            store.results_path = p
            return store
        return cls(p, **kwargs)  # type: ignore[arg-type]

    # -- state ----------------------------------------------------------------------------
    def _reset(self) -> None:
        self.header: tuple[str, ...] | None = None
        self._offset = 0
        self._lines = 0
        self._ident: tuple[int, int] | None = None
        self.torn_bytes = 0
        self.salvaged_rows = 0
        self.skipped_rows = 0
        self.malformed_rows: list[tuple[int, str]] = []
        self._index = LineageIndex(
            metric_field=self._metric_field_arg or "core_metric",
            lower_is_better=self.lower_is_better,
        )

    def _reset_writer(self) -> None:
        # The writer side tracks only the header and where the last complete record ends;
        # it never builds trials, so the time spent under the exclusive lock stays tiny.
        self._w_ident: tuple[int, int] | None = None
        self._w_header: tuple[str, ...] | None = None
        self._w_offset = 0

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

    def _sync(self) -> LineageIndex:
        try:
            fd = os.open(self.results_path, os.O_RDONLY)
        except FileNotFoundError:
            if self._ident is not None or self._offset:
                self._reset()
            return self._index
        try:
            _lock(fd, exclusive=False)
            try:
                data = self._fetch_new(fd)
            finally:
                _unlock(fd)
        finally:
            os.close(fd)
        if data:
            self._ingest(data)  # parse outside the lock: writers are never held up by it
        return self._index

    def _fetch_new(self, fd: int) -> bytes:
        """The bytes appended since the last read (caller holds a shared lock on *fd*)."""
        st = os.fstat(fd)
        ident = (st.st_dev, st.st_ino)
        if ident != self._ident or st.st_size < self._offset:
            self._reset()
            self._ident = ident
        if st.st_size == self._offset:
            return b""
        return os.pread(fd, st.st_size - self._offset, self._offset)

    def _ingest(self, data: bytes) -> None:
        """Parse complete records of *data* (which starts at ``self._offset``) into the index."""
        # A cold load of a big log allocates ~40 objects per row; the cyclic GC would walk the
        # growing heap again and again (half the load time) though none of them form cycles.
        pause_gc = len(data) >= _GC_PAUSE_BYTES and gc.isenabled()
        if pause_gc:
            gc.disable()
        try:
            self._ingest_records(data)
        finally:
            if pause_gc:
                gc.enable()

    def _ingest_records(self, data: bytes) -> None:
        records, consumed = split_records(data, first_line=self._lines + 1)
        new_bad: list[tuple[int, str]] = []
        idx = self._index
        start = 0
        if self.header is None and records:
            cells = records[0][1]
            header: tuple[str, ...] = tuple(cells)
            if "exp_id" not in header:  # a wrong file, not a log with bad rows
                self._reset()
                raise ValueError(
                    f"{self.results_path} is not a trial log: its first line has no "
                    f"'exp_id' column ({one_line(cells[0])[:60]!r}…)"
                )
            if self._metric_field_arg and self._metric_field_arg not in header:
                self._reset()
                raise ValueError(
                    f"{self.results_path}: metric column {self._metric_field_arg!r} is not "
                    f"in the header {list(header)}"
                )
            self.header = header
            field = self._metric_field_arg or default_metric_field(self.header)
            idx = self._index = LineageIndex(
                metric_field=field, lower_is_better=self.lower_is_better
            )
            start = 1
        if self.header is not None:
            header = self.header
            width = len(header)
            metric_field = idx.metric_field
            build = row_builder(header, metric_field)
            parsed: list[Trial] = []  # indexed in one pass after the loop
            add = parsed.append
            salvage = self.salvage_malformed
            for line, cells in records[start:] if start else records:
                if len(cells) == width:
                    try:
                        add(build(cells))
                        continue
                    except (ValueError, KeyError):
                        pass  # from_cells below raises the error that names the cell
                elif salvage and len(cells) < width:
                    fixed = self._salvage(cells, metric_field)
                    if fixed is not None:
                        add(fixed)
                        self.salvaged_rows += 1
                        continue
                try:
                    trial = Trial.from_cells(header, cells, metric_field=metric_field)
                except ValueError as exc:
                    if self.strict:
                        self._reset()
                        raise ValueError(
                            f"{self.results_path}: malformed row at line {line}: {exc}"
                        ) from None
                    new_bad.append((line, str(exc)))
                    continue
                add(trial)
            idx.extend(parsed)
        self._offset += consumed
        self._lines += data.count(b"\n", 0, consumed)
        torn = len(data) - consumed
        if new_bad:
            self.malformed_rows.extend(new_bad)
            self.skipped_rows += len(new_bad)
            line, why = new_bad[0]
            warnings.warn(
                f"{self.results_path}: skipped {len(new_bad)} malformed row(s) "
                f"(first at line {line}: {why})",
                MalformedRowWarning,
                stacklevel=5,
            )
        if torn and torn != self.torn_bytes:
            warnings.warn(
                f"{self.results_path}: ignoring a torn last line ({torn} bytes, no newline) — "
                "an append was interrupted",
                MalformedRowWarning,
                stacklevel=5,
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
            fd = os.open(self.results_path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
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
        ident = (st.st_dev, st.st_ino)
        if ident != self._w_ident or st.st_size < self._w_offset:
            self._reset_writer()
            self._w_ident = ident
        if self._w_header is None and st.st_size:
            data = os.pread(fd, st.st_size, 0)
            first = first_record_len(data)
            if first:
                chunk = parse_chunk(data[:first])
                self._w_header = tuple(chunk.records[0].cells) if chunk.records else None
                self._w_offset = complete_prefix_len(data)
            return self._w_header, st.st_size - self._w_offset
        if st.st_size > self._w_offset:
            data = os.pread(fd, st.st_size - self._w_offset, self._w_offset)
            self._w_offset += complete_prefix_len(data)
        return self._w_header, st.st_size - self._w_offset

    def _append_locked(self, fd: int, trial: Trial) -> None:
        header, torn = self._writer_scan(fd)
        prefix = b""
        if header is None:
            if torn:  # only a torn, header-less fragment: a dead first write
                os.ftruncate(fd, 0)
                self._reset_writer()
                st = os.fstat(fd)
                self._w_ident = (st.st_dev, st.st_ino)
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
                tail = os.pread(fd, torn, self._w_offset)
                # Close the dead fragment as its own (malformed) record; keep quote parity.
                prefix = b'"\n' if tail.count(b'"') % 2 else b"\n"
        if self._metric_field_arg and self._metric_field_arg in header:
            field = self._metric_field_arg
        else:
            field = default_metric_field(header)
        fmt = self.float_format
        data = prefix + encode_row([trial.file_cell(c, field, float_format=fmt) for c in header])
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
        self._w_offset = os.fstat(fd).st_size
