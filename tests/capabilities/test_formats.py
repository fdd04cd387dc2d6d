"""Storage formats: exact bits per value with block-scale overhead, KV-cache validity, and the
published llama.cpp sizes they reproduce."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldkit.capabilities import (
    DTYPE_BYTES,
    FORMATS,
    KV_FORMATS,
    InvalidKVDtype,
    ModelShape,
    UnknownDtype,
    feasibility,
    get_model,
    kv_cache_bytes,
    kv_storage_format,
    storage_format,
    weight_bytes,
)

GIB = 1 << 30
MIB = 1 << 20
CONFIGS = "tests/capabilities/hf_configs"


@pytest.mark.parametrize(
    ("name", "bits", "why"),
    [
        # NVFP4: 16 E2M1 values share one E4M3 scale → 4 + 8/16 bits.
        ("nvfp4", Fraction(9, 2), "4 + 8/16"),
        ("fp4", Fraction(9, 2), "alias of nvfp4"),
        # OCP MXFP4: 32 E2M1 values share one E8M0 exponent → 4 + 8/32 bits.
        ("mxfp4", Fraction(17, 4), "4 + 8/32"),
        # GPTQ/AWQ group 128: fp16 scale + packed 4-bit zero-point per group → 4 + 20/128.
        ("int4-g128", Fraction(133, 32), "4 + (16 + 4)/128"),
        ("gptq", Fraction(133, 32), "alias"),
        # GGUF block layouts (ggml-common.h): Q8_0 = 32 x int8 + fp16 d = 34 bytes / 32 values;
        # Q4_0 = 16 bytes of nibbles + fp16 d = 18 bytes / 32; Q6_K = 210 bytes / 256.
        ("q8_0", Fraction(17, 2), "34 B / 32"),
        ("q4_0", Fraction(9, 2), "18 B / 32"),
        ("q6_k", Fraction(105, 16), "210 B / 256"),
        # Q4_K_M / Q5_K_M are per-tensor mixes; bits/weight as llama.cpp's
        # tools/quantize/README.md reports them for Llama-3.1-8B.
        ("q4_k_m", Fraction("4.8944"), "llama.cpp README"),
        ("Q5_K_M", Fraction("5.7036"), "llama.cpp README"),
        ("fp8", Fraction(8), "plain"),
        ("bf16", Fraction(16), "plain"),
        ("fp16", Fraction(16), "plain"),
        ("int8", Fraction(8), "plain"),
    ],
)
def test_bits_per_value_include_the_scales(name: str, bits: Fraction, why: str) -> None:
    assert storage_format(name).bits_per_value == bits, why


def test_0_3_0_dtypes_keep_their_widths() -> None:
    for name, nbytes in DTYPE_BYTES.items():
        assert storage_format(name).bits_per_value == Fraction(nbytes) * 8
    assert list(DTYPE_BYTES) == ["fp32", "bf16", "fp16", "fp8", "int8", "int4", "nf4"]


def test_0_3_0_helpers_still_refuse_new_formats_with_0_3_0_message() -> None:
    with pytest.raises(UnknownDtype) as info:
        weight_bytes(params_b=1, dtype="mxfp4")
    assert str(info.value) == (
        "unknown dtype 'mxfp4'; known: ['bf16', 'fp16', 'fp32', 'fp8', 'int4', 'int8', 'nf4']"
    )
    assert kv_cache_bytes(hidden=1024, n_layers=80, ctx=16384, batch=32, dtype="nf4") > 0


def test_llama_3_1_8b_quantised_sizes_match_llama_cpp_readme() -> None:
    # Source: llama.cpp tools/quantize/README.md, meta-llama/Llama-3.1-8B table:
    # Q4_K_M 4.58 GiB, Q5_K_M 5.33 GiB, Q6_K 6.14 GiB, Q8_0 7.95 GiB. The files keep norms in
    # f32, so pure Q6_K/Q8_0 blocks (6.5625 / 8.5 bits) land within 0.01 GiB of them.
    shape = ModelShape.from_hf_config(f"{CONFIGS}/llama-3.1-8b")
    assert shape.params_b * 1e9 == 8_030_261_248  # 8.03B, from the shipped config
    for dtype, gib in (("q4_k_m", 4.58), ("q5_k_m", 5.33), ("q6_k", 6.14), ("q8_0", 7.95)):
        assert abs(shape.weight_bytes(dtype) / GIB - gib) <= 0.01, dtype


def test_llama_cpp_kv_buffer_for_llama_3_8b_at_8192() -> None:
    # llama.cpp logs "KV self size = 1024.00 MiB, K (f16): 512.00 MiB, V (f16): 512.00 MiB"
    # for Llama 3 8B with -c 8192; with --cache-type-k/v q8_0 each half is 272.00 MiB.
    m = get_model("llama-3.1-8b")
    assert m.kv_cache_bytes(ctx=8192, batch=1, dtype="fp16") == 1024 * MIB
    assert m.kv_cache_bytes(ctx=8192, batch=1, dtype="q8_0") == 2 * 272 * MIB
    assert m.kv_cache_bytes(ctx=8192, batch=1, dtype="q4_0") == 2 * 144 * MIB


def test_weight_bytes_for_block_formats_are_exact() -> None:
    assert get_model("gpt-oss-120b").weight_bytes("mxfp4") == 62_065_937_500  # 116.83e9 x 4.25 / 8
    assert get_model("llama-3.3-70b").weight_bytes("nvfp4") == 39_712_500_000  # 70.6e9 x 4.5 / 8
    assert get_model("qwen3-32b").weight_bytes("int4-g128") == 17_040_625_000  # x 4.15625 / 8
    assert get_model("llama-3.1-8b").weight_bytes("Q4_K_M") == 4_894_400_000  # 8e9 x 4.8944 / 8


def test_kv_dtypes_and_weight_only_formats() -> None:
    assert KV_FORMATS == ("fp32", "bf16", "fp16", "fp8", "int8", "int4", "nvfp4", "q8_0", "q4_0")
    for name in ("nf4", "mxfp4", "int4-g128", "q4_k_m", "q5_k_m", "q6_k"):
        with pytest.raises(InvalidKVDtype) as info:
            kv_storage_format(name)
        assert str(info.value) == (
            f"{name} is not a KV-cache dtype (no common runtime stores a KV cache in it); "
            f"valid KV dtypes: {list(KV_FORMATS)}"
        )
        assert isinstance(info.value, UnknownDtype | KeyError)
    with pytest.raises(InvalidKVDtype):
        get_model("qwen3-8b").kv_cache_bytes(ctx=10, batch=1, dtype="nf4")
    with pytest.raises(InvalidKVDtype):
        feasibility("qwen3-8b", kv_dtype="MXFP4")


def test_weight_only_dtype_keeps_kv_at_the_runtime_default() -> None:
    r = feasibility("qwen3-8b", dtype="nf4", ctx=32768)
    assert (r.dtype, r.kv_dtype, r.kv_dtype_defaulted) == ("nf4", "bf16", True)
    assert r.kv_cache_bytes == 4_831_838_208  # 36 x 2 x 8 x 128 x 2 B x 32768
    gguf = feasibility("qwen3-8b", dtype="q4_k_m", ctx=32768)
    assert gguf.kv_dtype == "fp16" and gguf.kv_dtype_defaulted  # llama.cpp's default f16 cache
    same = feasibility("qwen3-8b", dtype="fp8", ctx=32768)
    assert same.kv_dtype == "fp8" and not same.kv_dtype_defaulted  # 0.3.0: KV follows dtype
    for four_bit in ("int4", "nvfp4", "q4_0"):  # 4-bit weights: a 16-bit cache, as runtimes do
        r4 = feasibility("qwen3-8b", dtype=four_bit)
        assert r4.kv_dtype in ("fp16", "bf16") and r4.kv_dtype_defaulted, four_bit
    assert feasibility("qwen3-8b", dtype="nvfp4", kv_dtype="fp4").kv_dtype == "nvfp4"


def test_unknown_format_lists_canonical_names() -> None:
    with pytest.raises(UnknownDtype) as info:
        storage_format("fp7")
    assert str(info.value) == f"unknown dtype 'fp7'; known: {sorted(FORMATS)}"
    with pytest.raises(UnknownDtype):
        storage_format(4)  # type: ignore[arg-type]


def test_fp4_formats_are_native_where_fp4_is() -> None:
    r = feasibility("gpt-oss-20b", dtype="mxfp4", hardware="dgx-spark")
    assert r.dtype_native
    assert not feasibility("gpt-oss-20b", dtype="nvfp4", hardware="h100").dtype_native
    assert feasibility("gpt-oss-20b", dtype="q4_k_m", hardware="h100").dtype_native  # dequantised


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(sorted(FORMATS)),
    count=st.integers(0, 10**15),
    case=st.sampled_from([str.lower, str.upper, lambda s: f"  {s} "]),
)
def test_bytes_are_exact_ceilings_and_names_resolve_any_case(
    name: str, count: int, case: object
) -> None:
    fmt = storage_format(case(name))  # type: ignore[operator]
    assert fmt is FORMATS[name]
    exact = count * fmt.bits_per_value / 8
    assert fmt.bytes_for(count) - 1 < exact <= fmt.bytes_for(count)
    assert fmt.bytes_for(count) <= fmt.bytes_for(count + 1)


@settings(max_examples=100, deadline=None)
@given(params=st.floats(0.1, 1000), dtype=st.sampled_from(["nvfp4", "mxfp4", "int4-g128", "q4_0"]))
def test_block_scales_cost_more_than_bare_4_bit(params: float, dtype: str) -> None:
    shape = ModelShape(
        id="x",
        name="x",
        params_b=params,
        n_layers=1,
        attention="mha",
        n_heads=1,
        n_kv_heads=1,
        head_dim=1,
    )
    assert shape.weight_bytes("int4") <= shape.weight_bytes(dtype) <= shape.weight_bytes("fp8")


def test_feasibility_refuses_non_string_dtypes_cleanly() -> None:
    for bad in ({"kv_dtype": ["fp8"]}, {"dtype": ["fp8"]}, {"dtype": 8}):
        with pytest.raises(UnknownDtype):
            feasibility("qwen3-8b", **bad)  # type: ignore[arg-type]
    # memoised spellings give the same report as fresh ones
    first = feasibility("qwen3-8b", dtype=" MXFP4 ", kv_dtype="FP8")
    again = feasibility("qwen3-8b", dtype=" MXFP4 ", kv_dtype="FP8")
    assert first == again and (first.dtype, first.kv_dtype) == ("mxfp4", "fp8")
