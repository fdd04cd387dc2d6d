"""The ONNX backend of the local embedder for real: same vectors as torch, a safe export cache."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from fieldkit.rag import LocalEmbedder, RAGError, _onnx
from fieldkit.rag._embedders import bundled_model_path
from fieldkit.rag.bench import load_corpus

pytest.importorskip("onnxruntime")

# Real sentences: the bundled corpus's passages and questions, plus one text past the
# model's 256-word-piece limit (both backends must truncate it alike).
_CORPUS = load_corpus()
TEXTS = [p.text for p in _CORPUS.passages[:40]] + [q.question for q in _CORPUS.questions[:10]]
LONG = " ".join(p.text for p in _CORPUS.passages[:12])


@pytest.fixture(scope="module")
def torch_embedder() -> LocalEmbedder:
    emb = LocalEmbedder(backend="torch")
    emb.load()
    return emb


@pytest.fixture(scope="module")
def onnx_embedder() -> LocalEmbedder:
    emb = LocalEmbedder(backend="onnx")
    emb.load()
    return emb


def test_auto_picks_onnx_on_cpu() -> None:
    assert LocalEmbedder().backend == "onnx"
    assert LocalEmbedder(backend="torch").backend == "torch"


def test_onnx_matches_torch_on_real_text(
    torch_embedder: LocalEmbedder, onnx_embedder: LocalEmbedder
) -> None:
    texts = [*TEXTS, LONG]
    a = torch_embedder.embed(texts)
    b = onnx_embedder.embed(texts)
    assert b.shape == a.shape == (len(texts), 384)
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    cos = (a * b).sum(axis=1)
    assert float(cos.min()) >= 0.99
    # same nearest passage for every question, as retrieval would see it
    qa, qb = a[40:50], b[40:50]
    assert (np.argmax(qa @ a[:40].T, axis=1) == np.argmax(qb @ b[:40].T, axis=1)).all()


def test_onnx_keeps_input_order_and_batches_alike(onnx_embedder: LocalEmbedder) -> None:
    whole = onnx_embedder.embed(TEXTS)
    one_by_one = np.stack([onnx_embedder.embed([t])[0] for t in TEXTS[:6]])
    np.testing.assert_allclose(whole[:6], one_by_one, atol=1e-5)


def test_token_counts_and_limit_match_torch(
    torch_embedder: LocalEmbedder, onnx_embedder: LocalEmbedder
) -> None:
    assert onnx_embedder.max_tokens == torch_embedder.max_tokens == 254
    texts = [*TEXTS[:5], LONG]
    assert onnx_embedder.count_tokens(texts) == torch_embedder.count_tokens(texts)
    assert onnx_embedder.count_tokens([LONG])[0] > 254  # counted untruncated
    assert onnx_embedder.name == torch_embedder.name  # a table filled by one serves the other


def test_backend_is_validated() -> None:
    with pytest.raises(ValueError, match="backend must be one of"):
        LocalEmbedder(backend="tensorrt")


def test_onnx_refuses_a_model_it_cannot_reproduce(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(RAGError, match="backend='torch'"):
        _ = LocalEmbedder(tmp_path, backend="onnx").backend


def test_export_cache_is_safe_under_concurrent_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight threads ask for the export at once: one export runs, all get the complete file."""
    running = 0
    peak = 0
    calls = 0
    guard = threading.Lock()
    payload = b"onnx" * 50_000

    def slow_export(model_dir: Path, dest: Path) -> None:
        nonlocal running, peak, calls
        with guard:
            running += 1
            calls += 1
            peak = max(peak, running)
        with open(dest, "wb") as fh:  # written in pieces: a reader must never see a part
            for i in range(0, len(payload), 20_000):
                fh.write(payload[i : i + 20_000])
                fh.flush()
                time.sleep(0.005)
        with guard:
            running -= 1

    monkeypatch.setattr(_onnx, "_export", slow_export)
    model_dir = bundled_model_path()
    seen: list[bytes] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            seen.append(_onnx.export_onnx(model_dir, root=tmp_path).read_bytes())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert calls == 1 and peak == 1
    assert seen == [payload] * 8
    out_dir = _onnx.cache_dir(model_dir, tmp_path)
    assert sorted(p.name for p in out_dir.iterdir()) == [".lock", "export.json", "model.onnx"]


def test_failed_export_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(model_dir: Path, dest: Path) -> None:
        dest.write_bytes(b"half")
        raise RuntimeError("export crashed")

    monkeypatch.setattr(_onnx, "_export", broken)
    with pytest.raises(RuntimeError, match="export crashed"):
        _onnx.export_onnx(bundled_model_path(), root=tmp_path)
    out_dir = _onnx.cache_dir(bundled_model_path(), tmp_path)
    assert sorted(p.name for p in out_dir.iterdir()) == [".lock"]
