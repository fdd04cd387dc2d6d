"""Locating llama.cpp's tools: the cache root, user binaries, and the build lock."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fieldkit.serve import (
    LLAMA_TARGETS,
    LlamaBuildError,
    build_llama_cpp,
    llama_binary,
    llama_cache_dir,
    llama_cache_root,
)


def _fake_complete_cache(cache: Path) -> None:
    (cache / "bin").mkdir(parents=True)
    (cache / "src").mkdir()
    for tool in LLAMA_TARGETS:
        path = cache / "bin" / tool
        path.write_text("#!/bin/sh\nexit 0\n")
        path.chmod(0o755)


def test_cache_root_ignores_fieldkit_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FIELDKIT_LLAMA_CACHE", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("FIELDKIT_HOME", str(tmp_path / "throwaway-home"))
    assert llama_cache_root() == tmp_path / "xdg" / "fieldkit" / "llama.cpp"
    monkeypatch.setenv("FIELDKIT_LLAMA_CACHE", str(tmp_path / "cache"))
    assert llama_cache_root() == tmp_path / "cache"
    assert llama_cache_dir().parent == tmp_path / "cache"


def test_cmake_args_change_the_cache_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FIELDKIT_LLAMA_CMAKE_ARGS", raising=False)
    cpu = llama_cache_dir()
    monkeypatch.setenv("FIELDKIT_LLAMA_CMAKE_ARGS", "-DGGML_CUDA=ON")
    assert llama_cache_dir() != cpu
    assert llama_cache_dir().parent == cpu.parent


def test_missing_binary_names_the_build_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("FIELDKIT_LLAMA_SERVER", raising=False)
    monkeypatch.setenv("FIELDKIT_LLAMA_CACHE", str(tmp_path))
    with pytest.raises(LlamaBuildError, match="fieldkit serve --build"):
        llama_binary("llama-server", build=False)


def test_user_binary_must_be_executable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    server = tmp_path / "llama-server"
    server.write_text("not executable")
    monkeypatch.setenv("FIELDKIT_LLAMA_SERVER", str(server))
    with pytest.raises(LlamaBuildError, match="not an executable file"):
        llama_binary("llama-server")
    server.chmod(0o755)
    assert llama_binary("llama-server") == server
    with pytest.raises(LlamaBuildError, match="llama-quantize not found beside"):
        llama_binary("llama-quantize")


def test_complete_cache_is_reused_without_building(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("FIELDKIT_LLAMA_SERVER", raising=False)
    monkeypatch.setenv("FIELDKIT_LLAMA_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no cmake: a build would fail
    _fake_complete_cache(llama_cache_dir())
    assert build_llama_cpp() == llama_cache_dir()
    assert llama_binary("llama-bench") == llama_cache_dir() / "bin" / "llama-bench"


def test_a_second_builder_waits_for_the_first(tmp_path: Path) -> None:
    """While one builder holds the lock, another blocks; it then reuses the finished cache
    instead of building again (its PATH has no cmake, so a second build would fail)."""
    env = {
        **os.environ,
        "FIELDKIT_LLAMA_CACHE": str(tmp_path),
        "PATH": str(tmp_path / "empty"),
    }
    env.pop("FIELDKIT_LLAMA_SERVER", None)
    env.pop("FIELDKIT_LLAMA_CMAKE_ARGS", None)
    script = textwrap.dedent(
        """
        from fieldkit.serve import build_llama_cpp
        print(build_llama_cpp(), flush=True)
        """
    )
    cache = Path(
        subprocess.run(
            [sys.executable, "-c", "from fieldkit.serve import llama_cache_dir as d; print(d())"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    lock = cache.parent / f"{cache.name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # "the first builder"
        second = subprocess.Popen(
            [sys.executable, "-c", script],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            with pytest.raises(subprocess.TimeoutExpired):
                second.wait(timeout=1.5)  # blocked on the lock, not building, not failing
            _fake_complete_cache(cache)  # the first builder publishes its result
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)
        out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert Path(out.strip()) == cache


def test_an_interrupted_build_leaves_no_work_dir_behind(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("FIELDKIT_LLAMA_SERVER", raising=False)
    monkeypatch.setenv("FIELDKIT_LLAMA_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    cache = llama_cache_dir()
    stale = cache.parent / f".{cache.name}-killed"
    (stale / "build").mkdir(parents=True)
    with pytest.raises(LlamaBuildError, match="needs cmake"):
        build_llama_cpp()
    assert not stale.exists()
    assert not cache.exists()


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 0.0, -1.0])
def test_local_server_refuses_a_startup_timeout_it_cannot_honour(bad: float) -> None:
    from fieldkit.serve import LocalServer

    with pytest.raises(ValueError, match="startup_timeout"):
        LocalServer(startup_timeout=bad)
