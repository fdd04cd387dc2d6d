"""RAG over a real manual: fieldkit vs bm25s, exact search and llama-index's PGVectorStore.

Corpus: the PostgreSQL 15 HTML manual from Debian's ``postgresql-doc-15`` package (text nobody
here wrote; ``apt-get install postgresql-doc-15``). A deterministic subset of pages is ingested;
the benchmark is skipped with a message when the package is absent. Known-item queries: each
page's title (section number stripped) and, where unique in the subset, its first sub-heading;
the relevant items are that page's chunks. Metrics over the top 10: hit@1, hit@5, MRR@10 and
the p50 latency per query (query embedding included).

Systems, all with the bundled MiniLM (fp32) and one embedded Postgres; fieldkit embeds with its
default backend (ONNX where onnxruntime is installed), the baselines with sentence-transformers:
- fieldkit dense / lexical (BM25) / hybrid (document fusion), plus the alternatives
  (``lexical="postgres"``: ts_rank_cd; ``fusion="chunk"``) that the defaults were chosen over;
- bm25s (PyStemmer English stemmer, English stop words) over fieldkit's chunks;
- exact (brute-force) cosine search over fieldkit's stored vectors;
- llama-index: SentenceSplitter (200 tokens) → sentence-transformers ``encode`` → PGVectorStore
  ``add`` (HNSW), queried with ``VectorStoreQuery``.
Ingest: files → searchable wall time, fieldkit ``ingest_paths`` vs parse + split + encode + add.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._table import Row
from benchmarks.bench_rag import _dsn

DESCRIPTION = (
    "rag over the PostgreSQL manual: hit@1/hit@5/MRR@10 and p50 latency, fieldkit "
    "dense/lexical/hybrid vs bm25s, exact search, llama-index PGVectorStore; ingest wall time"
)

CORPUS = Path("/usr/share/doc/postgresql-doc-15/html")
TOP = 10
_SECTION_NO = re.compile(r"^\s*(?:[A-Z]\.)?[\d.]+\s+|^\s*Appendix [A-Z]\.\s*|^\s*Chapter \d+\.\s*")


def _pages(n: int) -> list[Path]:
    files = sorted(p for p in CORPUS.glob("*.html") if 3000 < p.stat().st_size < 12000)
    step = max(1, len(files) // n)
    return files[::step][:n]


def _queries(pages: Sequence[Path]) -> list[tuple[str, str, str]]:
    """(kind, query, page path) known-item queries."""
    from fieldkit.rag._parsers import parse_bytes

    out: list[tuple[str, str, str]] = []
    headings: dict[str, list[str]] = {}
    for p in pages:
        doc = parse_bytes(p.read_bytes(), "html", name=p.stem)
        title = _SECTION_NO.sub("", doc.title).strip()
        if len(title) >= 3:
            out.append(("title", title, str(p)))
        subs = [b.heading[-1] for b in doc.blocks if len(b.heading) >= 2]
        if subs:
            h = _SECTION_NO.sub("", subs[0]).strip()
            headings.setdefault(h.lower(), []).append(str(p))
    for h, paths in headings.items():
        if len(paths) == 1 and len(h.split()) >= 2:
            out.append(("heading", h, paths[0]))
    return out


def _score(ranked: Sequence[str], target: str) -> tuple[float, float, float]:
    ranked = list(ranked)[:TOP]
    try:
        pos = ranked.index(target) + 1
    except ValueError:
        return 0.0, 0.0, 0.0
    return float(pos == 1), float(pos <= 5), 1.0 / pos


def _evaluate(
    systems: dict[str, Callable[[str], list[str]]], queries: Sequence[tuple[str, str, str]]
) -> dict[str, dict[str, float]]:
    """Every system on every query, interleaved per query so load drift hits all alike."""
    for search in systems.values():
        for _, q, _ in queries[:3]:  # warm caches (BM25 index build, connections)
            search(q)
    scores: dict[str, list[tuple[float, float, float]]] = {name: [] for name in systems}
    lat: dict[str, list[float]] = {name: [] for name in systems}
    for _, q, target in queries:
        for name, search in systems.items():
            t0 = time.perf_counter()
            ranked = search(q)
            lat[name].append((time.perf_counter() - t0) * 1000.0)
            scores[name].append(_score(ranked, target))
    n = max(len(queries), 1)
    return {
        name: {
            "hit@1": sum(s[0] for s in scores[name]) / n,
            "hit@5": sum(s[1] for s in scores[name]) / n,
            "mrr@10": sum(s[2] for s in scores[name]) / n,
            "p50_ms": statistics.median(lat[name]) if lat[name] else 0.0,
        }
        for name in systems
    }


def run(quick: bool) -> list[Row]:
    if not CORPUS.is_dir():
        print(
            f"skipped: {CORPUS} not found; install the corpus with "
            "`apt-get install postgresql-doc-15` (Debian/Ubuntu)"
        )
        return []
    try:
        import bm25s
        import Stemmer
        from llama_index.core.schema import MetadataMode, TextNode  # noqa: F401
        from llama_index.vector_stores.postgres import PGVectorStore  # noqa: F401
    except ImportError as exc:
        print(
            f"skipped: {exc.name} missing; pip install bm25s PyStemmer "
            "llama-index-vector-stores-postgres"
        )
        return []
    from fieldkit.rag import LocalEmbedder, Pipeline

    pages = _pages(40 if quick else 120)
    queries = _queries(pages)
    dsn = _dsn()
    embedder = LocalEmbedder()
    embedder.load()
    print(f"fieldkit embedder backend: {embedder.backend}")
    model = LocalEmbedder(backend="torch")._model()
    import torch

    torch.set_num_threads(embedder.threads or 1)  # the baseline gets fieldkit's thread count

    # -- fieldkit ingest ----------------------------------------------------------------------
    pipe = Pipeline(pgvector_dsn=dsn, embedder=embedder, table="bench_docs")
    pipe.drop_table()
    t0 = time.perf_counter()
    summary = pipe.ingest_paths([str(p) for p in pages], progress=False)
    fk_ingest = time.perf_counter() - t0
    assert not summary.warnings, summary.warnings
    with pipe.store.connection() as conn:
        rows = conn.execute("SELECT id, text, embedding FROM bench_docs ORDER BY id").fetchall()
    src = pipe._source_tables()
    assert src is not None
    path_of = {cid: s.path for cid, s in src.sources([r[0] for r in rows]).items()}
    chunk_ids = [int(r[0]) for r in rows]
    chunk_texts = [r[1] for r in rows]
    chunk_paths = [path_of[c] for c in chunk_ids]
    matrix = np.stack([np.asarray(r[2].to_numpy(), dtype=np.float32) for r in rows])

    def fk(mode: str, p: Pipeline) -> Callable[[str], list[str]]:
        def search(q: str) -> list[str]:
            return [c.source.path if c.source else "" for c in p.retrieve(q, top_k=TOP, mode=mode)]

        return search

    old = Pipeline(
        pgvector_dsn=dsn,
        embedder=embedder,
        table="bench_docs",
        lexical="postgres",
        fusion="chunk",
    )
    cf = Pipeline(pgvector_dsn=dsn, embedder=embedder, table="bench_docs", fusion="chunk")
    systems: dict[str, Callable[[str], list[str]]] = {
        "fieldkit dense": fk("dense", pipe),
        "fieldkit lexical (BM25)": fk("lexical", pipe),
        "fieldkit hybrid (doc fusion)": fk("hybrid", pipe),
        "fieldkit lexical=postgres": fk("lexical", old),
        "fieldkit hybrid postgres+chunk fusion": fk("hybrid", old),
        "fieldkit hybrid bm25+chunk fusion": fk("hybrid", cf),
    }

    # -- bm25s over the same chunks -----------------------------------------------------------
    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize(chunk_texts, stopwords="en", stemmer=stemmer, show_progress=False),
        show_progress=False,
    )

    def bm25s_search(q: str) -> list[str]:
        tokens = bm25s.tokenize([q], stopwords="en", stemmer=stemmer, show_progress=False)
        idx, _ = retriever.retrieve(tokens, k=min(TOP, len(chunk_texts)), show_progress=False)
        return [chunk_paths[i] for i in idx[0]]

    systems["bm25s"] = bm25s_search

    # -- exact cosine search, same embedder ---------------------------------------------------
    def exact(q: str) -> list[str]:
        v = embedder.embed([q], input_type="query")[0]
        top = np.argsort(-(matrix @ v))[:TOP]
        return [chunk_paths[i] for i in top]

    systems["exact search (same embedder)"] = exact

    # -- llama-index: split + ST encode + PGVectorStore.add -----------------------------------
    li_ingest, li_chunks, li_search = _llama_index(pages, dsn, model)
    systems["llama-index PGVectorStore"] = li_search
    results = _evaluate(systems, queries)
    for p in (pipe, old, cf):
        p.close()

    _print(results, queries, summary.chunks, fk_ingest, li_chunks, li_ingest)
    return _rows(results, fk_ingest, li_ingest, summary.chunks, li_chunks)


def _llama_index(pages: Sequence[Path], dsn: str, model: Any) -> tuple[float, int, Any]:
    from urllib.parse import urlsplit

    from llama_index.core import Document
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.core.schema import MetadataMode
    from llama_index.core.vector_stores.types import VectorStoreQuery
    from llama_index.vector_stores.postgres import PGVectorStore

    from fieldkit.rag._parsers import parse_bytes

    parts = urlsplit(dsn)
    sync = dsn.replace(f"{parts.scheme}://", "postgresql+psycopg2://", 1)
    asyn = dsn.replace(f"{parts.scheme}://", "postgresql+asyncpg://", 1)
    store = PGVectorStore.from_params(
        connection_string=sync,
        async_connection_string=asyn,
        table_name="bench_li",
        embed_dim=384,
        hnsw_kwargs={
            "hnsw_m": 16,
            "hnsw_ef_construction": 64,
            "hnsw_ef_search": 100,
            "hnsw_dist_method": "vector_cosine_ops",
        },
    )
    t0 = time.perf_counter()
    docs = []
    for p in pages:
        parsed = parse_bytes(p.read_bytes(), "html", name=p.stem)
        docs.append(
            Document(
                text=parsed.text,
                metadata={"title": parsed.title, "path": str(p)},
                excluded_embed_metadata_keys=["path"],
            )
        )
    nodes = SentenceSplitter(chunk_size=200, chunk_overlap=20).get_nodes_from_documents(docs)
    texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
    vectors = model.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
    for node, vec in zip(nodes, vectors, strict=True):
        node.embedding = vec.tolist()
    store.add(nodes)
    elapsed = time.perf_counter() - t0

    def search(q: str) -> list[str]:
        v = model.encode([q], normalize_embeddings=True, show_progress_bar=False)[0]
        res = store.query(VectorStoreQuery(query_embedding=v.tolist(), similarity_top_k=TOP))
        return [n.metadata.get("path", "") for n in (res.nodes or [])]

    return elapsed, len(nodes), search


def _print(
    results: dict[str, dict[str, float]],
    queries: Sequence[tuple[str, str, str]],
    fk_chunks: int,
    fk_s: float,
    li_chunks: int,
    li_s: float,
) -> None:
    kinds = {k for k, _, _ in queries}
    print(f"queries: {len(queries)} ({', '.join(sorted(kinds))})")
    print(f"{'system':42} {'hit@1':>6} {'hit@5':>6} {'MRR@10':>7} {'p50 ms':>8}")
    for name, m in results.items():
        print(
            f"{name:42} {m['hit@1']:6.3f} {m['hit@5']:6.3f} {m['mrr@10']:7.3f} {m['p50_ms']:8.1f}"
        )
    print(
        f"ingest: fieldkit {fk_s:.1f} s ({fk_chunks} chunks), llama-index {li_s:.1f} s "
        f"({li_chunks} chunks)"
    )


def _rows(
    results: dict[str, dict[str, float]], fk_s: float, li_s: float, fk_n: int, li_n: int
) -> list[Row]:
    bm = results["bm25s"]
    li = results["llama-index PGVectorStore"]
    lex = results["fieldkit lexical (BM25)"]
    hyb = results["fieldkit hybrid (doc fusion)"]
    out = [
        Row("lexical hit@1", lex["hit@1"], bm["hit@1"], "", "higher", "bm25s"),
        Row("lexical MRR@10", lex["mrr@10"], bm["mrr@10"], "", "higher", "bm25s"),
        Row("hybrid hit@1", hyb["hit@1"], bm["hit@1"], "", "higher", "bm25s"),
        Row("hybrid MRR@10", hyb["mrr@10"], bm["mrr@10"], "", "higher", "bm25s"),
        Row(
            "dense hit@5",
            results["fieldkit dense"]["hit@5"],
            li["hit@5"],
            "",
            "higher",
            "llama-index",
        ),
        Row("hybrid retrieve p50", hyb["p50_ms"], li["p50_ms"], "ms", "lower", "llama-index"),
        Row(
            "dense retrieve p50",
            results["fieldkit dense"]["p50_ms"],
            li["p50_ms"],
            "ms",
            "lower",
            "llama-index",
        ),
        Row(
            "ingest files→searchable",
            fk_s,
            li_s,
            "s",
            "lower",
            "ST encode + llama-index add",
            note=f"{fk_n} vs {li_n} chunks",
        ),
    ]
    return out
