"""The bundled MiniLM converted to GGUF and served by the real llama-server (`--embeddings`)
gives the vectors of the local embedder: f16 cosine >= 0.999 on every text; q8_0 >= 0.999 on
sentences, and >= 0.998 on a one-character text, where its 8-bit weights show most."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from fieldkit.rag import LocalEmbedder
from fieldkit.serve import LocalServer
from fieldkit.serve._embed_model import minilm_gguf

TEXTS = [
    "The DGX Spark has 128 GB of unified memory.",
    "llama.cpp offloads transformer layers to the GPU.",
    "A KV cache grows with the context length.",
    "Bananas are rich in potassium.",
    "x",
]


@pytest.fixture(scope="module")
def local_vectors() -> np.ndarray:
    embedder = LocalEmbedder(backend="torch")
    try:
        return np.asarray(embedder.embed(TEXTS), dtype=np.float64)
    finally:
        embedder.close()


@pytest.mark.parametrize("outtype", ["f16", "q8_0"])
def test_served_minilm_matches_the_local_embedder(
    tmp_path: Path, outtype: str, local_vectors: np.ndarray
) -> None:
    gguf = minilm_gguf(outtype, dest_dir=tmp_path)
    assert minilm_gguf(outtype, dest_dir=tmp_path) == gguf  # converted once
    with LocalServer(gguf, ctx=512, threads=1, embeddings=True) as server:
        reply = httpx.post(
            server.base_url + "/embeddings",
            json={"input": TEXTS, "model": server.model},
            timeout=60,
        )
    reply.raise_for_status()
    data = sorted(reply.json()["data"], key=lambda d: d["index"])
    served = np.asarray([d["embedding"] for d in data], dtype=np.float64)
    assert served.shape == (len(TEXTS), 384)
    assert TEXTS[-1] == "x"
    cos = (served * local_vectors).sum(1) / (
        np.linalg.norm(served, axis=1) * np.linalg.norm(local_vectors, axis=1)
    )
    sentences, single_char = cos[:-1], cos[-1]
    assert sentences.min() >= 0.999, cos
    assert single_char >= (0.999 if outtype == "f16" else 0.998), cos
