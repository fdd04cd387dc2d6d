"""Opt-in: compile llama.cpp's CUDA backend for one architecture on a machine without a GPU.

Set ``FIELDKIT_TEST_CUDA_COMPILE=1`` (and have ``nvcc``: a CUDA toolkit or the
``nvidia-cuda-nvcc`` wheel) to run it; it builds into a temporary cache and takes a long time
(tens of minutes on a few cores), so it never runs by default.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fieldkit.serve import build_llama_cpp
from fieldkit.serve._backend import find_nvcc
from fieldkit.serve._locate import build_backend

pytestmark = pytest.mark.skipif(
    os.environ.get("FIELDKIT_TEST_CUDA_COMPILE") != "1",
    reason="opt-in: set FIELDKIT_TEST_CUDA_COMPILE=1 to compile the CUDA backend (slow)",
)


@pytest.mark.timeout(45 * 60)
def test_cuda_backend_compiles_for_one_architecture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if find_nvcc() is None:
        pytest.fail("FIELDKIT_TEST_CUDA_COMPILE=1 but no nvcc (PATH, CUDA_HOME, nvidia-cuda-nvcc)")
    arch = os.environ.get("FIELDKIT_TEST_CUDA_ARCH", "121a-real")
    monkeypatch.setenv("FIELDKIT_LLAMA_CACHE", str(tmp_path))
    monkeypatch.setenv(
        "FIELDKIT_LLAMA_CMAKE_ARGS", f"-DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES={arch}"
    )
    assert build_backend() == "cuda"
    cache = build_llama_cpp()
    server = cache / "bin" / "llama-server"
    assert server.is_file()
    assert b"ggml_cuda" in server.read_bytes()  # the CUDA backend is linked in
    assert "CUDA" in (cache / "build.log").read_text()
