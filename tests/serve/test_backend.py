"""Backend choice from recorded `nvidia-smi` outputs (GB10, H100, no GPU) — no GPU needed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from fieldkit.serve._backend import (
    Probe,
    choose_backend,
    cuda_architectures,
    parse_nvidia_smi,
)
from fieldkit.serve._locate import build_backend, cmake_flags, llama_cache_dir

DATA = Path(__file__).parent / "data"
GB10 = parse_nvidia_smi((DATA / "nvidia-smi-gb10.csv").read_text())
H100 = parse_nvidia_smi((DATA / "nvidia-smi-h100.csv").read_text())
NO_GPU = parse_nvidia_smi((DATA / "nvidia-smi-no-gpu.txt").read_text())
NVCC = "/usr/local/cuda/bin/nvcc"


def test_recorded_outputs_parse() -> None:
    assert [(g.name, g.compute_cap, g.memory_total_mib) for g in GB10] == [
        ("NVIDIA GB10", "12.1", None)
    ]
    assert [(g.compute_cap, g.memory_total_mib, g.memory_free_mib) for g in H100] == [
        ("9.0", 81559, 81004)
    ]
    assert NO_GPU == ()


def test_architectures() -> None:
    assert cuda_architectures(GB10) == "121a-real"
    assert cuda_architectures(H100) == "90-real"
    assert cuda_architectures(GB10 + H100 + H100) == "121a-real;90-real"
    assert cuda_architectures(()) == "native"


@pytest.mark.parametrize(
    ("gpus", "nvcc", "name", "flags"),
    [
        (GB10, NVCC, "cuda", ("-DGGML_CUDA=ON", "-DCMAKE_CUDA_ARCHITECTURES=121a-real")),
        (H100, NVCC, "cuda", ("-DGGML_CUDA=ON", "-DCMAKE_CUDA_ARCHITECTURES=90-real")),
        (GB10, None, "cpu", ()),
        (NO_GPU, NVCC, "cpu", ()),
        (NO_GPU, None, "cpu", ()),
    ],
)
def test_cuda_needs_toolkit_and_gpu(
    gpus: tuple[object, ...], nvcc: str | None, name: str, flags: tuple[str, ...]
) -> None:
    backend = choose_backend(Probe("Linux", nvcc, gpus))  # type: ignore[arg-type]
    assert (backend.name, backend.cmake_flags) == (name, flags)


def test_reasons_say_what_to_install() -> None:
    assert "pip install nvidia-cuda-nvcc" in choose_backend(Probe("Linux", None, GB10)).reason
    assert "no NVIDIA GPU" in choose_backend(Probe("Linux", NVCC, NO_GPU)).reason
    assert "NVIDIA GB10 (compute 12.1)" in choose_backend(Probe("Linux", NVCC, GB10)).reason


def test_forced_and_macos() -> None:
    assert choose_backend(Probe("Darwin", None, ())).name == "metal"
    forced = choose_backend(Probe("Linux", None, (), forced="cuda"))
    assert forced.cmake_flags == ("-DGGML_CUDA=ON", "-DCMAKE_CUDA_ARCHITECTURES=native")
    assert choose_backend(Probe("Linux", NVCC, GB10, forced="cpu")).name == "cpu"
    with pytest.raises(ValueError, match="FIELDKIT_LLAMA_BACKEND='rocm'"):
        choose_backend(Probe("Linux", None, (), forced="rocm"))


def test_cpu_build_keeps_its_cache_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CPU build's key is the hash of the base flags alone: an existing CPU cache is reused."""
    monkeypatch.delenv("FIELDKIT_LLAMA_CMAKE_ARGS", raising=False)
    monkeypatch.setenv("FIELDKIT_LLAMA_BACKEND", "cpu")
    base = (
        "-DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF "
        "-DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"
    )
    assert " ".join(cmake_flags()) == base
    assert llama_cache_dir().name.endswith(hashlib.sha256(base.encode()).hexdigest()[:12])
    assert llama_cache_dir().name == "0.3.36-a4a843fe4ee0"
    assert build_backend() == "cpu"


def test_cuda_build_gets_its_own_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FIELDKIT_LLAMA_CMAKE_ARGS", raising=False)
    monkeypatch.setenv("FIELDKIT_LLAMA_BACKEND", "cpu")
    cpu = llama_cache_dir()
    monkeypatch.setenv("FIELDKIT_LLAMA_BACKEND", "cuda")
    assert llama_cache_dir() != cpu
    assert build_backend() == "cuda"
    # The user's own flags decide over the detected backend.
    monkeypatch.setenv("FIELDKIT_LLAMA_CMAKE_ARGS", "-DGGML_VULKAN=ON")
    assert "-DGGML_CUDA=ON" not in cmake_flags()
    assert build_backend() == "cpu"


def test_nvcc_is_found_under_cuda_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fieldkit.serve._backend import find_nvcc

    nvcc = tmp_path / "cuda" / "bin" / "nvcc"
    nvcc.parent.mkdir(parents=True)
    nvcc.write_text("#!/bin/sh\n")
    nvcc.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("CUDA_PATH", raising=False)
    monkeypatch.setenv("CUDA_HOME", str(tmp_path / "cuda"))
    assert find_nvcc() == str(nvcc)
