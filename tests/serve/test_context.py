"""KV-cache arithmetic from the real SmolLM2 GGUF header, ctx auto, and refusing what cannot fit."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fieldkit.serve import LocalServer, LocalServerError, default_model
from fieldkit.serve._context import CTX_PAD, fit_context, kv_cache_bytes, padded_ctx
from fieldkit.serve._gguf_shape import GGUFShapeError, read_gguf_shape
from fieldkit.serve._server import is_loopback

GIB = 1 << 30
SHAPE = read_gguf_shape(default_model())


def test_shape_from_header() -> None:
    assert (SHAPE.architecture, SHAPE.n_layer, SHAPE.kv_heads[0]) == ("llama", 30, 3)
    assert (SHAPE.head_dim_k, SHAPE.head_dim_v, SHAPE.context_length) == (64, 64, 8192)
    assert SHAPE.file_type == "Q4_1"


@pytest.mark.parametrize(
    ("kv_dtype", "expected"),
    [("f16", 188_743_680), ("q8_0", 100_270_080), ("q4_0", 53_084_160)],
)
def test_kv_bytes(kv_dtype: str, expected: int) -> None:
    # 8192 cells x 30 layers x 2 (K, V) x 3 heads x 64 dims, in the cache type's blocks.
    assert kv_cache_bytes(SHAPE, 8192, kv_dtype) == expected


def test_context_is_padded_like_llama_cpp() -> None:
    assert padded_ctx(1) == CTX_PAD
    assert kv_cache_bytes(SHAPE, 1000) == kv_cache_bytes(SHAPE, 1024)


@given(st.integers(min_value=0, max_value=1 << 40), st.sampled_from(["f16", "q8_0", "q4_0"]))
def test_auto_is_the_largest_padded_context_that_fits(avail: int, kv_dtype: str) -> None:
    shape = dataclasses.replace(SHAPE, context_length=None)
    plan = fit_context(shape, ctx=None, kv_dtype=kv_dtype, available=(avail, "x"), weights_bytes=0)
    assert plan.ctx % CTX_PAD == 0
    assert plan.ctx == 0 or plan.fits
    assert kv_cache_bytes(shape, plan.ctx + CTX_PAD, kv_dtype) > plan.budget_bytes


def test_auto_caps_at_trained_context_and_prints_arithmetic() -> None:
    plan = fit_context(SHAPE, ctx=None, available=(16 * GIB, "MemAvailable"), weights_bytes=0)
    assert (plan.ctx, plan.kv_bytes, plan.capped_by_model) == (8192, 188_743_680, True)
    line = plan.arithmetic(SHAPE)
    assert "8192 cells x 30 layers x 3 KV heads x (64+64) dims x 2 B = 188743680 bytes" in line
    small = fit_context(SHAPE, ctx=None, available=(GIB + 100 * (1 << 20), "x"), weights_bytes=0)
    assert small.ctx == 4352  # 104857600 B budget // 23040 B per token, down to 256s


def test_huge_ctx_is_refused_before_anything_starts(tmp_path: Path) -> None:
    server = LocalServer(ctx=1_000_000_000, log_path=tmp_path / "log")
    with pytest.raises(LocalServerError) as err:
        server.start()
    msg = str(err.value)
    assert "ctx 1000000000 needs a f16 KV cache of 21457.67 GiB" in msg
    assert "the largest context that fits is 8192" in msg
    assert "--no-memory-check" in msg
    assert not server.running


def test_shape_errors(tmp_path: Path) -> None:
    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"nope")
    with pytest.raises(GGUFShapeError, match="not a GGUF"):
        read_gguf_shape(bad)
    with pytest.raises(LocalServerError, match="ctx='auto' needs the model's shape"):
        bad.write_bytes(b"GGUF" + bytes(20))
        LocalServer(bad, ctx="auto").start()


def test_non_loopback_host_needs_an_api_key() -> None:
    with pytest.raises(ValueError, match="set an api_key"):
        LocalServer(host="0.0.0.0")
    LocalServer(host="0.0.0.0", api_key="k")
    with pytest.raises(ValueError, match="kv_dtype"):
        LocalServer(kv_dtype="fp4")
    with pytest.raises(ValueError, match="gpu_layers"):
        LocalServer(gpu_layers=-1)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("127.example.com", False),
        ("127.0.0.1.nip.io", False),
        ("myhost", False),
    ],
)
def test_only_loopback_literals_skip_the_api_key(host: str, loopback: bool) -> None:
    """A name that merely starts with "127." may resolve to any address: it needs a key."""
    assert is_loopback(host) is loopback
    if not loopback:
        with pytest.raises(ValueError, match="set an api_key"):
            LocalServer(host=host)
