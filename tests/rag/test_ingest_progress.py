"""What `ingest_paths` reports while it runs: totals first, then monotonic progress."""

from __future__ import annotations

from pathlib import Path

from fieldkit.rag import IngestSummary, Pipeline

from .test_server import _HashEmbedder


def test_progress_counts_files_and_bytes_first(pg_dsn: str, pg_table: str, tmp_path: Path) -> None:
    for i in range(40):
        (tmp_path / f"n{i:02d}.txt").write_text(f"note number {i} " * (i + 1))
    (tmp_path / "bad.txt").write_bytes(b"\x00binary")
    total = sum(p.stat().st_size for p in tmp_path.iterdir())
    seen: list[tuple[int, int, int, int, int]] = []

    def report(s: IngestSummary) -> None:
        seen.append((s.total_files, s.total_bytes, s.files, s.bytes_done, s.chunks))

    with Pipeline(
        pgvector_dsn=pg_dsn, table=pg_table, embedder=_HashEmbedder(), write_batch=8
    ) as pipe:
        s = pipe.ingest_paths([tmp_path], progress=report)
        assert seen[0][:2] == (41, total) and seen[0][2:] == (0, 0, 0)  # counted before reading
        assert all(r[:2] == (41, total) for r in seen)
        for column in (2, 3, 4):
            values = [r[column] for r in seen]
            assert values == sorted(values)
        assert (s.total_files, s.total_bytes, s.bytes_done) == (41, total, total)
        again = pipe.ingest_paths([tmp_path], progress=False)
        assert again.unchanged == 40 and again.bytes_done == total
