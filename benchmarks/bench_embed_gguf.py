"""How closely the bundled MiniLM, converted to GGUF and served by llama-server, matches the local
embedder: min and median cosine per text set, for the converter's f16 and q8_0 files and for
mixes that tell where q8_0's error comes from.

Text sets: the five texts of docs/api/serve.md, 157 texts of at most two word pieces (the empty
text too), 10 texts of 252-254 word pieces (the model reads 256 with its two special tokens), and
200 chunks of the bundled corpus (its 80 passages and 120 windows of 60 words). The baseline of
every row is the f16 file's figure on the same texts, measured in the same run.
"""

from __future__ import annotations

import json
import string
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path

import httpx
import numpy as np

from benchmarks._table import Row

DESCRIPTION = "MiniLM GGUF in llama-server vs the local embedder: cosine per type and text set"

DOC_TEXTS = [
    "The DGX Spark has 128 GB of unified memory.",
    "llama.cpp offloads transformer layers to the GPU.",
    "A KV cache grows with the context length.",
    "Bananas are rich in potassium.",
    "x",
]
# The empty text, every printable ASCII character, a few non-ASCII ones, short words and numbers:
# 157 texts of at most two word pieces, where one token's rounding is nearly the whole vector.
SHORT_TEXTS = list(
    dict.fromkeys(
        ["", *string.printable.strip(), "é", "日", "ü", "ß", "→", "😀"]
        + [
            "the",
            "a",
            "an",
            "of",
            "to",
            "in",
            "is",
            "it",
            "on",
            "at",
            "by",
            "or",
            "as",
            "be",
            "we",
            "he",
            "she",
            "you",
            "they",
            "this",
            "that",
            "what",
            "why",
            "how",
            "GPU",
            "CPU",
            "RAM",
            "KV",
            "LLM",
            "RAG",
            "yes",
            "no",
            "ok",
            "hi",
            "hey",
            "bye",
            "cat",
            "dog",
            "sun",
            "run",
            "go",
            "up",
            "AI",
            "ML",
        ]
        + [str(i) for i in range(10, 100, 7)]
    )
)


def _windows(pool: list[str], n: int, words: int, step: int) -> list[str]:
    return [" ".join(pool[(i * step) % max(len(pool) - words, 1) :][:words]) for i in range(n)]


def text_sets(
    count_tokens: Callable[[Sequence[str]], list[int]], quick: bool
) -> dict[str, list[str]]:
    sets = {"doc": DOC_TEXTS, "short": SHORT_TEXTS}
    if quick:
        return sets
    data = json.loads(resources.files("fieldkit.rag.data").joinpath("corpus.json").read_text())
    passages = [str(p["text"]) for p in data["passages"]]
    pool = " ".join(passages).split()
    long_texts = []
    for text in _windows(pool, 10, 260, 131):
        words = text.split()
        while count_tokens([" ".join(words)])[0] > 254:
            words = words[:-1]
        long_texts.append(" ".join(words))
    sets["long"] = long_texts
    sets["corpus"] = passages + _windows(pool, 120, 60, 97)
    return sets


def _variants(work: Path) -> dict[str, Path]:
    """The files compared: the converter's own f16 and q8_0, and llama-quantize mixes."""
    from fieldkit.serve import llama_binary
    from fieldkit.serve._embed_model import minilm_gguf

    quantize = str(llama_binary("llama-quantize"))
    f32 = minilm_gguf("f32", dest_dir=work)
    out = {"f16": minilm_gguf("f16", dest_dir=work), "q8_0": minilm_gguf("q8_0", dest_dir=work)}

    def mix(name: str, gguf_type: str, *options: str) -> None:
        path = work / f"mix{len(out)}.gguf"
        cmd = [quantize, *options, str(f32), str(path), gguf_type]
        subprocess.run(cmd, check=True, capture_output=True)
        out[name] = path

    # q8_0 layers, token table kept at f32: is the 8-bit token table the error?
    mix("q8_0, token table f32", "q8_0", "--token-embedding-type", "f32")
    # f16 layers, token table q8_0: the token table's 8 bits alone
    mix("f16, token table q8_0", "f16", "--token-embedding-type", "q8_0")
    # q8_0 with attention f16, feed-forward q8_0
    attn = [
        a
        for t in ("attn_q", "attn_k", "attn_v", "attn_output")
        for a in ("--tensor-type", f"{t}=f16")
    ]
    mix("q8_0, attention f16", "q8_0", *attn)
    # q8_0 weights dequantized back to f32: their rounding alone, f32 activations in the matmuls
    q8 = out["q8_0"]
    path = work / "q8_0-as-f32.gguf"
    subprocess.run(
        [quantize, "--allow-requantize", str(q8), str(path), "f32"],
        check=True,
        capture_output=True,
    )
    out["q8_0 weights as f32"] = path
    return out


def _served(gguf: Path, texts: list[str]) -> np.ndarray:
    from fieldkit.serve import LocalServer

    vectors: list[list[float]] = []
    with LocalServer(gguf, ctx=512, threads=2, embeddings=True) as server:
        for i in range(0, len(texts), 32):
            reply = httpx.post(
                server.base_url + "/embeddings",
                json={"input": texts[i : i + 32], "model": server.model},
                timeout=120,
            )
            reply.raise_for_status()
            data = sorted(reply.json()["data"], key=lambda d: d["index"])
            vectors += [d["embedding"] for d in data]
    return np.asarray(vectors, dtype=np.float64)


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(
        (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)), np.float64
    )


def run(quick: bool) -> list[Row]:
    from fieldkit.rag import LocalEmbedder

    embedder = LocalEmbedder()
    sets = text_sets(embedder.count_tokens, quick)
    texts = [t for s in sets.values() for t in s]
    local = np.asarray(embedder.embed(texts), dtype=np.float64)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="fieldkit-embed-gguf-") as tmp:
        variants = _variants(Path(tmp))
        cos = {name: _cosine(_served(path, texts), local) for name, path in variants.items()}
        sizes = {name: path.stat().st_size / 1e6 for name, path in variants.items()}
    for name, c in cos.items():
        start = 0
        for set_name, members in sets.items():
            part, ref = c[start : start + len(members)], cos["f16"][start : start + len(members)]
            start += len(members)
            worst = members[int(part.argmin())][:16]
            rows.append(
                Row(
                    f"{name}: min cosine, {set_name} (n={len(members)})",
                    float(part.min()),
                    float(ref.min()),
                    "",
                    "higher",
                    "f16",
                    f"min {part.min():.5f}, median {np.median(part):.5f} (f16 {ref.min():.5f}); "
                    f"worst {worst!r}; file {sizes[name]:.1f} MB",
                )
            )
    return rows
