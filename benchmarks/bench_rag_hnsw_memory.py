"""HNSW build time: fieldkit's build memory sized to the table vs a fixed 512 MB.

A table of N chunks with 384-dimension vectors (the size of the bundled MiniLM; random unit
vectors, so the graph has no easy structure) is loaded once through ``Pipeline.ingest``; then
the HNSW index is dropped and rebuilt, alternately with ``build_memory="512MB"`` (the baseline)
and with fieldkit's own sizing, twice each (baseline, ours, baseline, ours). pgvector reports
when the graph outgrows the memory it was given; that row count is printed too.

N is 300,000 (40,000 with ``--quick``); ``FIELDKIT_HNSW_ROWS`` sets it. Runs on
``$FIELDKIT_BENCH_DSN`` if set, else a throw-away embedded Postgres.
"""

from __future__ import annotations

import os
import re
import statistics
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from benchmarks._table import Row
from benchmarks.bench_rag import _dsn

if TYPE_CHECKING:
    from fieldkit.rag import Pipeline

DESCRIPTION = "HNSW build at 300k x 384-dim chunks: build memory sized to the table vs fixed 512 MB"

DIM = 384
ROWS_ENV = "FIELDKIT_HNSW_ROWS"
_AFTER = re.compile(r"after ([0-9]+) tuples")


class _Random:
    """Unit vectors drawn from a seeded normal: ``"c <i>"`` always maps to the same vector."""

    name = "bench-random-384"

    @property
    def dim(self) -> int:
        return DIM

    def embed(self, texts: Sequence[str], *, input_type: str = "passage") -> np.ndarray:
        out = np.empty((len(texts), DIM), dtype=np.float32)
        for k, text in enumerate(texts):
            seed = int(text.split()[-1]) if text.split()[-1].isdigit() else 0
            v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
            out[k] = v / np.linalg.norm(v)
        return out

    def close(self) -> None:
        pass


def _build(pipe: Pipeline, memory: str | None) -> tuple[float, str, str]:
    store = pipe.store
    store.drop_ann_index()
    store.build_memory = memory
    t0 = time.perf_counter()
    store.build_ann_index()
    seconds = time.perf_counter() - t0
    info = store.last_index_build
    m = _AFTER.search(info["outgrew"][0]) if info["outgrew"] else None
    outgrew = f"outgrew after {int(m.group(1)):,} rows" if m else "fit in memory"
    print(f"  build with {info['build_memory']}: {seconds:.1f} s ({outgrew})", flush=True)
    return seconds, info["build_memory"], outgrew


def run(quick: bool) -> list[Row]:
    from fieldkit.rag import Document, Pipeline

    n = int(os.environ.get(ROWS_ENV) or (40_000 if quick else 300_000))
    dsn = _dsn()
    with Pipeline(pgvector_dsn=dsn, table="hnsw_memory", embedder=_Random()) as pipe:
        pipe.drop_table()
        pipe.ensure_schema()
        t0 = time.perf_counter()
        pipe.ingest(Document(i + 1, f"c {i}") for i in range(n))
        print(f"  loaded {n:,} chunks in {time.perf_counter() - t0:.1f} s", flush=True)
        runs: dict[str, list[tuple[float, str, str]]] = {"fixed": [], "ours": []}
        for _ in range(2):
            runs["fixed"].append(_build(pipe, "512MB"))
            runs["ours"].append(_build(pipe, None))
        pipe.drop_table()
    ours = statistics.fmean(r[0] for r in runs["ours"])
    base = statistics.fmean(r[0] for r in runs["fixed"])

    def says(rs: list[tuple[float, str, str]]) -> str:
        return "; ".join(f"{s:.1f} s ({o})" for s, _, o in rs)

    return [
        Row(
            f"HNSW build, {n:,} chunks x {DIM} dims (mean of 2)",
            ours,
            base,
            "s",
            "lower",
            "the same build with maintenance memory fixed at 512 MB",
            f"ours {runs['ours'][0][1]}: {says(runs['ours'])}; 512MB: {says(runs['fixed'])}",
        )
    ]
