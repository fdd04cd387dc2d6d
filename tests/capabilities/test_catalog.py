"""Hardware profiles and model shapes: the catalog's facts, lookups and shape invariants."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fieldkit.capabilities import (
    DEFAULT_HARDWARE,
    DTYPE_BYTES,
    KV_FORMATS,
    Capabilities,
    HardwareProfile,
    ModelShape,
    UnknownHardware,
    UnknownModel,
    get_hardware,
    get_model,
    hardware_profiles,
    kv_cache_bytes,
    model_shapes,
)
from tests.capabilities._concurrency import call_concurrently

GB = 10**9

HARDWARE_FACTS = {
    # id: (memory GB, bandwidth GB/s, unified)
    "dgx-spark": (128, 273, True),
    "h100-80gb-sxm": (80, 3350, False),
    "h200-141gb": (141, 4800, False),
    "b200": (180, 8000, False),
    "a100-80gb-sxm": (80, 2039, False),
    "l40s": (48, 864, False),
    "rtx-4090": (24, 1008, False),
    "rtx-5090": (32, 1792, False),
    "jetson-agx-thor": (128, 273, True),
}

REQUIRED_MODELS = {
    "llama-3.1-8b",
    "llama-3.1-70b",
    "llama-3.1-405b",
    "100b-bf16",
    "qwen2.5-7b",
    "qwen2.5-72b",
    "mistral-7b",
    "mixtral-8x7b",
    "nemotron-super-49b",
    "deepseek-v3",
}


def test_hardware_catalog_facts() -> None:
    profiles = hardware_profiles()
    assert set(profiles) >= set(HARDWARE_FACTS)
    assert next(iter(profiles)) == DEFAULT_HARDWARE == "dgx-spark"
    for hw_id, (memory, bandwidth, unified) in HARDWARE_FACTS.items():
        p = profiles[hw_id]
        assert (p.memory_gb, p.memory_bandwidth_gb_s, p.unified_memory) == (
            memory,
            bandwidth,
            unified,
        )
        assert p.memory_bytes == memory * GB
        assert p.bandwidth_bytes_per_s == bandwidth * GB
        assert set(p.dtypes) <= set(DTYPE_BYTES) | {"fp4"}
        assert "bf16" in p.dtypes and "fp16" in p.dtypes
        assert 0 < p.reserved_bytes < p.memory_bytes
    assert "fp8" not in profiles["a100-80gb-sxm"].dtypes
    assert "fp8" in profiles["h100-80gb-sxm"].dtypes
    assert "fp4" in profiles["b200"].dtypes


def test_spark_profile_agrees_with_the_capabilities_document() -> None:
    spark = get_hardware()
    hw = Capabilities.load().hardware
    assert spark.name == hw.name
    assert spark.memory_gb == hw.unified_memory_gb
    assert spark.memory_label == "unified"
    assert set(hw.supported_dtypes) - {"int4"} <= set(spark.dtypes)
    # one fact, one value: GB10 is compute capability 12.1 (0.3.0's document said SM_100, B200's)
    assert spark.compute_arch == hw.compute_arch == "Blackwell GB10 (SM_121)"


def test_hardware_lookup_by_alias_and_case() -> None:
    assert get_hardware("H100").id == "h100-80gb-sxm"
    assert get_hardware("  Spark ").id == "dgx-spark"
    assert get_hardware("thor").id == "jetson-agx-thor"
    p = get_hardware("b200")
    assert get_hardware(p) is p


def test_unknown_hardware_lists_known_ids() -> None:
    with pytest.raises(UnknownHardware) as info:
        get_hardware("tpu-v5")
    assert isinstance(info.value, KeyError)
    assert str(info.value) == f"unknown hardware 'tpu-v5'; known: {sorted(hardware_profiles())}"
    with pytest.raises(UnknownHardware):
        get_hardware(None)  # type: ignore[arg-type]


def test_hardware_profile_validation() -> None:
    spark = get_hardware()
    with pytest.raises(ValueError):
        replace(spark, memory_gb=0)
    with pytest.raises(ValueError):
        replace(spark, reserved_gb=200.0)
    with pytest.raises(TypeError):
        replace(spark, memory_bandwidth_gb_s="fast")  # type: ignore[arg-type]


def test_hardware_round_trips_through_dict() -> None:
    for p in hardware_profiles().values():
        assert HardwareProfile.from_dict(p.to_dict()) == p


def test_model_catalog_has_the_required_shapes() -> None:
    shapes = model_shapes()
    assert set(shapes) >= REQUIRED_MODELS


@pytest.mark.parametrize(
    ("model_id", "params_b", "kv_hidden", "n_layers"),
    [
        ("llama-3.1-8b", 8.0, 1024, 32),
        ("llama-3.1-70b", 70.0, 1024, 80),
        ("100b-bf16", 100.0, 1024, 96),
    ],
)
def test_0_3_0_catalog_numbers(
    model_id: str, params_b: float, kv_hidden: int, n_layers: int
) -> None:
    m = get_model(model_id)
    assert (m.params_b, m.kv_hidden, m.n_layers, m.cache_layers) == (
        params_b,
        kv_hidden,
        n_layers,
        n_layers,
    )
    assert not m.is_moe
    for ctx, batch, dtype in ((4096, 1, "fp16"), (16384, 32, "fp8"), (77, 3, "int4")):
        assert m.kv_cache_bytes(ctx=ctx, batch=batch, dtype=dtype) == kv_cache_bytes(
            hidden=kv_hidden, n_layers=n_layers, ctx=ctx, batch=batch, dtype=dtype
        )


def test_gqa_mla_and_moe_shapes() -> None:
    llama70 = get_model("llama-3.1-70b")
    assert llama70.kv_elements_per_token_per_layer == 2 * 8 * 128
    assert llama70.mha_kv_elements_per_token_per_layer == 2 * 64 * 128  # GQA saves 8x
    qwen7 = get_model("qwen2.5-7b")
    assert qwen7.kv_elements_per_token_per_layer == 2 * 4 * 128
    ds = get_model("deepseek-v3")
    assert ds.attention == "mla"
    assert ds.kv_elements_per_token_per_layer == 512 + 64
    # DeepSeek-V3, 61 layers, fp16: 576 elements x 2 bytes x 61 layers per token
    assert ds.kv_cache_bytes(ctx=1, batch=1, dtype="fp16") == 576 * 2 * 61
    assert ds.kv_cache_bytes(ctx=1, batch=1, dtype="fp16") < (
        ds.mha_kv_elements_per_token_per_layer * 2 * 61
    )
    mixtral = get_model("mixtral-8x7b")
    assert mixtral.is_moe and ds.is_moe
    assert (llama70.max_context, mixtral.max_context, ds.max_context) == (131072, 32768, 163840)
    assert mixtral.effective_active_params_b == 12.9
    assert mixtral.weight_bytes("bf16") == 93_400_000_000
    assert mixtral.active_weight_bytes("bf16") == 25_800_000_000
    assert ds.weight_bytes("fp8") == 671 * GB
    assert ds.active_weight_bytes("fp8") == 37 * GB


def test_every_catalog_moe_reads_no_more_than_it_stores() -> None:
    for m in model_shapes().values():
        for dtype in DTYPE_BYTES:
            assert m.active_weight_bytes(dtype) <= m.weight_bytes(dtype)
        assert m.cache_layers <= m.n_layers


def test_model_lookup_by_alias_and_case() -> None:
    assert get_model("META/LLAMA-3.1-70B-INSTRUCT").id == "llama-3.1-70b"
    assert get_model(" Llama-3.1-8B ").id == "llama-3.1-8b"
    m = get_model("deepseek-v3")
    assert get_model(m) is m


def test_unknown_model_message_is_0_3_0s_format() -> None:
    with pytest.raises(UnknownModel) as info:
        get_model("nope-9000")
    assert isinstance(info.value, KeyError)
    assert str(info.value) == f"unknown model id 'nope-9000'; known: {sorted(model_shapes())}"
    assert sorted(model_shapes())[:3] == ["100b-bf16", "deepseek-v3", "gemma-3-27b"]


def test_model_round_trips_through_dict_fields() -> None:
    for m in model_shapes().values():
        d = m.to_dict()
        assert d["kv_bytes_per_token_fp16"] == m.kv_cache_bytes(ctx=1, batch=1, dtype="fp16")
        assert d["active_params_b"] <= d["params_b"]


def _shape(**kw: object) -> ModelShape:
    base: dict[str, object] = {
        "id": "t",
        "name": "t",
        "params_b": 10.0,
        "n_layers": 4,
        "attention": "gqa",
        "n_heads": 8,
        "n_kv_heads": 2,
        "head_dim": 64,
    }
    return ModelShape(**(base | kw))  # type: ignore[arg-type]


def test_model_shape_validation() -> None:
    with pytest.raises(ValueError, match="active_params_b"):
        _shape(active_params_b=11.0)
    with pytest.raises(ValueError, match="divide"):
        _shape(n_kv_heads=3)
    with pytest.raises(ValueError, match="MHA"):
        _shape(attention="mha")
    with pytest.raises(ValueError):
        _shape(attention="mla")  # no latent rank
    with pytest.raises(ValueError):
        _shape(attention="linear")
    with pytest.raises(ValueError):
        _shape(kv_layers=5)
    with pytest.raises(ValueError):
        _shape(max_context=0)
    with pytest.raises(ValueError):
        _shape(n_experts=8)
    with pytest.raises(ValueError):
        _shape(n_experts=2, experts_per_token=4)
    with pytest.raises(ValueError):
        _shape(params_b=0)
    with pytest.raises(ValueError, match="whole number"):
        _shape(n_layers=2.5)
    with pytest.raises(TypeError):
        _shape(n_layers="4")


@settings(max_examples=150, deadline=None)
@given(
    total=st.floats(0.1, 2000, allow_nan=False),
    share=st.floats(0.0, 1.0),
    dtype=st.sampled_from(sorted(DTYPE_BYTES)),
)
def test_moe_active_never_exceeds_total(total: float, share: float, dtype: str) -> None:
    active = total * share
    assume(active > 0)
    m = _shape(params_b=total, active_params_b=active)
    assert m.active_weight_bytes(dtype) <= m.weight_bytes(dtype)
    assert m.effective_active_params_b <= m.params_b


@settings(max_examples=100, deadline=None)
@given(total=st.floats(0.1, 2000, allow_nan=False), extra=st.floats(0.01, 100))
def test_moe_active_above_total_is_rejected(total: float, extra: float) -> None:
    assume(total + extra > total)
    with pytest.raises(ValueError):
        _shape(params_b=total, active_params_b=total + extra)


@settings(max_examples=200, deadline=None)
@given(
    n_heads=st.integers(2, 256),
    head_dim=st.sampled_from([32, 64, 96, 128, 192, 256]),
    latent_share=st.floats(0.01, 1.0),
    rope_share=st.floats(0.0, 1.0),
    n_layers=st.integers(1, 128),
    ctx=st.integers(1, 1 << 18),
    batch=st.integers(1, 64),
    dtype=st.sampled_from(KV_FORMATS),
)
def test_mla_cache_is_smaller_than_the_equivalent_mha(
    n_heads: int,
    head_dim: int,
    latent_share: float,
    rope_share: float,
    n_layers: int,
    ctx: int,
    batch: int,
    dtype: str,
) -> None:
    # MLA compresses K and V of all heads into one latent no wider than the heads it replaces,
    # plus a decoupled RoPE key no wider than one head.
    rank = max(1, int(latent_share * n_heads * head_dim))
    rope = max(1, int(rope_share * head_dim))
    common = {"n_layers": n_layers, "n_heads": n_heads, "n_kv_heads": n_heads, "head_dim": head_dim}
    mla = _shape(attention="mla", kv_lora_rank=rank, qk_rope_head_dim=rope, **common)
    mha = _shape(attention="mha", **common)
    assert mla.kv_cache_bytes(ctx=ctx, batch=batch, dtype=dtype) < mha.kv_cache_bytes(
        ctx=ctx, batch=batch, dtype=dtype
    )


@settings(max_examples=100, deadline=None)
@given(
    group=st.sampled_from([1, 2, 4, 8, 16]),
    n_kv_heads=st.integers(1, 16),
    ctx=st.integers(1, 1 << 18),
    batch=st.integers(1, 64),
)
def test_gqa_cache_is_mha_divided_by_the_group_size(
    group: int, n_kv_heads: int, ctx: int, batch: int
) -> None:
    n_heads = group * n_kv_heads
    gqa = _shape(n_heads=n_heads, n_kv_heads=n_kv_heads)
    mha = _shape(attention="mha", n_heads=n_heads, n_kv_heads=n_heads)
    assert gqa.kv_cache_bytes(ctx=ctx, batch=batch, dtype="bf16") * group == mha.kv_cache_bytes(
        ctx=ctx, batch=batch, dtype="bf16"
    )


# Published config facts: (params_b, active_params_b, layers, heads, KV heads, head dim,
# max context). Sources: the models' config.json / model cards.
MODEL_FACTS = {
    "llama-3.1-8b": (8.0, 8.0, 32, 32, 8, 128, 131072),
    "llama-3.1-70b": (70.0, 70.0, 80, 64, 8, 128, 131072),
    "llama-3.1-405b": (405.0, 405.0, 126, 128, 8, 128, 131072),
    "qwen2.5-7b": (7.61, 7.61, 28, 28, 4, 128, 131072),
    "qwen2.5-72b": (72.7, 72.7, 80, 64, 8, 128, 131072),
    "mistral-7b": (7.25, 7.25, 32, 32, 8, 128, 32768),
    "mixtral-8x7b": (46.7, 12.9, 32, 32, 8, 128, 32768),
    "nemotron-super-49b": (49.9, 49.9, 80, 64, 8, 128, 131072),
    "deepseek-v3": (671.0, 37.0, 61, 128, 128, 128, 163840),
}


@pytest.mark.parametrize("model_id", sorted(MODEL_FACTS))
def test_model_catalog_facts(model_id: str) -> None:
    m = get_model(model_id)
    assert (
        m.params_b,
        m.effective_active_params_b,
        m.n_layers,
        m.n_heads,
        m.n_kv_heads,
        m.head_dim,
        m.max_context,
    ) == MODEL_FACTS[model_id]
    assert m.attention == ("mla" if model_id == "deepseek-v3" else "gqa")
    assert m.is_moe == (model_id in {"mixtral-8x7b", "deepseek-v3"})


def test_moe_and_mla_details() -> None:
    mixtral, ds = get_model("mixtral-8x7b"), get_model("deepseek-v3")
    assert (mixtral.n_experts, mixtral.experts_per_token) == (8, 2)
    assert (ds.n_experts, ds.experts_per_token) == (256, 8)
    assert (ds.kv_lora_rank, ds.qk_rope_head_dim) == (512, 64)


def test_whole_float_dimensions_are_stored_as_ints() -> None:
    m = _shape(n_layers=4.0, head_dim=64.0, kv_layers=2.0, max_context=4096.0)
    assert (m.n_layers, m.head_dim, m.kv_layers, m.max_context) == (4, 64, 2, 4096)
    assert all(type(v) is int for v in (m.n_layers, m.head_dim, m.kv_layers, m.max_context))
    kv = m.kv_cache_bytes(ctx=10, batch=3, dtype="fp16")
    assert type(kv) is int and kv == 2 * 2 * 2 * 64 * 10 * 3 * 2
    assert m == _shape(n_layers=4, head_dim=64, kv_layers=2, max_context=4096)
    assert replace(m, params_b=20.0).weight_bytes("bf16") == 40 * GB  # derived data follows


def test_a_name_used_twice_is_rejected() -> None:
    from fieldkit.capabilities._catalog import build_index

    a = _shape(id="a", aliases=("x",))
    with pytest.raises(ValueError, match="duplicate"):
        build_index([a, _shape(id="b", aliases=("X ",))], "model id")
    with pytest.raises(ValueError, match="duplicate"):
        build_index([a, _shape(id="A")], "model id")


def test_catalog_loads_once_under_concurrent_first_use() -> None:
    from fieldkit.capabilities._catalog import Catalog

    catalog: Catalog[HardwareProfile] = Catalog(
        "hardware.json", "profiles", HardwareProfile.from_dict, UnknownHardware, "hardware"
    )
    seen = call_concurrently(catalog.all)
    assert all(s is seen[0] for s in seen)
    assert catalog.all() == hardware_profiles()
    assert catalog.get(" H100 ") == get_hardware("h100-80gb-sxm")
    with pytest.raises(UnknownHardware):
        catalog.get("tpu")
