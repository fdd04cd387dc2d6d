"""Ingest files and folders into a pipeline's table, incrementally.

Each file is one document whose id is derived from its absolute path. A file whose content hash
and embedder match the recorded ones is skipped; a changed file's chunks are replaced in one
transaction; a recorded file that no longer exists under an ingested folder is removed (also one
whose chunks a killed run wrote without recording its hash). Files that cannot be read or parsed
are reported in the summary and leave what is stored untouched.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fieldkit._lazy import MissingExtraError
from fieldkit._progress import progress_bar
from fieldkit.rag._chunking import DocChunk, chunk_document, estimate_tokens
from fieldkit.rag._discover import read_confined, walk
from fieldkit.rag._embedders import embedder_name
from fieldkit.rag._ids import chunk_ids
from fieldkit.rag._locate import Location, Locator
from fieldkit.rag._parsers import ParseError, kind_of, parse_bytes
from fieldkit.rag._sources import SourceTables
from fieldkit.rag._types import RAGError

if TYPE_CHECKING:
    from fieldkit.rag._pipeline import Pipeline

__all__ = [
    "DEFAULT_MAX_FILE_BYTES",
    "IngestInterrupted",
    "IngestSummary",
    "doc_id_for",
    "ingest_paths",
    "slow_rate_advice",
    "time_left",
    "walk",
]

DEFAULT_MAX_FILE_BYTES = 32 * 1024 * 1024
_DOC_ID_SPACE = 2**49  # chunk ids doc_id * 10_000 + i stay inside BIGINT


@dataclass
class IngestSummary:
    """What an ``ingest_paths`` run did. ``warnings``: (path, reason) per file not ingested.
    ``total_files``/``total_bytes``: what the walk found before reading; ``bytes_done``: the
    bytes of the files finished (written, unchanged or skipped)."""

    files: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    ignored: int = 0
    chunks: int = 0
    chunks_removed: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0
    total_files: int = 0
    total_bytes: int = 0
    bytes_done: int = 0
    warnings: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "warnings"}
        out["warnings"] = [{"path": p, "reason": r} for p, r in self.warnings]
        return out


class IngestInterrupted(KeyboardInterrupt):
    """Ctrl-C during ``ingest_paths``: ``summary`` counts only what was written and kept
    (finished batches); running the same ingest again continues where this one stopped."""

    def __init__(self, summary: IngestSummary) -> None:
        super().__init__("ingest interrupted")
        self.summary = summary


SLOW_CHUNKS_PER_S = 20.0


def slow_rate_advice(summary: IngestSummary, backend: str, device: str) -> list[str]:
    """The faster options, when embedding ran below ``SLOW_CHUNKS_PER_S`` (after at least 64
    chunks, so a short run says nothing). ``backend``: onnx|torch|service; ``device``: cpu|…"""
    if summary.chunks < 64 or summary.embed_seconds <= 0:
        return []
    rate = summary.chunks / summary.embed_seconds
    if rate >= SLOW_CHUNKS_PER_S:
        return []
    out = [f"embedding ran at {rate:.1f} chunks/s; faster options:"]
    if backend == "torch" and device == "cpu":
        out.append("  - the ONNX backend on CPU: pip install 'fieldkit[onnx]'")
    if device == "cpu":
        out.append("  - a GPU: --device cuda (or mps on a Mac)")
    out.append(
        "  - an embedding server on a faster machine (`fieldkit serve --embeddings`, or any "
        "OpenAI-compatible /v1/embeddings): --embed-url URL, or Pipeline(embed_url=...)"
    )
    return out


def doc_id_for(path: str) -> int:
    """A stable document id for an absolute path (63-bit-safe for 10,000 chunks per file)."""
    digest = hashlib.sha256(path.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % _DOC_ID_SPACE or 1


@dataclass
class _Pending:
    path: str
    doc_id: int
    sha: str
    size: int
    title: str
    chunks: list[DocChunk]
    new: bool
    places: list[Location]


def time_left(total: int, done: int, skipped: int, elapsed: float) -> float | None:
    """Seconds until ``total`` bytes are done, at the rate of the bytes actually worked on
    (``done - skipped``: unchanged and unreadable files take no time); None before any work."""
    worked = done - skipped
    if worked <= 0 or elapsed <= 0:
        return None
    return max(total - done, 0) * elapsed / worked


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-:--"
    minutes, sec = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{sec:02d}" if hours else f"{minutes}:{sec:02d}"


class _Bar:
    """Files x/N, chunks, chunks/s, share of the bytes and time left on a stderr spinner
    (``fieldkit._progress``), or a callback with the summary."""

    def __init__(self, progress: bool | Callable[[IngestSummary], None] | None) -> None:
        self.callback = progress if callable(progress) else None
        self._stack = ExitStack()
        self.bar = self._stack.enter_context(
            progress_bar(
                "ingest: counting files", enabled=None if progress is None else progress is True
            )
        )
        self.skipped = 0  # bytes of files that needed no embedding
        self.shown_at = 0.0

    def update(
        self, s: IngestSummary, t0: float, *, chunks: int = 0, nbytes: int = 0, call: bool = True
    ) -> None:
        """Show ``s`` plus ``chunks``/``nbytes`` embedded but not yet written."""
        if call and self.callback is not None:
            self.callback(s)
        self.shown_at = time.perf_counter()
        if self.bar.shown:
            elapsed = time.perf_counter() - t0
            done = s.chunks + chunks
            at = s.bytes_done + nbytes
            share = 100.0 * at / s.total_bytes if s.total_bytes else 100.0
            left = _clock(time_left(s.total_bytes, at, self.skipped, elapsed))
            self.bar.advance(
                0,
                description=f"ingest: {s.files}/{s.total_files} files, {done} chunks, "
                f"{done / max(elapsed, 1e-9):.1f} chunks/s, {share:.0f}% of "
                f"{s.total_bytes / 1e6:.1f} MB, {left} left",
            )

    def close(self) -> None:
        self._stack.close()


def _sizes(files: Sequence[Path]) -> list[int]:
    out = []
    for path in files:
        try:
            out.append(path.stat().st_size)
        except OSError:
            out.append(0)
    return out


def ingest_paths(
    pipe: Pipeline,
    paths: Sequence[str | os.PathLike[str]],
    *,
    glob: Sequence[str] | str = (),
    label: str = "",
    chunk_tokens: int | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    progress: bool | Callable[[IngestSummary], None] | None = None,
    follow_symlinks: bool = False,
) -> IngestSummary:
    """See ``Pipeline.ingest_paths``."""
    t0 = time.perf_counter()
    globs = [glob] if isinstance(glob, str) else list(glob)
    if any(os.fspath(p) == "" for p in paths):  # abspath("") is the current folder
        raise ValueError("an empty path was given; name a file or folder")
    roots = [Path(os.path.abspath(os.fspath(p))) for p in paths]
    if not roots:
        raise ValueError("give at least one file or folder")
    embedder = pipe.embedder
    assert embedder is not None
    name = embedder_name(embedder)
    dim = pipe.embed_dim
    store = pipe.store
    sources = SourceTables(store)
    for other, other_dim in sources.embedders():
        if (other, other_dim) != (name, dim):
            raise RAGError(
                f"table {store.table.qualified} was built with embedder {other} (dimension "
                f"{other_dim}); this pipeline embeds with {name} (dimension {dim}); use "
                "another --table or the same embedder"
            )
    pipe.ensure_schema()  # before a file row records anything
    sources.ensure()
    records = sources.records()
    if records and store.is_empty():  # the chunks were dropped behind our back: start over
        records = {}
    counter = getattr(embedder, "count_tokens", None)
    count = counter if callable(counter) else estimate_tokens
    if chunk_tokens is not None:
        budget = chunk_tokens
    else:
        limit = getattr(embedder, "max_tokens", None)
        budget = int(limit) if isinstance(limit, int) and limit > 0 else pipe.chunk_tokens
    summary = IngestSummary()
    bar = _Bar(progress)
    try:  # count first, so progress has a total and a time left
        found = list(
            walk(
                roots,
                globs=globs,
                warn=summary_warn(summary),
                ignored=summary_ignored(summary),
                follow_symlinks=follow_symlinks,
            )
        )
        sizes = _sizes(found)
    except BaseException:
        bar.close()
        raise
    summary.total_files, summary.total_bytes = len(found), sum(sizes)
    bar.update(summary, t0)
    pending: list[_Pending] = []
    pending_chunks = 0
    seen: set[str] = set()
    failed = True

    warn = summary_warn(summary)

    def skipped(size: int) -> None:
        summary.bytes_done += size
        bar.skipped += size

    def flush() -> None:
        nonlocal pending, pending_chunks
        if not pending:
            return
        rows = []
        spans = []
        files = []
        for p in pending:
            ids = chunk_ids(p.doc_id, len(p.chunks))
            for idx, (cid, chunk) in enumerate(zip(ids, p.chunks, strict=True)):
                rows.append((cid, p.doc_id, idx, label, chunk.text))
                at = p.places[idx]
                spans.append(
                    (cid, p.doc_id, chunk.heading, at.start, at.end, at.line, at.anchor, at.page)
                )
            files.append((p.path, p.doc_id, p.sha, p.size, p.title, len(p.chunks)))
        pending_bytes = sum(p.size for p in pending)

        def embedded(got: int) -> None:  # the bar (and its time left) moves during a batch
            nbytes = pending_bytes * got // max(len(rows), 1)
            bar.update(summary, t0, chunks=got, nbytes=nbytes, call=False)

        # File rows first with an empty hash, so a run killed before the real rows are written
        # re-ingests these files next time, or removes their chunks if they are gone by then.
        sources.record([(*f[:2], "", *f[3:]) for f in files], None, embedder=name, dim=dim)
        before = writer.embed_seconds
        writer.write([p.doc_id for p in pending], rows, progress=embedded)
        summary.embed_seconds += writer.embed_seconds - before
        sources.record(files, spans, embedder=name, dim=dim)
        for p in pending:
            if p.new:
                summary.added += 1
            else:
                summary.updated += 1
        summary.chunks += len(rows)
        summary.bytes_done += pending_bytes
        pending, pending_chunks = [], 0
        bar.update(summary, t0)

    writer = pipe.bulk_writer()
    try:
        writer.open()
        for path, size in zip(found, sizes, strict=True):
            key = str(path)
            seen.add(key)
            summary.files += 1
            if time.perf_counter() - bar.shown_at > 0.25:  # a few redraws a second, at most
                bar.update(summary, t0)
            item = _read(path, key, records, name, max_file_bytes, warn, roots, follow_symlinks)
            if item is None:
                skipped(size)
                continue
            if isinstance(item, str):  # "unchanged"
                summary.unchanged += 1
                skipped(size)
                continue
            sha, size, data = item
            kind = kind_of(path) or "text"
            try:
                doc = parse_bytes(data, kind, name=path.stem)
                chunks = chunk_document(doc, budget, count)
            except (ParseError, MissingExtraError) as exc:
                warn(key, str(exc))
                skipped(size)
                continue
            except RecursionError:
                warn(key, "too deeply nested to parse")
                skipped(size)
                continue
            if not chunks:
                warn(key, "no text found")
                skipped(size)
                continue
            try:
                chunk_ids(doc_id_for(key), len(chunks))
            except RAGError as exc:
                warn(key, str(exc))
                skipped(size)
                continue
            locator = Locator(doc)
            places = [locator.locate(c.start, c.end) for c in chunks]
            pending.append(
                _Pending(
                    key, doc_id_for(key), sha, size, doc.title, chunks, key not in records, places
                )
            )
            pending_chunks += len(chunks)
            if pending_chunks >= pipe.write_batch:
                flush()
        flush()
        gone = [p for p in records if p not in seen and _under(p, roots) and not os.path.lexists(p)]
        if gone:
            summary.chunks_removed = sources.remove(gone)
            summary.removed = len(gone)
        bar.update(summary, t0)
        failed = False
    except KeyboardInterrupt as exc:
        summary.seconds = time.perf_counter() - t0
        raise IngestInterrupted(summary) from exc
    finally:
        bar.close()
        writer.close(failed=failed)
        summary.seconds = time.perf_counter() - t0
    return summary


def summary_warn(summary: IngestSummary) -> Callable[[str, str], None]:
    """A ``warn(path, reason)`` that records into ``summary.warnings``."""

    def warn(path: str, reason: str) -> None:
        summary.warnings.append((path, reason))

    return warn


def summary_ignored(summary: IngestSummary) -> Callable[[], None]:
    """An ``ignored()`` that counts into ``summary.ignored``."""

    def ignored() -> None:
        summary.ignored += 1

    return ignored


def _under(path: str, roots: Sequence[Path]) -> bool:
    for root in roots:
        r = str(root)
        if path == r or path.startswith(r.rstrip("/") + "/"):
            return True
    return False


def _read(
    path: Path,
    key: str,
    records: dict[str, Any],
    embedder: str,
    max_bytes: int,
    warn: Callable[[str, str], None],
    roots: Sequence[Path],
    follow_symlinks: bool,
) -> tuple[str, int, bytes] | str | None:
    """(sha256, size, bytes), ``"unchanged"``, or None after a warning."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            warn(key, f"too large ({size:,} bytes > {max_bytes:,}); skipped")
            return None
        data = read_confined(path, roots, max_bytes, follow_symlinks=follow_symlinks)
    except OSError as exc:
        warn(key, f"cannot read: {exc.strerror or exc}")
        return None
    if len(data) > max_bytes:
        warn(key, f"too large (> {max_bytes:,} bytes); skipped")
        return None
    sha = hashlib.sha256(data).hexdigest()
    rec = records.get(key)
    if rec is not None and rec.sha256 == sha and rec.embedder == embedder:
        return "unchanged"
    return sha, len(data), data
