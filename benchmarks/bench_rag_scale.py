"""fieldkit.rag at daily-use size: ingest, first query in a fresh process, p50/p95 per mode.

Corpus: real text, the docstrings of the Python this benchmark runs on: the standard library,
then the installed packages (module, class and function docstrings), one chunk per distinct
paragraph of at least six words. When there are fewer paragraphs than the size asked for, the
list is reused whole: copy ``k`` (k = 1, 2, ...) is every paragraph again with `` (copy k)``
appended, so each chunk text is distinct but its words repeat. Embeddings come from a hash
embedder (bag of words hashed into 128 dimensions), so the store is measured, not a model.

Sizes: 10k and 100k chunks (2k and 10k with ``--quick``); ``FIELDKIT_RAG_SCALE_SIZES`` (e.g.
``1000000`` or ``1m`` or ``10k,100k``) chooses others and overrides ``--quick``. Per size:
- fieldkit: ``Pipeline.ingest`` wall time (HNSW and lexical postings included), the first
  hybrid and first lexical query each in a fresh ``python`` process (pipeline construction,
  connection and query; interpreter start and imports excluded, stated separately), warm
  p50/p95 of dense / lexical / hybrid over 60 queries, the client's peak RSS, the size on
  disk of the table with its indexes and postings, and the one-off lexical backfill a table
  built before the index pays (``Store.rebuild_lexical``);
- bm25s (``bench`` extra): index build time, query p50/p95 and memory, over the same chunks
  (its own tokenizer: lower-case, English stop words, PyStemmer);
- plain pgvector dense: ``id, embedding`` table, COPY + HNSW build time, and p50/p95 of
  ``ORDER BY embedding <=> q LIMIT 10`` on one pooled connection.

Runs on ``$FIELDKIT_BENCH_DSN`` if set, else a throw-away embedded Postgres.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import re
import resource
import subprocess
import sys
import sysconfig
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmarks._table import Row
from benchmarks.bench_rag import _dsn

if TYPE_CHECKING:
    from fieldkit.rag import Pipeline

DESCRIPTION = (
    "rag at 10k/100k chunks ($FIELDKIT_RAG_SCALE_SIZES for others; Python docstrings, hash "
    "embedder): ingest, first query in a fresh process, p50/p95 per mode, memory, disk; vs "
    "bm25s and plain pgvector dense"
)

DIM = 128
TOP_K = 10
N_QUERIES = 60
SIZES = (10_000, 100_000)
QUICK_SIZES = (2_000, 10_000)
SIZES_ENV = "FIELDKIT_RAG_SCALE_SIZES"
_SIZE = re.compile(r"([0-9]{1,9})([km]?)")
_WORD = re.compile(r"[a-z0-9_]+")


class HashEmbedder:
    """Bag-of-words feature hashing into ``DIM`` dimensions (crc32: the same in every
    process), L2-normalised, with a constant component so no vector is zero."""

    name = "bench-hash-128"

    @property
    def dim(self) -> int:
        return DIM

    def embed(self, texts: Sequence[str], *, input_type: str = "passage") -> np.ndarray:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        out[:, 0] = 0.5
        for i, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                out[i, 1 + zlib.crc32(word.encode()) % (DIM - 1)] += 1.0
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out

    def close(self) -> None:
        pass


def docstring_paragraphs(limit: int) -> list[str]:
    """Up to ``limit`` distinct docstring paragraphs (≥ 6 words): the interpreter's standard
    library first, then the installed packages (``purelib``), in path order."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    purelib = Path(sysconfig.get_paths()["purelib"])
    out: list[str] = []
    seen: set[str] = set()
    for root in (stdlib, purelib):
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(root).parts
            if "test" in rel or "tests" in rel or (root == stdlib and "site-packages" in rel):
                continue
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"))
            except (SyntaxError, UnicodeDecodeError, OSError, ValueError, RecursionError):
                continue
            for node in ast.walk(tree):
                if not isinstance(
                    node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
                ):
                    continue
                doc = ast.get_docstring(node)
                for para in re.split(r"\n\s*\n", doc or ""):
                    text = " ".join(para.split())
                    if len(text.split()) >= 6 and "\x00" not in text and text not in seen:
                        seen.add(text)
                        out.append(text)
                        if len(out) >= limit:
                            return out
    return out


def parse_sizes(spec: str) -> tuple[int, ...]:
    """Chunk counts from ``"1000000"``, ``"1m"`` or ``"10k,100k"`` (k = 1,000, m = 1,000,000);
    each between 100 and 10,000,000. Raises ValueError naming the bad part."""
    out = []
    for part in spec.replace(" ", "").lower().split(","):
        m = _SIZE.fullmatch(part)
        if m is None:
            raise ValueError(f"{SIZES_ENV}: {part!r} is not a chunk count (e.g. 1000000, 1m, 100k)")
        n = int(m.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2)]
        if not 100 <= n <= 10_000_000:
            raise ValueError(f"{SIZES_ENV}: {part!r} is outside 100..10,000,000 chunks")
        out.append(n)
    return tuple(out)


def sizes(quick: bool) -> tuple[int, ...]:
    """``$FIELDKIT_RAG_SCALE_SIZES`` when set, else the quick or full default sizes."""
    spec = os.environ.get(SIZES_ENV, "").strip()
    if spec:
        return parse_sizes(spec)
    return QUICK_SIZES if quick else SIZES


def size_tag(n: int) -> str:
    """``2k``, ``100k``, ``1M``, ``2.5M``."""
    if n >= 1_000_000:
        return f"{n / 1_000_000:g}M"
    return f"{n / 1000:g}k"


def corpus(n: int, paragraphs: Sequence[str]) -> list[str]:
    """``n`` chunk texts: the paragraphs, then the whole list again with `` (copy k)``
    appended (k = 1, 2, ...) until there are ``n``."""
    if not paragraphs:
        raise ValueError("no docstring paragraphs found to build the corpus from")
    out = list(paragraphs[:n])
    copy = 1
    while len(out) < n:
        out.extend(f"{p} (copy {copy})" for p in paragraphs[: n - len(out)])
        copy += 1
    return out


def queries(texts: Sequence[str], n: int = N_QUERIES) -> list[str]:
    """Known-item style queries: 4-8 words from evenly spaced chunks."""
    step = max(1, len(texts) // n)
    out = []
    for i in range(0, step * n, step):
        words = texts[i % len(texts)].split()
        out.append(" ".join(words[1 : 1 + min(8, max(4, len(words) // 3))]))
    return out


def _pct(xs: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q)) if xs else 0.0


def _timed(fn: Callable[[str], Any], qs: Sequence[str]) -> list[float]:
    for q in qs[:3]:
        fn(q)
    out = []
    for q in qs:
        t0 = time.perf_counter()
        fn(q)
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def first_query(dsn: str, table: str, mode: str, query: str) -> dict[str, float]:
    """In this (fresh) process: seconds to build a pipeline and answer one query."""
    t_import = time.perf_counter()
    from fieldkit.rag import Pipeline

    t0 = time.perf_counter()
    with Pipeline(pgvector_dsn=dsn, table=table, embedder=HashEmbedder()) as pipe:
        hits = pipe.retrieve(query, top_k=TOP_K, mode=mode)
    return {
        "import_s": t0 - t_import,
        "first_s": time.perf_counter() - t0,
        "hits": float(len(hits)),
        "rss_mb": _rss_mb(),
    }


def _fresh(dsn: str, table: str, mode: str, query: str) -> dict[str, float]:
    code = (
        "import json, sys; from benchmarks.bench_rag_scale import first_query; "
        "print(json.dumps(first_query(*sys.argv[1:])))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, dsn, table, mode, query],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _disk_mb(dsn: str, tables: Sequence[str]) -> float:
    import psycopg

    with psycopg.connect(dsn) as conn:
        total = 0
        for t in tables:
            row = conn.execute(
                "SELECT coalesce(pg_total_relation_size(to_regclass(%s)), 0)", (t,)
            ).fetchone()
            total += int(row[0]) if row else 0
    return total / 2**20


class _IngestLog:
    """Progress callback printing chunks written and the rate so far about every ``every``
    chunks, so a long load shows where it is (and what it managed if it is stopped)."""

    def __init__(self, tag: str, total: int, every: int) -> None:
        self.tag, self.total, self.every = tag, total, every
        self.done = 0
        self.next = every
        self.t0 = time.perf_counter()

    def __call__(self, chunks: int) -> None:
        self.done += chunks
        if self.done >= self.next and self.done < self.total:
            self.next += self.every
            dt = time.perf_counter() - self.t0
            print(
                f"[{self.tag}] ingest: {self.done:,}/{self.total:,} chunks written in {dt:.0f} s "
                f"({self.done / dt:.0f} chunks/s)",
                flush=True,
            )


def _fieldkit(dsn: str, texts: Sequence[str], qs: Sequence[str], n: int) -> dict[str, Any]:
    from fieldkit.rag import Document, Pipeline

    table = f"scale_{n}"
    tag = size_tag(n)
    pipe = Pipeline(pgvector_dsn=dsn, table=table, embedder=HashEmbedder(), chunk_tokens=2000)
    pipe.drop_table()
    pipe.ensure_schema()
    log = _IngestLog(tag, n, every=max(n // 10, 1000))
    t0 = time.perf_counter()
    written = pipe.ingest((Document(i + 1, t) for i, t in enumerate(texts)), progress=log)
    ingest_s = time.perf_counter() - t0
    assert written >= n, (written, n)  # a paragraph over chunk_tokens is split in two
    index_s = float(pipe.last_ingest.get("index_build_seconds", 0.0))
    pipe.close()
    print(
        f"[{tag}] ingest done: {ingest_s:.1f} s (HNSW build and VACUUM at the end {index_s:.1f} s)",
        flush=True,
    )
    first = {m: _fresh(dsn, table, m, qs[0]) for m in ("hybrid", "lexical")}
    out: dict[str, Any] = {"ingest_s": ingest_s, "index_s": index_s, "first": first}
    with Pipeline(pgvector_dsn=dsn, table=table, embedder=HashEmbedder()) as p:
        for mode in ("dense", "lexical", "hybrid"):
            lat = _timed(functools.partial(_retrieve, p, mode), qs)
            out[mode] = (_pct(lat, 50), _pct(lat, 95))
    out["disk_mb"] = _disk_mb(dsn, _fieldkit_tables(table))
    return out


def _retrieve(pipe: Pipeline, mode: str, query: str) -> object:
    return pipe.retrieve(query, top_k=TOP_K, mode=mode)


def _fieldkit_tables(table: str) -> list[str]:
    return [table, f"{table}_lex", f"{table}_lexstats", f"{table}_files", f"{table}_spans"]


def _backfill(dsn: str, n: int) -> float:
    """Seconds ``Store.rebuild_lexical`` takes on the size-``n`` table: the one-off cost a
    table built before the lexical index pays on first use."""
    from fieldkit.rag import Pipeline

    with Pipeline(pgvector_dsn=dsn, table=f"scale_{n}", embedder=HashEmbedder()) as p:
        t0 = time.perf_counter()
        p.store.rebuild_lexical()
        return time.perf_counter() - t0


def _bm25s(texts: Sequence[str], qs: Sequence[str]) -> dict[str, Any] | None:
    try:
        import bm25s
        import Stemmer
    except ImportError as exc:
        print(f"bm25s baseline skipped: {exc.name} missing; pip install 'fieldkit[bench]'")
        return None
    stemmer = Stemmer.Stemmer("english")
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize(list(texts), stopwords="en", stemmer=stemmer, show_progress=False),
        show_progress=False,
    )
    build_s = time.perf_counter() - t0

    def search(q: str) -> Any:
        tokens = bm25s.tokenize([q], stopwords="en", stemmer=stemmer, show_progress=False)
        return retriever.retrieve(tokens, k=TOP_K, show_progress=False)

    lat = _timed(search, qs)
    return {
        "build_s": build_s,
        "p50": _pct(lat, 50),
        "p95": _pct(lat, 95),
        "rss_mb": _rss_mb() - rss0,
    }


def _pgvector(dsn: str, texts: Sequence[str], qs: Sequence[str], n: int) -> dict[str, Any]:
    import psycopg
    from pgvector.psycopg import register_vector

    emb = HashEmbedder()
    table = f"scale_plain_{n}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        register_vector(conn)
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} (id BIGINT PRIMARY KEY, embedding vector({DIM}))")
        t0 = time.perf_counter()
        with conn.cursor() as cur:
            for start in range(0, len(texts), 2048):
                vecs = emb.embed(texts[start : start + 2048])
                with cur.copy(
                    f"COPY {table} (id, embedding) FROM STDIN WITH (FORMAT BINARY)"
                ) as cp:
                    cp.set_types(["int8", "vector"])
                    for i, v in enumerate(vecs):
                        cp.write_row((start + i + 1, v))
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute(f"CREATE INDEX ON {table} USING hnsw (embedding vector_cosine_ops)")
        build_s = time.perf_counter() - t0
        conn.execute("SET hnsw.ef_search = 100")

        def search(q: str) -> Any:
            v = emb.embed([q], input_type="query")[0]
            return conn.execute(
                f"SELECT id FROM {table} ORDER BY embedding <=> %s LIMIT {TOP_K}", (v,)
            ).fetchall()

        lat = _timed(search, qs)
        conn.execute(f"DROP TABLE {table}")
    return {"build_s": build_s, "p50": _pct(lat, 50), "p95": _pct(lat, 95)}


def run(quick: bool) -> list[Row]:
    dsn = _dsn()
    chosen = sizes(quick)
    paragraphs = docstring_paragraphs(max(chosen))
    print(f"distinct docstring paragraphs: {len(paragraphs):,}", flush=True)
    rows: list[Row] = []
    for n in chosen:
        texts = corpus(n, paragraphs)
        copies = -(-n // len(paragraphs)) - 1
        if copies:
            print(
                f"[{size_tag(n)}] corpus: {len(paragraphs):,} paragraphs + {copies} numbered copies"
            )
        qs = queries(texts)
        rows += _one_size(dsn, n, texts, qs)
        del texts
    return rows


def _one_size(dsn: str, n: int, texts: Sequence[str], qs: Sequence[str]) -> list[Row]:
    """fieldkit first (printed as soon as measured), then the baselines, then the backfill."""
    tag = size_tag(n)
    fk = _fieldkit(dsn, texts, qs, n)
    fh, fl = fk["first"]["hybrid"], fk["first"]["lexical"]
    print(
        f"[{tag}] fieldkit ingest {fk['ingest_s']:.1f} s, disk {fk['disk_mb']:.0f} MiB; "
        f"first hybrid {fh['first_s']:.3f} s (imports {fh['import_s']:.2f} s, "
        f"RSS {fh['rss_mb']:.0f} MiB), first lexical {fl['first_s']:.3f} s; p50/p95 ms: "
        + ", ".join(f"{m} {fk[m][0]:.1f}/{fk[m][1]:.1f}" for m in ("dense", "lexical", "hybrid")),
        flush=True,
    )
    bm = _bm25s(texts, qs)
    if bm:
        print(
            f"[{tag}] bm25s build {bm['build_s']:.1f} s, p50/p95 {bm['p50']:.1f}/"
            f"{bm['p95']:.1f} ms, +{bm['rss_mb']:.0f} MiB RSS",
            flush=True,
        )
    pv = _pgvector(dsn, texts, qs, n)
    print(
        f"[{tag}] pgvector dense: COPY+HNSW {pv['build_s']:.1f} s, p50/p95 "
        f"{pv['p50']:.1f}/{pv['p95']:.1f} ms",
        flush=True,
    )
    backfill_s = _backfill(dsn, n)
    print(f"[{tag}] lexical backfill of an existing table {backfill_s:.1f} s", flush=True)
    return [
        Row(f"{tag} first hybrid query, fresh process", fh["first_s"], None, "s"),
        Row(f"{tag} first lexical query, fresh process", fl["first_s"], None, "s"),
        Row(
            f"{tag} lexical p50",
            fk["lexical"][0],
            bm["p50"] if bm else None,
            "ms",
            baseline_label="bm25s",
        ),
        Row(
            f"{tag} lexical p95",
            fk["lexical"][1],
            bm["p95"] if bm else None,
            "ms",
            baseline_label="bm25s",
        ),
        Row(f"{tag} hybrid p50", fk["hybrid"][0], None, "ms"),
        Row(f"{tag} hybrid p95", fk["hybrid"][1], None, "ms"),
        Row(f"{tag} dense p50", fk["dense"][0], pv["p50"], "ms", baseline_label="pgvector"),
        Row(f"{tag} dense p95", fk["dense"][1], pv["p95"], "ms", baseline_label="pgvector"),
        Row(
            f"{tag} ingest (embed+COPY+HNSW+postings)",
            fk["ingest_s"],
            pv["build_s"],
            "s",
            baseline_label="pgvector COPY+HNSW",
        ),
        Row(f"{tag} disk (table, indexes, postings)", fk["disk_mb"], None, "MiB"),
        Row(f"{tag} lexical backfill of an existing table", backfill_s, None, "s"),
    ]
