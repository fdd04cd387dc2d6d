"""Default offload follows the build's backend (no GPU needed: a stand-in llama-server records
the argv it got), and the offload line is read from llama-server's own log format."""

from __future__ import annotations

from pathlib import Path

import pytest

from fieldkit.serve import LocalServer, LocalServerError
from fieldkit.serve._server_log import parse_server_log

# Lines as llama.cpp's src/llama-model.cpp and src/llama-kv-cache.cpp print them.
CUDA_LOG = """\
0.00.533.704 I load_tensors: offloading output layer to GPU
0.00.533.705 I load_tensors: offloading 30 repeating layers to GPU
0.00.533.706 I load_tensors: offloaded 31/31 layers to GPU
0.00.535.002 I llama_kv_cache:      CUDA0 KV buffer size =   180.00 MiB
0.00.827.615 I llama_kv_cache: size =  180.00 MiB (  8192 cells,  30 layers,  4/1 seqs)
"""
CPU_LOG = "0.00.535.002 I llama_kv_cache:        CPU KV buffer size =    95.62 MiB\n"


def test_log_facts() -> None:
    cuda = parse_server_log(CUDA_LOG)
    assert (cuda.offloaded, cuda.offloadable, cuda.kv_buffers_mib) == (31, 31, {"CUDA0": 180.0})
    cpu = parse_server_log(CPU_LOG)
    assert (cpu.offloaded, cpu.kv_mib) == (None, 95.62)
    assert parse_server_log("offloaded 9/31 layers to GPU\n" * 3).offloaded == 9


def _argv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **kwargs: object) -> str:
    server = tmp_path / "llama-server"
    server.write_text("#!/bin/sh\nexit 3\n")
    server.chmod(0o755)
    monkeypatch.setenv("FIELDKIT_LLAMA_SERVER", str(server))
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + bytes(60))
    log = tmp_path / "log"
    log.unlink(missing_ok=True)
    with pytest.raises(LocalServerError, match="exited with status 3"):
        LocalServer(model, log_path=log, **kwargs).start()  # type: ignore[arg-type]
    return log.read_text().splitlines()[0]


@pytest.mark.parametrize(
    ("backend", "kwargs", "expected"),
    [
        ("cuda", {}, "-ngl all"),
        ("cpu", {}, None),
        ("cuda", {"gpu_layers": 0}, "-ngl 0"),
        ("cpu", {"gpu_layers": 12}, "-ngl 12"),
    ],
)
def test_default_offload_follows_the_backend(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    backend: str,
    kwargs: dict[str, object],
    expected: str | None,
) -> None:
    monkeypatch.delenv("FIELDKIT_LLAMA_CMAKE_ARGS", raising=False)
    monkeypatch.setenv("FIELDKIT_LLAMA_BACKEND", backend)
    argv = _argv(tmp_path, monkeypatch, **kwargs)
    if expected is None:
        assert "-ngl" not in argv.split()
    else:
        assert expected in argv
