"""Pipeline.ingest_paths on real files, the real embedder and the embedded Postgres."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from fieldkit.rag import Pipeline, RAGError


def _tree(root: Path) -> Path:
    docs = root / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "guide.md").write_text(
        "# Zorblax guide\n\nZorblax quantization packs weights into nine bits.\n\n"
        "## Install\n\nRun `pip install zorblax` on the Spark.\n",
        encoding="utf-8",
    )
    (docs / "sub" / "page.html").write_text(
        "<html><head><title>Quokka notes</title></head><body><nav>menu</nav>"
        "<h1>Quokka notes</h1><p>Quokkas live on Rottnest Island.</p></body></html>",
        encoding="utf-8",
    )
    (docs / "notes.txt").write_text("Plain text about pelicans and their beaks.\n")
    (docs / "latin1.txt").write_bytes("Café crème in Paris, naïve façade.".encode("latin-1"))
    (docs / "blob.txt").write_bytes(b"\x00\x01\x02binary\x00" * 10)
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 nothing else")
    (docs / "image.png").write_bytes(b"\x89PNG")  # unsupported kind: ignored
    (docs / ".hidden.md").write_text("# hidden\n\nnever ingested\n")
    os.symlink(docs, docs / "sub" / "loop")  # a symlink loop
    return docs


def test_ingest_folder_sources_incremental_and_bad_files(
    make_pipe: Callable[..., Pipeline], tmp_path: Path
) -> None:
    pytest.importorskip("pypdf")
    docs = _tree(tmp_path)
    pipe = make_pipe()
    s = pipe.ingest_paths([docs], progress=False)
    assert (s.added, s.updated, s.unchanged, s.removed) == (4, 0, 0, 0)
    reasons = {Path(p).name: r for p, r in s.warnings}
    assert "binary" in reasons["blob.txt"]
    assert "PDF" in reasons["broken.pdf"]
    assert "loop" in reasons and "symlink loop" in reasons["loop"]
    assert s.ignored == 1 and s.chunks == pipe.count() >= 4

    top = pipe.retrieve("Where do quokkas live?", top_k=1, mode="hybrid")[0]
    assert top.source is not None and top.source.path.endswith("page.html")
    assert top.source.title == "Quokka notes" and top.source.heading == ("Quokka notes",)
    lex = pipe.retrieve("zorblax install pip", top_k=1, mode="lexical")[0]
    assert lex.source is not None and lex.source.heading == ("Zorblax guide", "Install")
    text = (docs / "guide.md").read_text()
    assert "pip install zorblax" in text[lex.source.start : lex.source.end]
    assert "Café" in pipe.retrieve("cafe creme Paris", top_k=1, mode="lexical")[0].text

    # unchanged → skipped; changed → replaced; deleted → removed; a failing file keeps its rows
    s2 = pipe.ingest_paths([docs], progress=False)
    assert (s2.added, s2.updated, s2.unchanged, s2.chunks) == (0, 0, 4, 0)
    (docs / "guide.md").write_text("# Zorblax guide\n\nNow about ten bits.\n")
    (docs / "notes.txt").unlink()
    before = pipe.count()
    (docs / "sub" / "page.html").chmod(0o000)
    try:
        s3 = pipe.ingest_paths([docs], progress=False)
    finally:
        (docs / "sub" / "page.html").chmod(0o644)
    assert (s3.updated, s3.removed) == (1, 1)
    if os.geteuid() != 0:  # root reads anything
        assert any("page.html" in p for p, _ in s3.warnings)
    assert pipe.count() == before - 2  # guide.md 2 → 1 chunk, notes.txt gone, page.html kept
    hits = pipe.retrieve("pelicans beaks", top_k=5, mode="lexical")
    assert not any("pelican" in c.text for c in hits)
    assert "ten bits" in pipe.retrieve("zorblax bits", top_k=1, mode="lexical")[0].text


def test_ingest_single_file_and_glob(make_pipe: Callable[..., Pipeline], tmp_path: Path) -> None:
    docs = _tree(tmp_path)
    pipe = make_pipe()
    s = pipe.ingest_paths([docs], glob="*.md", progress=False)
    assert s.added == 1 and [Path(p).name for p, _ in s.warnings] == ["loop"]
    s = pipe.ingest_paths([docs / "notes.txt"], progress=False)
    assert s.added == 1
    # the single-file run must not remove guide.md (outside its root)
    assert s.removed == 0
    assert pipe.retrieve("zorblax", top_k=1, mode="lexical")


class _HashEmbedder:
    """A user-supplied embedder of another identity and dimension."""

    name = "test:hash-16"
    dim = 16

    def embed(self, texts: Sequence[str], *, input_type: str = "passage") -> np.ndarray:
        out = np.zeros((len(texts), 16), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.split():
                out[i, hash(w) % 16] += 1.0
        out[:, 0] += 1e-3
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def close(self) -> None:
        pass


def test_table_of_another_embedder_is_refused_naming_both(
    make_pipe: Callable[..., Pipeline], tmp_path: Path
) -> None:
    docs = _tree(tmp_path)
    first = make_pipe()
    first.ingest_paths([docs / "notes.txt"], progress=False)
    before = first.count()
    other = make_pipe(embedder=_HashEmbedder())
    with pytest.raises(RAGError) as info:
        other.ingest_paths([docs], progress=False)
    msg = str(info.value)
    assert "all-MiniLM-L6-v2" in msg and "384" in msg and "test:hash-16" in msg and "16" in msg
    assert first.count() == before


def test_many_files_stream_with_bounded_batches(
    make_pipe: Callable[..., Pipeline], tmp_path: Path
) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(300):
        (folder / f"n{i:04d}.txt").write_text(f"note {i}")
    pipe = make_pipe(embedder=_HashEmbedder(), write_batch=64)
    seen: list[int] = []
    s = pipe.ingest_paths([folder], progress=lambda summ: seen.append(summ.chunks))
    assert s.added == 300 and pipe.count() == 300
    assert seen and seen == sorted(seen) and len(seen) >= 4  # written in several batches


def test_lexical_and_fusion_options(make_pipe: Callable[..., Pipeline], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lexical"):
        make_pipe(lexical="tfidf")
    with pytest.raises(ValueError, match="fusion"):
        make_pipe(fusion="max")
    docs = _tree(tmp_path)
    bm25 = make_pipe(embedder=_HashEmbedder())
    bm25.ingest_paths([docs], glob=["*.md", "*.txt"], progress=False)
    for kwargs in ({"lexical": "postgres", "fusion": "chunk"}, {}):
        p = make_pipe(embedder=_HashEmbedder(), **kwargs)
        assert p.retrieve("zorblax quantization", top_k=1, mode="lexical")[0].text.startswith(
            "Zorblax guide"
        )
        ranked = p.retrieve("zorblax quantization", top_k=10, mode="hybrid")
        assert len({c.id for c in ranked}) == len(ranked) == bm25.count()
    # the BM25 index follows the table: a new file is found without a new pipeline
    assert bm25.retrieve("zorblax", top_k=1, mode="lexical")  # index built
    (docs / "new.md").write_text("# Wombats\n\nWombats have cube-shaped droppings.\n")
    bm25.ingest_paths([docs], glob=["*.md", "*.txt"], progress=False)
    assert "Wombats" in bm25.retrieve("wombats droppings", top_k=1, mode="lexical")[0].text


def test_huge_files_are_skipped_with_a_warning(
    make_pipe: Callable[..., Pipeline], tmp_path: Path
) -> None:
    docs = _tree(tmp_path)
    pipe = make_pipe(embedder=_HashEmbedder())
    s = pipe.ingest_paths([docs], glob="*.txt", max_file_bytes=40, progress=False)
    reasons = {Path(p).name: r for p, r in s.warnings}
    assert "too large" in reasons["notes.txt"] and s.added == 1  # latin1.txt is 34 bytes


def test_default_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    from fieldkit.rag._embedders import default_threads

    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    # a busy last minute must not shrink the thread count: only the affinity mask counts
    monkeypatch.setattr(os, "getloadavg", lambda: (1e6, 0.0, 0.0))
    assert default_threads() == len(os.sched_getaffinity(0))
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 5, 7})
    assert default_threads() == 5


_KILLED_CHILD = """
import os, signal, sys
from fieldkit.rag import Pipeline
from fieldkit.rag import _sources
from tests.rag._hash import Hash16 as Hash

calls = []
real = _sources.SourceTables.record
def record(self, *a, **kw):
    if a[1] is not None:  # spans: the call recording a batch whose chunks are committed
        calls.append(1)
    if len(calls) == 2:  # the 2nd batch's chunks are committed, its hashes are not
        os.kill(os.getpid(), signal.SIGKILL)
    return real(self, *a, **kw)
_sources.SourceTables.record = record
pipe = Pipeline(pgvector_dsn=sys.argv[1], table=sys.argv[2], embedder=Hash(), write_batch=8)
pipe.ingest_paths([sys.argv[3]], progress=False)
"""


def test_a_killed_ingest_resumes_without_duplicates_or_orphans(
    make_pipe: Callable[..., Pipeline], pg_dsn: str, pg_table: str, tmp_path: Path
) -> None:
    """SIGKILL mid-run (chunks of a batch committed, its file rows not, HNSW dropped for the
    bulk load); the next run leaves one copy of every file's chunks, none of a file deleted
    in between, and the index back."""
    import subprocess
    import sys

    folder = tmp_path / "notes"
    folder.mkdir()
    for i in range(40):
        (folder / f"n{i:02d}.txt").write_text(f"note number {i} about topic {i * 7}")
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_CHILD, pg_dsn, pg_table, str(folder)],
        cwd=Path(__file__).resolve().parents[2],  # the child imports tests.rag._hash from here
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -9, proc.stderr
    pipe = make_pipe(embedder=_HashEmbedder(), write_batch=8)
    assert pipe.count() == 16  # two batches of 8 were committed
    (folder / "n10.txt").unlink()  # in the 2nd batch: chunks stored, never recorded
    s = pipe.ingest_paths([folder], progress=False)
    assert s.unchanged == 8 and s.added + s.updated == 31 and s.removed == 1
    assert pipe.count() == 39
    assert pipe.store.has_ann_index()
    assert not any("number 10 " in c.text for c in pipe.retrieve("note number 10", top_k=40))


def test_a_stored_file_that_turns_bad_keeps_its_chunks(
    make_pipe: Callable[..., Pipeline], tmp_path: Path
) -> None:
    """Even as root (where chmod 000 still reads): a file now binary is a warning, its chunks stay,
    and it is tried again next run."""
    docs = _tree(tmp_path)
    pipe = make_pipe(embedder=_HashEmbedder())
    pipe.ingest_paths([docs], glob="*.md", progress=False)
    before = pipe.count()
    (docs / "guide.md").write_bytes(b"\x00\x01binary now\x00")
    s = pipe.ingest_paths([docs], glob="*.md", progress=False)
    assert sorted(Path(p).name for p, _ in s.warnings) == ["guide.md", "loop"]
    assert (s.updated, s.removed, pipe.count()) == (0, 0, before)
    (docs / "guide.md").write_text("# Zorblax guide\n\nBack to text.\n")
    s = pipe.ingest_paths([docs], glob="*.md", progress=False)
    assert s.updated == 1 and "Back to text" in pipe.retrieve("back text", mode="lexical")[0].text
