"""The bundled MiniLM as an ONNX graph run by onnxruntime: export once, cache, encode fast.

The graph is exported locally from the packaged weights (no download) with mean pooling and
L2 normalisation inside it, so its output is the sentence embedding sentence-transformers
computes. Exports are cached under ``$FIELDKIT_HOME/onnx/<model-hash>/``; concurrent exporters
serialise on a lock file and publish with an atomic rename, so a reader never sees a partial
file. Extra ``onnx`` (onnxruntime, onnx).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from fieldkit._atomic import replacing
from fieldkit._home import fieldkit_home
from fieldkit._lazy import require
from fieldkit._lock import file_lock
from fieldkit._status import STATUS
from fieldkit.rag._types import RAGError

__all__ = ["OnnxEncoder", "export_onnx", "onnx_available"]

log = logging.getLogger("fieldkit.rag")

_EXPORT_VERSION = "1"  # bump when the exported graph changes
_OPSET = 17


def onnx_available() -> bool:
    """Whether onnxruntime can be imported (the ``onnx`` extra is installed)."""
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


def _model_digest(model_dir: Path) -> str:
    """Hash of the weights, config and tokenizer: a changed model gets a new export."""
    h = hashlib.sha256(_EXPORT_VERSION.encode())
    for name in ("config.json", "tokenizer.json", "model.safetensors", "pytorch_model.bin"):
        f = model_dir / name
        if f.is_file():
            st = f.stat()
            h.update(f"{name}:{st.st_size}:{int(st.st_mtime)}".encode())
    return h.hexdigest()[:16]


def cache_dir(model_dir: Path, root: Path | None = None) -> Path:
    """Where the export of *model_dir* lives."""
    base = root if root is not None else fieldkit_home() / "onnx"
    return base / f"{model_dir.name}-{_model_digest(model_dir)}"


def _export(model_dir: Path, dest: Path) -> None:
    """Write the pooled, normalised encoder graph of *model_dir* to *dest*."""
    torch = require("torch", "local", purpose="exporting the ONNX embedder")
    transformers = require("transformers", "local", purpose="exporting the ONNX embedder")

    base = transformers.AutoModel.from_pretrained(str(model_dir), local_files_only=True)
    base.eval()

    module: Any = torch.nn.Module

    class Pooled(module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.base = base

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.base(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )[0]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    ids = torch.ones((2, 8), dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about the model's Python control flow
        torch.onnx.export(
            Pooled(),
            (ids, torch.ones_like(ids), torch.zeros_like(ids)),
            str(dest),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["embedding"],
            dynamic_axes={
                "input_ids": axes,
                "attention_mask": axes,
                "token_type_ids": axes,
                "embedding": {0: "batch"},
            },
            opset_version=_OPSET,
            dynamo=False,
        )


def export_onnx(model_dir: str | Path, *, root: Path | None = None) -> Path:
    """The cached ONNX export of *model_dir*, exporting it first if absent.

    Safe under concurrent use: exporters take ``.lock``, write to a temporary file in the same
    directory and publish it with ``os.replace``; the model file either exists complete or not.
    """
    model_dir = Path(model_dir)
    out_dir = cache_dir(model_dir, root)
    model = out_dir / "model.onnx"
    if model.is_file():
        return model
    with file_lock(out_dir / ".lock"):
        if model.is_file():  # another process finished while we waited
            return model
        log.info("exporting the local embedder to ONNX in %s ...", out_dir, extra=STATUS)
        with replacing(model) as tmp:
            _export(model_dir, tmp)
            meta = {"source": str(model_dir), "opset": _OPSET, "version": _EXPORT_VERSION}
            (out_dir / "export.json").write_text(json.dumps(meta))
    return model


_sessions: dict[tuple[str, int], Any] = {}
_sessions_lock = threading.Lock()


def _session(model: Path, threads: int) -> Any:
    key = (str(model), threads)
    with _sessions_lock:
        sess = _sessions.get(key)
        if sess is None:
            ort = require("onnxruntime", "onnx", purpose="the ONNX embedder backend")
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            try:
                sess = ort.InferenceSession(
                    str(model), sess_options=opts, providers=["CPUExecutionProvider"]
                )
            except Exception as exc:  # a corrupt cache file: say where it is
                raise RAGError(f"cannot load the ONNX embedder {model}: {exc}") from exc
            _sessions[key] = sess
        return sess


class OnnxEncoder:
    """Tokenise with the model's fast tokenizer and run the exported graph on CPU.

    Texts are encoded sorted by token length in batches padded only to their own longest
    text (length buckets), and returned in input order.
    """

    def __init__(self, model_dir: str | Path, *, max_length: int, threads: int) -> None:
        tokenizers = require("tokenizers", "local", purpose="the ONNX embedder backend")
        self.model_dir = Path(model_dir)
        self.max_length = max_length
        self.threads = threads
        self.model = export_onnx(self.model_dir)
        self.session = _session(self.model, threads)
        tok = tokenizers.Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        tok.no_padding()
        tok.enable_truncation(max_length=max_length)
        self.tokenizer = tok

    def encode(self, texts: Sequence[str], batch_size: int) -> NDArray[np.float32]:
        encs = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(encs)), key=lambda i: len(encs[i].ids))
        out = np.empty((len(encs), 0), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            width = max(len(encs[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                n = len(encs[i].ids)
                ids[row, :n] = encs[i].ids
                mask[row, :n] = 1
            (vecs,) = self.session.run(
                None,
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )
            if out.shape[1] == 0:
                out = np.empty((len(encs), vecs.shape[1]), dtype=np.float32)
            out[idx] = vecs
        return out
