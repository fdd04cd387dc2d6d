"""ModelShape.from_hf_config: real-looking config.json files (written here from the models'
published Hugging Face configs), layouts, parameter estimates, and errors naming the fields."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldkit.capabilities import (
    HFConfigError,
    ModelShape,
    count_parameters,
    feasibility,
    get_model,
    shape_from_hf_config,
)

CONFIGS = Path(__file__).parent / "hf_configs"


def _cfg(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CONFIGS / name / "config.json").read_text())
    return data


@pytest.mark.parametrize(
    ("config", "catalog_id"),
    [
        ("gpt-oss-120b", "gpt-oss-120b"),
        ("qwen3-8b", "qwen3-8b"),
        ("qwen3-30b-a3b", "qwen3-30b-a3b"),
        ("gemma-3-27b-it", "gemma-3-27b"),
        ("llama-3.3-70b-instruct", "llama-3.3-70b"),
        ("deepseek-v3", "deepseek-v3"),
    ],
)
def test_config_kv_agrees_with_the_catalog(config: str, catalog_id: str) -> None:
    shape = ModelShape.from_hf_config(CONFIGS / config)
    entry = get_model(catalog_id)
    for ctx in (1, 100, 1024, 4096, 131072):
        assert shape.kv_cache_bytes(ctx=ctx, batch=2, dtype="bf16") == entry.kv_cache_bytes(
            ctx=ctx, batch=2, dtype="bf16"
        )
    assert (shape.cache_layers, shape.windowed_layers) == (
        entry.cache_layers,
        entry.windowed_layers,
    )
    assert shape.is_moe == entry.is_moe


@pytest.mark.parametrize(
    ("config", "total_b", "active_b", "tolerance"),
    [
        # model cards: gpt-oss-120b 116.83B / 5.13B active (card leaves out the input embedding)
        ("gpt-oss-120b", 116.83, 5.13, 0.005),
        ("llama-3.1-8b", 8.03, None, 0.001),
        ("llama-3.3-70b-instruct", 70.6, None, 0.002),
        ("qwen3-8b", 8.19, None, 0.001),
        # Qwen3-30B-A3B card: 30.5B total, 3.3B active counting the input embedding (0.31B),
        # which a decoded token reads one row of: 3.04B here.
        ("qwen3-30b-a3b", 30.5, 3.04, 0.005),
        # DeepSeek-V3: 671B without the multi-token-prediction module
        ("deepseek-v3", 671.0, None, 0.001),
        # Gemma 3 27B: 27.4B with its 0.4B vision tower, which the text config does not describe
        ("gemma-3-27b-it", 27.0, None, 0.002),
        ("mistral-7b-v0.1", 7.24, None, 0.001),
    ],
)
def test_parameter_estimates_match_model_cards(
    config: str, total_b: float, active_b: float | None, tolerance: float
) -> None:
    total, active = count_parameters(_cfg(config))
    assert abs(total / 1e9 - total_b) <= tolerance * total_b
    if active_b is not None:
        assert abs(active / 1e9 - active_b) <= 0.01 * active_b
    assert active <= total


def test_gpt_oss_layout_from_layer_types() -> None:
    m = shape_from_hf_config(CONFIGS / "gpt-oss-120b" / "config.json")
    assert (m.n_layers, m.n_heads, m.n_kv_heads, m.head_dim) == (36, 64, 8, 64)
    assert (m.sliding_window, m.windowed_layers, m.full_attention_layers) == (128, 18, 18)
    assert (m.n_experts, m.experts_per_token, m.max_context) == (128, 4, 131072)
    assert m.id == "gpt-oss-120b"  # the directory name


def test_gemma3_text_config_and_its_defaults() -> None:
    # The saved gemma-3-27b-it config omits sliding_window_pattern (6) and
    # max_position_embeddings (131072): Gemma3TextConfig's defaults apply.
    m = ModelShape.from_hf_config(CONFIGS / "gemma-3-27b-it")
    assert (m.n_layers, m.n_kv_heads, m.head_dim) == (62, 16, 128)
    assert (m.sliding_window, m.windowed_layers, m.full_attention_layers) == (1024, 52, 10)
    assert m.max_context == 131072
    explicit = _cfg("gemma-3-27b-it")
    explicit["text_config"]["layer_types"] = [
        "full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(62)
    ]
    assert ModelShape.from_hf_config(explicit).windowed_layers == 52


def test_qwen3_sliding_window_fields_are_off() -> None:
    m = ModelShape.from_hf_config(CONFIGS / "qwen3-8b")
    assert m.sliding_window is None and m.windowed_layers == 0
    on = _cfg("qwen3-8b") | {
        "use_sliding_window": True,
        "sliding_window": 4096,
        "max_window_layers": 28,
    }
    m2 = ModelShape.from_hf_config(on)
    assert (m2.windowed_layers, m2.full_attention_layers) == (8, 28)


def test_mistral_window_applies_to_every_layer() -> None:
    m = ModelShape.from_hf_config(CONFIGS / "mistral-7b-v0.1")
    assert (m.sliding_window, m.windowed_layers) == (4096, 32)
    # 32 x 2 x 8 x 128 x 2 B x 4096 tokens, whatever the context
    assert m.kv_cache_bytes(ctx=32768, batch=1, dtype="fp16") == 512 << 20


def test_deepseek_mla_from_config() -> None:
    m = ModelShape.from_hf_config(CONFIGS / "deepseek-v3")
    assert (m.attention, m.kv_lora_rank, m.qk_rope_head_dim, m.kv_hidden) == ("mla", 512, 64, 576)
    assert m.kv_cache_bytes(ctx=1, batch=1, dtype="fp16") == 576 * 2 * 61


def test_nemotron_h_hybrid_pattern_is_exact() -> None:
    with pytest.raises(HFConfigError, match="--params-b"):
        ModelShape.from_hf_config(CONFIGS / "nemotron-h-8b-base-8k")
    m = ModelShape.from_hf_config(CONFIGS / "nemotron-h-8b-base-8k", params_b=8.0)
    assert (m.n_layers, m.cache_layers) == (52, 4)
    assert m.kv_cache_bytes(ctx=8192, batch=1, dtype="bf16") == get_model(
        "nemotron-h-8b"
    ).kv_cache_bytes(ctx=8192, batch=1, dtype="bf16")


def _nas_config(no_op: set[int], group: int = 8) -> dict[str, Any]:
    blocks = [
        {
            "attention": {
                "no_op": i in no_op,
                "replace_with_linear": False,
                "n_heads_in_group": None if i in no_op else group,
            },
            "ffn": {"ffn_mult": 2.0, "no_op": False},
        }
        for i in range(10)
    ]
    return {
        "model_type": "nemotron-nas",
        "num_hidden_layers": 10,
        "num_attention_heads": 64,
        "hidden_size": 8192,
        "block_configs": blocks,
        "max_position_embeddings": 131072,
    }


def test_nemotron_nas_block_configs_count_only_attention_blocks() -> None:
    m = ModelShape.from_hf_config(_nas_config({1, 4, 7}), params_b=5.0)
    assert (m.cache_layers, m.n_kv_heads, m.head_dim) == (7, 8, 128)  # 64 heads / group 8
    assert m.kv_cache_bytes(ctx=10, batch=1, dtype="bf16") == 7 * 2 * 8 * 128 * 2 * 10
    mixed = _nas_config(set())
    mixed["block_configs"][0]["attention"]["n_heads_in_group"] = 4
    with pytest.raises(HFConfigError, match=r"n_heads_in_group \[4, 8\]"):
        ModelShape.from_hf_config(mixed, params_b=5.0)


def test_jamba_style_attention_period() -> None:
    cfg = {
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "hidden_size": 4096,
        "attn_layer_period": 8,
        "attn_layer_offset": 4,
    }
    m = ModelShape.from_hf_config(cfg, params_b=52.0)
    assert m.cache_layers == 4


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"num_attention_heads": None}, "lacks num_attention_heads / n_head / num_heads"),
        ({"num_hidden_layers": None, "num_attention_heads": None}, "num_hidden_layers"),
        ({"layer_types": ["full_attention"] * 3}, "layer_types must list num_hidden_layers (36)"),
        (
            {"layer_types": ["sliding_attention", "moe_attention"] * 18},
            "unknown layer kinds ['moe_attention']",
        ),
        ({"sliding_window": None}, "sliding_attention layers but sliding_window is unset"),
        (
            {"num_experts_per_tok": None, "experts_per_token": None},
            "num_local_experts=128 but none of num_experts_per_tok",
        ),
        (
            {"num_key_value_heads": 7},
            "num_key_value_heads (7) must divide num_attention_heads (64)",
        ),
        ({"head_dim": 0}, "head_dim must be positive"),
        ({"num_hidden_layers": 36.5}, "num_hidden_layers must be a whole number"),
        (
            {"hybrid_override_pattern": "M*"},
            "hybrid_override_pattern must be a string of num_hidden_layers (36)",
        ),
    ],
)
def test_bad_fields_are_named(change: dict[str, Any], message: str) -> None:
    cfg = {k: v for k, v in (_cfg("gpt-oss-120b") | change).items() if v is not None}
    with pytest.raises(HFConfigError) as info:
        ModelShape.from_hf_config(cfg)
    assert message in str(info.value)


def test_unreadable_sources(tmp_path: Path) -> None:
    with pytest.raises(HFConfigError, match=r"no config\.json in directory"):
        ModelShape.from_hf_config(tmp_path)
    with pytest.raises(HFConfigError, match=r"config file not found"):
        ModelShape.from_hf_config(tmp_path / "missing.json")
    bad = tmp_path / "config.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(HFConfigError, match="is not valid JSON"):
        ModelShape.from_hf_config(tmp_path)
    bad.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(HFConfigError, match="must hold a JSON object"):
        ModelShape.from_hf_config(bad)
    assert isinstance(HFConfigError("x"), ValueError)


def test_config_shape_feeds_feasibility() -> None:
    shape = ModelShape.from_hf_config(CONFIGS / "gpt-oss-120b")
    r = feasibility(shape, dtype="mxfp4", ctx=131072)
    assert r.kv_cache_bytes == 4_836_556_800
    assert r.verdict == "fits"


@settings(max_examples=150, deadline=None)
@given(
    kinds=st.lists(
        st.sampled_from(["full_attention", "sliding_attention", "mamba"]), min_size=1, max_size=64
    ),
    window=st.integers(1, 8192),
    kv_heads=st.sampled_from([1, 2, 4, 8]),
    head_dim=st.sampled_from([64, 128, 256]),
    ctx=st.integers(1, 1 << 18),
)
def test_layer_types_round_trip(
    kinds: list[str], window: int, kv_heads: int, head_dim: int, ctx: int
) -> None:
    cfg = {
        "num_hidden_layers": len(kinds),
        "num_attention_heads": kv_heads * 4,
        "num_key_value_heads": kv_heads,
        "head_dim": head_dim,
        "layer_types": kinds,
        "sliding_window": window,
    }
    if all(k == "mamba" for k in kinds):
        with pytest.raises(HFConfigError, match="no layer keeps a KV cache"):
            ModelShape.from_hf_config(cfg, params_b=1.0)
        return
    m = ModelShape.from_hf_config(cfg, params_b=1.0)
    tokens = sum(ctx if k == "full_attention" else min(ctx, window) for k in kinds if k != "mamba")
    assert m.kv_cache_bytes(ctx=ctx, batch=1, dtype="bf16") == tokens * 2 * kv_heads * head_dim * 2


def test_explicit_layer_types_are_the_whole_layout() -> None:
    # sliding_window set but every listed layer is full attention: nothing is windowed
    # (found by the round-trip property: the Mistral rule used to window every layer).
    cfg = {
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 1,
        "head_dim": 64,
        "layer_types": ["full_attention"] * 2,
        "sliding_window": 1,
    }
    m = ModelShape.from_hf_config(cfg, params_b=1.0)
    assert (m.sliding_window, m.windowed_layers) == (None, 0)
