"""The bundled MiniLM converted to GGUF and served by the real llama-server (`--embeddings`)
gives the vectors of the local embedder: f16 cosine >= 0.999 on every text; q8_0 >= 0.999 on
sentences but not on one- and two-character texts, where its 8-bit matmuls lose most and the
token table is not the cause: f16 layers with a q8_0 token table stay >= 0.999 there."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import numpy as np
import pytest

from fieldkit.rag import LocalEmbedder
from fieldkit.serve import LocalServer, llama_binary
from fieldkit.serve._embed_model import minilm_gguf

SENTENCES = [
    "The DGX Spark has 128 GB of unified memory.",
    "llama.cpp offloads transformer layers to the GPU.",
    "A KV cache grows with the context length.",
    "Bananas are rich in potassium.",
]
# Texts of one word piece, where one token's rounding is the whole vector: q8_0's worst case.
SHORT = ["x", "?", "!!", "a", "é", "GPU", "ok"]
TEXTS = SENTENCES + SHORT


@pytest.fixture(scope="module")
def local_vectors() -> np.ndarray:
    embedder = LocalEmbedder(backend="torch")
    try:
        return np.asarray(embedder.embed(TEXTS), dtype=np.float64)
    finally:
        embedder.close()


def served_cosines(gguf: Path, local_vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cosine of each text's served vector with the local one: (sentences, short texts)."""
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
    cos = (served * local_vectors).sum(1) / (
        np.linalg.norm(served, axis=1) * np.linalg.norm(local_vectors, axis=1)
    )
    return cos[: len(SENTENCES)], cos[len(SENTENCES) :]


@pytest.mark.parametrize("outtype", ["f16", "q8_0"])
def test_served_minilm_matches_the_local_embedder(
    tmp_path: Path, outtype: str, local_vectors: np.ndarray
) -> None:
    gguf = minilm_gguf(outtype, dest_dir=tmp_path)
    assert minilm_gguf(outtype, dest_dir=tmp_path) == gguf  # converted once
    sentences, short = served_cosines(gguf, local_vectors)
    assert sentences.min() >= 0.999, sentences
    # q8_0 measured 0.99779 at worst on short texts (docs/api/serve.md)
    assert short.min() >= (0.999 if outtype == "f16" else 0.997), short


def test_q8_0_short_text_error_is_the_layers_not_the_token_table(
    tmp_path: Path, local_vectors: np.ndarray
) -> None:
    f32 = minilm_gguf("f32", dest_dir=tmp_path)
    quantize = str(llama_binary("llama-quantize"))

    def mix(name: str, gguf_type: str, token_table: str) -> Path:
        out = tmp_path / name
        cmd = [quantize, "--token-embedding-type", token_table, str(f32), str(out), gguf_type]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)
        return out

    # f16 layers, q8_0 token table: the documented smaller file that still matches
    sentences, short = served_cosines(mix("tokq8.gguf", "f16", "q8_0"), local_vectors)
    assert min(sentences.min(), short.min()) >= 0.999, (sentences, short)
    # q8_0 layers with the token table kept at f32 still lose the short texts
    sentences, short = served_cosines(mix("q8tokf32.gguf", "q8_0", "f32"), local_vectors)
    assert sentences.min() >= 0.999, sentences
    assert short.min() < 0.999, short
