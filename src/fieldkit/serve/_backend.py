"""Which llama.cpp backend to build on this machine, and why (pure decision + a small probe).

The decision is a pure function of what was probed (OS, a CUDA compiler, ``nvidia-smi``'s GPU
list, ``$FIELDKIT_LLAMA_BACKEND``), so every branch is testable without a GPU. CUDA is chosen
only when a CUDA toolkit *and* an NVIDIA GPU are present (a toolkit alone, as on a CPU build
box, keeps the CPU build); ``FIELDKIT_LLAMA_BACKEND=cuda|cpu|metal`` forces one.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = [
    "BACKENDS",
    "Backend",
    "GPUInfo",
    "Probe",
    "choose_backend",
    "cuda_architectures",
    "detect_backend",
    "find_nvcc",
    "parse_nvidia_smi",
    "probe",
]

#: Backends fieldkit knows how to build.
BACKENDS = ("cpu", "cuda", "metal")
#: ``nvidia-smi`` query whose CSV output :func:`parse_nvidia_smi` reads.
NVIDIA_SMI_QUERY = (
    "--query-gpu=name,compute_cap,memory.total,memory.free",
    "--format=csv,noheader,nounits",
)
_SMI_TIMEOUT_S = 10.0
#: Where CUDA toolkit installers (and DGX OS) put the toolkit when it is not on PATH.
DEFAULT_CUDA_HOMES: tuple[str, ...] = ("/usr/local/cuda",)


@dataclasses.dataclass(frozen=True)
class GPUInfo:
    """One NVIDIA GPU as ``nvidia-smi`` reports it (memory ``None`` on unified-memory GB10)."""

    name: str
    compute_cap: str
    memory_total_mib: int | None
    memory_free_mib: int | None


@dataclasses.dataclass(frozen=True)
class Probe:
    """What the machine offers: OS name, a CUDA compiler path, GPUs, the forced backend."""

    system: str
    nvcc: str | None
    gpus: tuple[GPUInfo, ...]
    forced: str | None = None


@dataclasses.dataclass(frozen=True)
class Backend:
    """The chosen backend, its extra CMake flags, and one sentence saying why."""

    name: str
    cmake_flags: tuple[str, ...]
    reason: str

    @property
    def gpu(self) -> bool:
        """Whether layers can be offloaded to a GPU with this build."""
        return self.name in ("cuda", "metal")


def _mib(field: str) -> int | None:
    try:
        return int(float(field))
    except ValueError:  # "[N/A]", "[Not Supported]" on unified-memory parts
        return None


def parse_nvidia_smi(text: str) -> tuple[GPUInfo, ...]:
    """GPUs from the CSV of ``nvidia-smi`` + :data:`NVIDIA_SMI_QUERY`; error text → ``()``."""
    gpus: list[GPUInfo] = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 4:
            continue
        name, cap, total, free = parts
        major, _, minor = cap.partition(".")
        if not (major.isdigit() and minor.isdigit()):
            continue
        gpus.append(GPUInfo(name, f"{int(major)}.{int(minor)}", _mib(total), _mib(free)))
    return tuple(gpus)


def cuda_architectures(gpus: tuple[GPUInfo, ...]) -> str:
    """``CMAKE_CUDA_ARCHITECTURES`` for *gpus*: ``121a-real`` (GB10), ``90-real`` (H100);
    ``native`` when none was seen. Blackwell 12.x needs the ``a`` variant for its fp4 math."""
    if not gpus:
        return "native"
    archs: list[str] = []
    for gpu in gpus:
        major, _, minor = gpu.compute_cap.partition(".")
        code = f"{major}{minor}{'a' if int(major) >= 12 else ''}-real"
        if code not in archs:
            archs.append(code)
    return ";".join(archs)


def choose_backend(p: Probe) -> Backend:
    """The backend for *p* (see the module docstring for the rule)."""
    if p.forced is not None and p.forced not in BACKENDS:
        raise ValueError(f"FIELDKIT_LLAMA_BACKEND={p.forced!r}; expected one of {BACKENDS}")
    if p.forced == "cpu":
        return Backend("cpu", (), "FIELDKIT_LLAMA_BACKEND=cpu")
    if p.forced == "metal" or (p.forced is None and p.system == "Darwin"):
        why = "FIELDKIT_LLAMA_BACKEND=metal" if p.forced else "macOS: Metal is llama.cpp's default"
        return Backend("metal", ("-DGGML_METAL=ON",), why)
    archs = cuda_architectures(p.gpus)
    flags: tuple[str, ...] = ("-DGGML_CUDA=ON", f"-DCMAKE_CUDA_ARCHITECTURES={archs}")
    if p.nvcc:
        # CMake looks for nvcc on PATH only; one found under CUDA_HOME or in the wheel is named.
        flags += (f"-DCMAKE_CUDA_COMPILER={p.nvcc}",)
    seen = ", ".join(f"{g.name} (compute {g.compute_cap})" for g in p.gpus)
    if p.forced == "cuda":
        where = f"nvcc at {p.nvcc}" if p.nvcc else "no nvcc found: the build will fail"
        return Backend("cuda", flags, f"FIELDKIT_LLAMA_BACKEND=cuda; {where}; arch {archs}")
    if p.nvcc and p.gpus:
        return Backend("cuda", flags, f"nvcc at {p.nvcc} and {seen}; arch {archs}")
    if p.gpus:
        return Backend(
            "cpu",
            (),
            f"{seen} found but no CUDA toolkit (nvcc); install NVIDIA's CUDA toolkit (or `pip "
            "install nvidia-cuda-nvcc nvidia-cuda-runtime nvidia-cublas`: the build needs the "
            "compiler, runtime and cuBLAS) and run `fieldkit serve --build` again",
        )
    if p.nvcc:
        return Backend("cpu", (), f"nvcc at {p.nvcc} but no NVIDIA GPU listed by nvidia-smi")
    return Backend("cpu", (), "no NVIDIA GPU and no CUDA toolkit found")


def find_nvcc() -> str | None:
    """``nvcc`` on PATH, under ``$CUDA_HOME``/``$CUDA_PATH`` or ``/usr/local/cuda``, or from
    the ``nvidia-cuda-nvcc`` wheel on ``sys.path`` (``nvidia/cu13/bin`` in CUDA 13+ wheels,
    ``nvidia/cuda_nvcc/bin`` in the ``-cu12`` ones)."""
    found = shutil.which("nvcc")
    if found:
        return found
    homes = [os.environ.get(var) for var in ("CUDA_HOME", "CUDA_PATH")]
    for home in [*homes, *DEFAULT_CUDA_HOMES]:
        if home and (Path(home) / "bin" / "nvcc").is_file():
            return str(Path(home) / "bin" / "nvcc")
    for entry in sys.path:
        if not entry:
            continue
        base = Path(entry) / "nvidia"
        try:
            newest = sorted(base.glob("cu[0-9]*/bin/nvcc"), reverse=True)
        except OSError:
            continue
        for path in (*newest, base / "cuda_nvcc" / "bin" / "nvcc"):
            if path.is_file():
                return str(path)
    return None


def _nvidia_smi() -> str:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return ""
    try:
        out = subprocess.run(
            [smi, *NVIDIA_SMI_QUERY],
            capture_output=True,
            text=True,
            timeout=_SMI_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout if out.returncode == 0 else ""


def probe() -> Probe:
    """Probe this machine (runs ``nvidia-smi`` once, bounded by a 10 s timeout)."""
    forced = os.environ.get("FIELDKIT_LLAMA_BACKEND", "").strip().lower() or None
    return Probe(platform.system(), find_nvcc(), parse_nvidia_smi(_nvidia_smi()), forced)


@functools.lru_cache(maxsize=8)
def _detect(forced: str | None, path: str, cuda_home: str | None) -> Backend:
    return choose_backend(probe())


def detect_backend() -> Backend:
    """The backend for this machine (cached per ``$FIELDKIT_LLAMA_BACKEND``/``PATH``)."""
    return _detect(
        os.environ.get("FIELDKIT_LLAMA_BACKEND"),
        os.environ.get("PATH", ""),
        os.environ.get("CUDA_HOME"),
    )
