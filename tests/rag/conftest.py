"""Fixtures of the rag tests: pipelines over the session's embedded Postgres and the real
local embedder (loaded once per process)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fieldkit.rag import Document, LocalEmbedder, Pipeline


@pytest.fixture(scope="session")
def local_embedder() -> LocalEmbedder:
    emb = LocalEmbedder()
    emb.load()
    return emb


@pytest.fixture
def make_pipe(
    pg_dsn: str, pg_table: str, local_embedder: LocalEmbedder
) -> Iterator[Callable[..., Pipeline]]:
    """Build pipelines on a fresh table (local embedder by default); all closed afterwards."""
    made: list[Pipeline] = []

    def make(**kwargs: Any) -> Pipeline:
        kwargs.setdefault("pgvector_dsn", pg_dsn)
        kwargs.setdefault("table", pg_table)
        if "embed_url" not in kwargs:
            kwargs.setdefault("embedder", local_embedder)
        pipe = Pipeline(**kwargs)
        made.append(pipe)
        return pipe

    yield make
    for p in made:
        p.close()


@pytest.fixture
def pipe(make_pipe: Callable[..., Pipeline]) -> Pipeline:
    p = make_pipe()
    p.ensure_schema()
    return p


SMALL_CORPUS = [
    Document(1, "The DGX Spark has 128 GB of unified memory shared by CPU and GPU.", "hardware"),
    Document(2, "pgvector adds a vector column type and the <=> cosine distance operator.", "db"),
    Document(3, "LoRA fine-tuning trains small low-rank adapter matrices.", "training"),
    Document(4, "Reciprocal rank fusion merges keyword and dense rankings.", "db"),
    Document(5, "The 2004 Athens Olympics hosted 11099 athletes in 28 sports.", "distractor"),
    Document(
        6, "Zorblax quantization is a made-up codename used only in this test corpus.", "misc"
    ),
]


@pytest.fixture
def small_pipe(pipe: Pipeline) -> Pipeline:
    assert pipe.ingest(SMALL_CORPUS) == len(SMALL_CORPUS)
    return pipe
