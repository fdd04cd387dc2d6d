"""Backend choice from recorded `nvidia-smi` outputs (GB10, H100, no GPU) — no GPU needed."""

from __future__ import annotations

import hashlib
import shutil
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
        (
            GB10,
            NVCC,
            "cuda",
            (
                "-DGGML_CUDA=ON",
                "-DCMAKE_CUDA_ARCHITECTURES=121a-real",
                f"-DCMAKE_CUDA_COMPILER={NVCC}",
            ),
        ),
        (
            H100,
            NVCC,
            "cuda",
            (
                "-DGGML_CUDA=ON",
                "-DCMAKE_CUDA_ARCHITECTURES=90-real",
                f"-DCMAKE_CUDA_COMPILER={NVCC}",
            ),
        ),
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


def test_nvcc_is_found_in_the_default_toolkit_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A toolkit installed at /usr/local/cuda but not on PATH (DGX OS) is found without setup."""
    from fieldkit.serve import _backend

    nvcc = tmp_path / "usr-local-cuda" / "bin" / "nvcc"
    nvcc.parent.mkdir(parents=True)
    nvcc.write_text("#!/bin/sh\n")
    nvcc.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("CUDA_HOME", raising=False)
    monkeypatch.delenv("CUDA_PATH", raising=False)
    monkeypatch.setattr("sys.path", [])
    monkeypatch.setattr(_backend, "DEFAULT_CUDA_HOMES", (str(tmp_path / "usr-local-cuda"),))
    assert _backend.find_nvcc() == str(nvcc)
    monkeypatch.setattr(_backend, "DEFAULT_CUDA_HOMES", (str(tmp_path / "none"),))
    assert _backend.find_nvcc() is None


@pytest.mark.parametrize("layout", ["cu13/bin/nvcc", "cuda_nvcc/bin/nvcc"])
def test_nvcc_is_found_in_the_wheel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str
) -> None:
    """``nvidia-cuda-nvcc`` 13.x installs ``nvidia/cu13/bin/nvcc``; the ``-cu12`` wheel
    ``nvidia/cuda_nvcc/bin/nvcc``. Both are found on ``sys.path`` with nothing on PATH."""
    from fieldkit.serve._backend import find_nvcc

    nvcc = tmp_path / "site" / "nvidia" / layout
    nvcc.parent.mkdir(parents=True)
    nvcc.write_text("#!/bin/sh\n")
    nvcc.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("CUDA_HOME", raising=False)
    monkeypatch.delenv("CUDA_PATH", raising=False)
    monkeypatch.setattr("fieldkit.serve._backend.DEFAULT_CUDA_HOMES", ())
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert find_nvcc() == str(nvcc)


def _tool(folder: Path, name: str, body: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(f"#!/bin/sh\n{body}\n")
    (folder / name).chmod(0o755)


@pytest.mark.parametrize(
    ("smi", "smi_status", "nvcc", "name", "arch"),
    [
        ("nvidia-smi-gb10.csv", 0, True, "cuda", "121a-real"),
        ("nvidia-smi-h100.csv", 0, True, "cuda", "90-real"),
        ("nvidia-smi-no-gpu.txt", 9, True, "cpu", None),
        ("nvidia-smi-gb10.csv", 0, False, "cpu", None),
    ],
)
def test_probe_runs_the_tools_on_path(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    smi: str,
    smi_status: int,
    nvcc: bool,
    name: str,
    arch: str | None,
) -> None:
    """The real probe: an ``nvidia-smi`` on PATH replaying a recorded output (and exit status),
    an ``nvcc`` on PATH or none; the chosen backend and its architecture flag follow."""
    from fieldkit.serve._backend import probe

    bin_dir = tmp_path / "bin"
    cat = shutil.which("cat")
    _tool(bin_dir, "nvidia-smi", f"'{cat}' '{DATA / smi}'\nexit {smi_status}")
    if nvcc:
        _tool(bin_dir, "nvcc", "exit 0")
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("CUDA_HOME", raising=False)
    monkeypatch.delenv("CUDA_PATH", raising=False)
    monkeypatch.delenv("FIELDKIT_LLAMA_BACKEND", raising=False)
    monkeypatch.setattr("sys.path", [])  # no nvcc wheel is seen
    monkeypatch.setattr("fieldkit.serve._backend.DEFAULT_CUDA_HOMES", ())
    found = probe()
    assert found.nvcc == (str(bin_dir / "nvcc") if nvcc else None)
    backend = choose_backend(found)
    assert backend.name == name
    if arch is not None:
        assert f"-DCMAKE_CUDA_ARCHITECTURES={arch}" in backend.cmake_flags
        assert f"-DCMAKE_CUDA_COMPILER={bin_dir / 'nvcc'}" in backend.cmake_flags
