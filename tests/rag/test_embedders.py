"""The local embedder for real (bundled MiniLM, CPU) and the embedder protocol."""

from __future__ import annotations

import numpy as np
import pytest

from fieldkit.rag import LOCAL_EMBED_DIM, Embedder, LocalEmbedder, RAGError
from fieldkit.rag._embedders import as_matrix, bundled_model_path


def test_bundled_model_is_found() -> None:
    path = bundled_model_path()
    assert (path / "config.json").is_file()
    assert (path / "model.safetensors").is_file()


def test_local_embedder_vectors(local_embedder: LocalEmbedder) -> None:
    assert isinstance(local_embedder, Embedder)
    assert local_embedder.dim == LOCAL_EMBED_DIM == 384
    texts = [
        "The DGX Spark has 128 GB of unified memory.",
        "How much memory does the DGX Spark have?",
        "The Athens Olympics hosted eleven thousand athletes.",
    ]
    v = local_embedder.embed(texts)
    assert v.shape == (3, 384)
    assert v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert float(v[0] @ v[1]) > float(v[0] @ v[2]) + 0.2
    again = local_embedder.embed(texts[:1], input_type="query")
    np.testing.assert_allclose(again[0], v[0], atol=1e-5)
    assert local_embedder.embed([]).shape == (0, 384)


def test_local_embedder_rejects_bad_batch_size() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        LocalEmbedder(batch_size=0)


def test_as_matrix_checks_shape_and_values() -> None:
    ok = as_matrix([[1.0, 0.0]], 1, 2, what="t")
    assert ok.dtype == np.float32 and ok.shape == (1, 2)
    with pytest.raises(RAGError, match="expected 2 vectors"):
        as_matrix([[1.0, 0.0]], 2, 2, what="t")
    with pytest.raises(RAGError, match="expected dimension 3"):
        as_matrix([[1.0, 0.0]], 1, 3, what="t")
    with pytest.raises(RAGError, match="NaN"):
        as_matrix([[float("nan"), 0.0]], 1, 2, what="t")
    with pytest.raises(RAGError, match="not numeric"):
        as_matrix([["a", "b"]], 1, 2, what="t")


class _Tiny:
    """A user-supplied embedder: two features (mentions of 'gpu', of 'olympics')."""

    dim = 2

    def embed(self, texts: list[str], *, input_type: str = "passage") -> np.ndarray:
        rows = [[1.0 + t.lower().count("gpu"), 1.0 + t.lower().count("olympics")] for t in texts]
        arr = np.asarray(rows, dtype=np.float32)
        return arr / np.linalg.norm(arr, axis=1, keepdims=True)

    def close(self) -> None:
        pass


def test_custom_embedder_through_the_pipeline(make_pipe) -> None:  # type: ignore[no-untyped-def]
    p = make_pipe(embedder=_Tiny())
    assert p.embed_dim == 2
    p.ensure_schema()
    p.ingest([{"id": 1, "text": "gpu gpu gpu"}, {"id": 2, "text": "olympics olympics"}])
    assert p.retrieve("gpu", top_k=1)[0].id == 1
    assert p.retrieve("olympics", top_k=1)[0].id == 2
