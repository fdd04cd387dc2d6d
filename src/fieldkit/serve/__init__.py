"""A real local model server: llama.cpp's ``llama-server``, built once, plus a bundled model."""

from fieldkit.serve._locate import (
    LLAMA_CPP_PYTHON_VERSION,
    LlamaBuildError,
    build_llama_cpp,
    default_model,
    llama_binary,
    llama_source_dir,
)

__all__ = [
    "LLAMA_CPP_PYTHON_VERSION",
    "LlamaBuildError",
    "build_llama_cpp",
    "default_model",
    "llama_binary",
    "llama_source_dir",
]
