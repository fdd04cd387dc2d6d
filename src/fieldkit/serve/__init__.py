"""A real local model server: llama.cpp's ``llama-server``, built once, plus a bundled model.

``with LocalServer() as srv: srv.client().chat([...])`` answers from SmolLM2-135M-Instruct on a
free loopback port; ``llama_binary``/``build_llama_cpp`` locate or build the llama.cpp tools
(``detect_backend``: CPU, CUDA or Metal, and why); ``fit_context``/``read_gguf_shape`` size the
KV cache from a GGUF header; ``local_models`` lists the GGUF files already on the machine.
"""

from fieldkit.serve._backend import Backend, detect_backend
from fieldkit.serve._context import ContextPlan, available_memory, fit_context
from fieldkit.serve._embed_model import minilm_gguf
from fieldkit.serve._gguf_shape import GGUFShape, GGUFShapeError, read_gguf_shape
from fieldkit.serve._locate import (
    LLAMA_CPP_PYTHON_VERSION,
    LLAMA_TARGETS,
    LlamaBuildError,
    build_backend,
    build_llama_cpp,
    default_model,
    llama_binary,
    llama_cache_dir,
    llama_cache_root,
    llama_source_dir,
)
from fieldkit.serve._models import LocalModel, find_local_model, local_models
from fieldkit.serve._server import ContextTooLarge, LocalServer, LocalServerError

__all__ = [
    "LLAMA_CPP_PYTHON_VERSION",
    "LLAMA_TARGETS",
    "Backend",
    "ContextPlan",
    "ContextTooLarge",
    "GGUFShape",
    "GGUFShapeError",
    "LlamaBuildError",
    "LocalModel",
    "LocalServer",
    "LocalServerError",
    "available_memory",
    "build_backend",
    "build_llama_cpp",
    "default_model",
    "detect_backend",
    "find_local_model",
    "fit_context",
    "llama_binary",
    "llama_cache_dir",
    "llama_cache_root",
    "llama_source_dir",
    "local_models",
    "minilm_gguf",
    "read_gguf_shape",
]
