"""Embedding throughput of the local embedder's backends on this machine's CPU.

ONNX fp32 (ours, the CPU default) against torch (sentence-transformers) on the same chunk-sized
texts: tokens/s, chunks/s, the achieved GFLOP/s (MiniLM-L6 forward FLOPs counted from its shape)
and the cosine between the two backends' vectors.
"""

from __future__ import annotations

import json
import time
from importlib import resources

import numpy as np

from benchmarks._table import Row

DESCRIPTION = "local embedder throughput: ONNX fp32 vs torch on CPU (tokens/s, GFLOP/s)"

# all-MiniLM-L6-v2: 6 layers, hidden 384, feed-forward 1536
_LAYERS, _HIDDEN, _FFN = 6, 384, 1536


def flops_per_text(tokens: int) -> float:
    """Forward FLOPs of one text of ``tokens`` tokens: 2 per weight multiply-add in the
    projections and feed-forward, plus attention scores and mixing (4 · n² · d per layer)."""
    dense = 2 * tokens * (4 * _HIDDEN * _HIDDEN + 2 * _HIDDEN * _FFN)
    attention = 4 * tokens * tokens * _HIDDEN
    return float(_LAYERS * (dense + attention))


def _texts(n: int, words: int = 170) -> list[str]:
    data = json.loads(resources.files("fieldkit.rag.data").joinpath("corpus.json").read_text())
    pool = " ".join(p["text"] for p in data["passages"]).split()
    out = []
    for i in range(n):
        start = (i * 97) % max(len(pool) - words, 1)
        out.append(" ".join(pool[start : start + words]))
    return out


def _measure(backend: str, texts: list[str], repeats: int) -> tuple[float, np.ndarray, list[int]]:
    from fieldkit.rag import LocalEmbedder

    emb = LocalEmbedder(backend=backend, threads=2)
    emb.load()
    emb.embed(texts[:8])  # warm
    best = float("inf")
    vectors = np.zeros(0)
    for _ in range(repeats):
        t0 = time.perf_counter()
        vectors = emb.embed(texts)
        best = min(best, time.perf_counter() - t0)
    tokens = [n + 2 for n in emb.count_tokens(texts)]  # + [CLS] and [SEP]
    return best, vectors, tokens


def run(quick: bool) -> list[Row]:
    texts = _texts(32 if quick else 96)
    repeats = 1 if quick else 2
    onnx_s, onnx_v, tokens = _measure("onnx", texts, repeats)
    torch_s, torch_v, _ = _measure("torch", texts, repeats)
    total = sum(tokens)
    flops = sum(flops_per_text(t) for t in tokens)
    cos = np.sum(onnx_v * torch_v, axis=1)
    note = f"{len(texts)} texts, mean {total / len(texts):.0f} tokens, 2 threads, best of {repeats}"
    return [
        Row("embed tokens/s", total / onnx_s, total / torch_s, "tok/s", "higher", "torch", note),
        Row("embed chunks/s", len(texts) / onnx_s, len(texts) / torch_s, "1/s", "higher", "torch"),
        Row(
            "achieved GFLOP/s",
            flops / onnx_s / 1e9,
            flops / torch_s / 1e9,
            "GFLOP/s",
            "higher",
            "torch",
            f"{flops / len(texts) / 1e9:.2f} GFLOP per text",
        ),
        Row("min cosine onnx vs torch", float(cos.min()), None, "", "higher"),
    ]
