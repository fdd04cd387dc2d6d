"""A real local model server: llama.cpp's ``llama-server``, built once, plus a bundled model.

``with LocalServer() as srv: srv.client().chat([...])`` answers from SmolLM2-135M-Instruct on a
free loopback port; ``llama_binary``/``build_llama_cpp`` locate or build the llama.cpp tools.
"""

from fieldkit.serve._locate import (
    LLAMA_CPP_PYTHON_VERSION,
    LlamaBuildError,
    build_llama_cpp,
    default_model,
    llama_binary,
    llama_cache_dir,
    llama_cache_root,
    llama_source_dir,
)
from fieldkit.serve._server import ContextTooLarge, LocalServer, LocalServerError

__all__ = [
    "LLAMA_CPP_PYTHON_VERSION",
    "ContextTooLarge",
    "LlamaBuildError",
    "LocalServer",
    "LocalServerError",
    "build_llama_cpp",
    "default_model",
    "llama_binary",
    "llama_cache_dir",
    "llama_cache_root",
    "llama_source_dir",
]
