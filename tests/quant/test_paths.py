"""LlamaCppPaths: explicit paths, LLAMA_CPP_BIN, PATH, and fieldkit's own llama.cpp build."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from fieldkit.quant import LlamaCppNotFound, LlamaCppPaths, QuantError


def test_resolve_returns_self_type(clean_env: Path) -> None:
    paths = LlamaCppPaths()
    assert paths.resolve() is paths
    assert isinstance(paths, LlamaCppPaths)


def test_empty_bin_and_path_means_not_found(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    monkeypatch.setenv("LLAMA_CPP_BIN", str(empty_bin))
    paths = LlamaCppPaths().resolve()
    with pytest.raises(LlamaCppNotFound) as info:
        paths.require("quantize")
    msg = str(info.value)
    assert "`quantize`" in msg and "LLAMA_CPP_BIN" in msg and "LLAMA_CPP_CONVERT" in msg
    assert "paths=LlamaCppPaths(...)" in msg
    assert isinstance(info.value, QuantError)


def test_explicit_path_is_returned(tmp_path: Path) -> None:
    stub = tmp_path / "llama-quantize"
    stub.write_text("")
    assert LlamaCppPaths(quantize=stub).require("quantize") == stub


def test_require_unknown_attr() -> None:
    with pytest.raises(AttributeError):
        LlamaCppPaths().require("server")


def test_require_names_a_missing_explicit_path(tmp_path: Path) -> None:
    with pytest.raises(LlamaCppNotFound, match="does not exist"):
        LlamaCppPaths(bench=tmp_path / "nope").require("bench")


def test_bin_dir_then_path(
    clean_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    make_exe: Callable[[str, str], Path],
) -> None:
    on_path = clean_env / "llama-bench"
    on_path.write_text("")
    on_path.chmod(0o755)  # shutil.which wants an executable
    bin_dir = tmp_path / "bin-dir"
    bin_dir.mkdir()
    (bin_dir / "llama-quantize").write_text("")
    monkeypatch.setenv("LLAMA_CPP_BIN", str(bin_dir))
    paths = LlamaCppPaths().resolve()
    assert paths.quantize == bin_dir / "llama-quantize"
    assert paths.bench == on_path  # missing in LLAMA_CPP_BIN → PATH
    assert paths.perplexity is None  # explicit LLAMA_CPP_BIN: never mixed with fieldkit's build


def test_resolve_fills_only_unset_fields(clean_env: Path, tmp_path: Path) -> None:
    mine = tmp_path / "my-quantize"
    paths = LlamaCppPaths(quantize=mine).resolve()
    assert paths.quantize == mine


def test_empty_env_values_count_as_unset(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLAMA_CPP_BIN", "")
    monkeypatch.setenv("LLAMA_CPP_CONVERT", "")
    paths = LlamaCppPaths().resolve()
    assert paths.convert is None
    assert paths.quantize is None


def test_convert_env_taken_as_given(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLAMA_CPP_CONVERT", "/somewhere/convert_hf_to_gguf.py")
    assert LlamaCppPaths().resolve().convert == Path("/somewhere/convert_hf_to_gguf.py")


def test_falls_back_to_fieldkits_llama_cpp(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, make_exe: Callable[[str, str], Path]
) -> None:
    """Without LLAMA_CPP_BIN and PATH, the tools beside $FIELDKIT_LLAMA_SERVER are used."""
    server = make_exe("llama-server", "exit 0")
    for tool in ("llama-quantize", "llama-perplexity", "llama-bench"):
        make_exe(tool, "exit 0")
    monkeypatch.setenv("FIELDKIT_LLAMA_SERVER", str(server))
    paths = LlamaCppPaths().resolve()
    assert paths.quantize == server.parent / "llama-quantize"
    assert paths.bench == server.parent / "llama-bench"


def test_fieldkit_build_cache_is_found(clean_env: Path, tmp_path: Path) -> None:
    """A populated build cache supplies tools and the convert script."""
    from fieldkit.serve import llama_cache_dir

    cache = llama_cache_dir()
    (cache / "bin").mkdir(parents=True)
    (cache / "src").mkdir()
    (cache / "bin" / "llama-perplexity").write_text("")
    (cache / "src" / "convert_hf_to_gguf.py").write_text("")
    paths = LlamaCppPaths().resolve()
    assert paths.perplexity == cache / "bin" / "llama-perplexity"
    assert paths.convert == cache / "src" / "convert_hf_to_gguf.py"
    assert paths.quantize is None  # nothing is built by a lookup


def test_an_empty_build_cache_gives_no_convert_script_and_starts_no_build(
    clean_env: Path, tmp_path: Path
) -> None:
    from fieldkit.serve import llama_cache_dir

    paths = LlamaCppPaths().resolve()
    assert paths.convert is None and paths.quantize is None
    assert not llama_cache_dir().exists()  # the lookup went through serve without building
