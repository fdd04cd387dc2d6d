"""Current model families: shapes from their Hugging Face config.json files and hand-computed
KV figures, sliding-window and hybrid (Mamba) layers included."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldkit.capabilities import (
    KV_FORMATS,
    ModelShape,
    Verdict,
    feasibility,
    get_model,
    render_feasibility,
)

GB = 10**9
GIB = 1 << 30

# (id, n_layers, n_heads, n_kv_heads, head_dim, KV layers, windowed layers, window) — from each
# model's Hugging Face config.json (for Gemma 3, text_config + Gemma3TextConfig defaults).
SHAPES = [
    ("gpt-oss-20b", 24, 64, 8, 64, 24, 12, 128),  # openai/gpt-oss-20b: layer_types alternate
    ("gpt-oss-120b", 36, 64, 8, 64, 36, 18, 128),  # openai/gpt-oss-120b
    ("qwen3-8b", 36, 32, 8, 128, 36, 0, None),  # Qwen/Qwen3-8B (use_sliding_window false)
    ("qwen3-32b", 64, 64, 8, 128, 64, 0, None),  # Qwen/Qwen3-32B
    ("qwen3-30b-a3b", 48, 32, 4, 128, 48, 0, None),  # Qwen/Qwen3-30B-A3B
    ("qwen3-235b-a22b", 94, 64, 4, 128, 94, 0, None),  # Qwen/Qwen3-235B-A22B
    ("llama-3.3-70b", 80, 64, 8, 128, 80, 0, None),  # meta-llama/Llama-3.3-70B-Instruct
    ("gemma-3-27b", 62, 32, 16, 128, 62, 52, 1024),  # google/gemma-3-27b-it: 5 local : 1 global
    ("mistral-small-3-24b", 40, 32, 8, 128, 40, 0, None),  # Mistral-Small-24B-Instruct-2501
    ("nemotron-h-8b", 52, 32, 8, 128, 4, 0, None),  # nvidia/Nemotron-H-8B-Base-8K: 4 of 52 attn
]


@pytest.mark.parametrize(("model_id", "layers", "heads", "kv", "hd", "kvl", "win_l", "win"), SHAPES)
def test_catalog_shapes(
    model_id: str, layers: int, heads: int, kv: int, hd: int, kvl: int, win_l: int, win: int | None
) -> None:
    m = get_model(model_id)
    assert (m.n_layers, m.n_heads, m.n_kv_heads, m.head_dim) == (layers, heads, kv, hd)
    assert (m.cache_layers, m.windowed_layers, m.sliding_window) == (kvl, win_l, win)


@pytest.mark.parametrize(
    ("model_id", "ctx", "dtype", "expected"),
    [
        # gpt-oss-120b: 18 full layers x 2 x 8 x 64 x 2 B x ctx + 18 windowed x 2048 B x 128.
        ("gpt-oss-120b", 131072, "bf16", 18 * 2048 * 131072 + 18 * 2048 * 128),
        ("gpt-oss-120b", 131072, "bf16", 4_836_556_800),
        # gpt-oss-20b: 12 full + 12 windowed; the full half is 3 GiB at 131072.
        ("gpt-oss-20b", 131072, "bf16", 3 * GIB + 12 * 2048 * 128),
        # below the window every layer holds every token
        ("gpt-oss-20b", 100, "bf16", 24 * 2048 * 100),
        ("gpt-oss-20b", 128, "bf16", 24 * 2048 * 128),
        # Qwen3: 2 x KV heads x 128 x 2 B per layer per token
        ("qwen3-8b", 32768, "bf16", 36 * 4096 * 32768),  # 4.5 GiB
        ("qwen3-32b", 32768, "bf16", 8 * GIB),  # 64 x 4096 B x 32768
        ("qwen3-30b-a3b", 32768, "bf16", 3 * GIB),  # 48 x 2048 B x 32768
        ("qwen3-235b-a22b", 32768, "fp8", 94 * 1024 * 32768),
        ("llama-3.3-70b", 131072, "bf16", 40 * GIB),  # 80 x 4096 B x 131072
        ("llama-3.3-70b", 131072, "fp8", 20 * GIB),
        # Gemma 3 27B: per layer 2 x 16 x 128 x 2 = 8 KiB per token; 10 global + 52 local (1024)
        ("gemma-3-27b", 131072, "bf16", 10 * 8192 * 131072 + 52 * 8192 * 1024),
        ("gemma-3-27b", 131072, "bf16", 11_173_625_856),
        ("gemma-3-27b", 1024, "bf16", 62 * 8192 * 1024),
        ("mistral-small-3-24b", 32768, "bf16", 5 * GIB),  # 40 x 4096 B x 32768
        # Nemotron-H 8B: only the 4 attention blocks cache: 4 x 4096 B x 8192 = 128 MiB
        ("nemotron-h-8b", 8192, "bf16", 128 << 20),
    ],
)
def test_hand_computed_kv(model_id: str, ctx: int, dtype: str, expected: int) -> None:
    assert get_model(model_id).kv_cache_bytes(ctx=ctx, batch=1, dtype=dtype) == expected


def test_gpt_oss_sinks_add_no_cached_tokens() -> None:
    # gpt-oss's attention sinks are a learned per-head logit, not kept tokens: a windowed
    # layer's cache stops growing at exactly 128 tokens.
    m = get_model("gpt-oss-120b")
    grow = [
        m.kv_cache_bytes(ctx=c + 1, batch=1, dtype="bf16")
        - m.kv_cache_bytes(ctx=c, batch=1, dtype="bf16")
        for c in (126, 127, 128, 129)
    ]
    assert grow == [36 * 2048, 36 * 2048, 18 * 2048, 18 * 2048]
    assert m.kv_bytes_per_token("bf16") == 18 * 2048


def test_done_when_gpt_oss_120b_mxfp4_on_spark_at_128k() -> None:
    r = feasibility("gpt-oss-120b", dtype="mxfp4", hardware="dgx-spark", ctx=131072)
    assert r.weights_bytes == 62_065_937_500  # 116.83e9 x 4.25 bits / 8
    assert (r.kv_dtype, r.kv_cache_bytes) == ("bf16", 4_836_556_800)
    assert r.overhead_bytes == 8 * GB + 6_690_249_430  # reserved + ceil(10% of 66.9 GB)
    assert r.total_bytes == 81_592_743_730
    assert r.headroom_bytes == 46_407_256_270
    assert r.verdict is Verdict.FITS
    lines = render_feasibility(r)
    assert "weights (mxfp4):       62.1 GB" in lines
    assert "KV cache (bf16):       4.8 GB  (ctx=131072, batch=1)" in lines
    assert "KV layers:       18 full + 18 windowed (<= 128 tokens each) of 36" in lines
    assert "headroom:           46.4 GB  (36% of memory free)" in lines
    assert "verdict:         fits" in lines
    assert any(line.startswith("note:            KV cache kept at bf16: mxfp4") for line in lines)
    data = r.to_dict()
    assert (data["kv_windowed_layers"], data["kv_full_layers"], data["sliding_window"]) == (
        18,
        18,
        128,
    )


def test_moe_families_read_their_active_share() -> None:
    for model_id, total, active in (
        ("gpt-oss-120b", 116.83, 5.13),
        ("gpt-oss-20b", 20.91, 3.61),
        ("qwen3-30b-a3b", 30.5, 3.3),
        ("qwen3-235b-a22b", 235.0, 22.0),
    ):
        m = get_model(model_id)
        assert m.is_moe and (m.params_b, m.active_params_b) == (total, active)
    assert not get_model("qwen3-32b").is_moe


def test_nemotron_h_report_names_the_layers_without_kv() -> None:
    lines = render_feasibility(feasibility("nemotron-h-8b", ctx=8192, dtype="bf16"))
    assert "KV layers:       4 full + 48 without KV (Mamba/attention-free) of 52" in lines


def _windowed(layers: int, windowed: int, window: int | None, kv_heads: int = 8) -> ModelShape:
    return ModelShape(
        id="w",
        name="w",
        params_b=1.0,
        n_layers=layers,
        attention="gqa",
        n_heads=kv_heads * 4,
        n_kv_heads=kv_heads,
        head_dim=64,
        sliding_window=window,
        sliding_window_layers=windowed if window else None,
    )


@settings(max_examples=200, deadline=None)
@given(
    layers=st.integers(1, 128),
    share=st.floats(0, 1),
    window=st.integers(1, 1 << 16),
    ctx=st.integers(1, 1 << 20),
    batch=st.integers(1, 16),
    dtype=st.sampled_from(KV_FORMATS),
)
def test_windowed_kv_never_exceeds_full_kv_and_grows_with_ctx(
    layers: int, share: float, window: int, ctx: int, batch: int, dtype: str
) -> None:
    windowed = min(layers, int(share * layers))
    sw = _windowed(layers, windowed, window if windowed else None)
    full = _windowed(layers, 0, None)
    kv = sw.kv_cache_bytes(ctx=ctx, batch=batch, dtype=dtype)
    assert kv <= full.kv_cache_bytes(ctx=ctx, batch=batch, dtype=dtype)
    assert kv <= sw.kv_cache_bytes(ctx=ctx + 1, batch=batch, dtype=dtype)
    if ctx <= window:  # inside the window a windowed layer is an ordinary layer
        assert kv == full.kv_cache_bytes(ctx=ctx, batch=batch, dtype=dtype)
    # exact element count: full layers hold ctx, windowed ones min(ctx, window)
    per_layer = 2 * 8 * 64
    tokens = (layers - windowed) * ctx + windowed * min(ctx, window)
    assert sw.kv_tokens_elements(ctx) == per_layer * tokens


def test_window_validation() -> None:
    with pytest.raises(ValueError, match="sliding_window_layers needs a sliding_window"):
        ModelShape(
            id="x",
            name="x",
            params_b=1.0,
            n_layers=4,
            attention="mha",
            n_heads=1,
            n_kv_heads=1,
            head_dim=8,
            sliding_window_layers=2,
        )
    with pytest.raises(ValueError, match="exceeds the KV layers"):
        ModelShape(
            id="x",
            name="x",
            params_b=1.0,
            n_layers=4,
            attention="mha",
            n_heads=1,
            n_kv_heads=1,
            head_dim=8,
            kv_layers=2,
            sliding_window=16,
            sliding_window_layers=3,
        )
    with pytest.raises(ValueError, match="sliding_window must be positive"):
        _windowed(4, 2, 0)
