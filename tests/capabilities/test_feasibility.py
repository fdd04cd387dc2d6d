"""Feasibility reports: 0.3.0's reference numbers and lines, envelope by dtype, overhead,
verdicts, MoE/MLA accounting and the decode bound."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldkit.capabilities import (
    OVERHEAD_FRACTION,
    TIGHT_HEADROOM_FRACTION,
    UnknownDtype,
    UnknownHardware,
    UnknownModel,
    Verdict,
    envelope_key,
    feasibility,
    get_hardware,
    get_model,
    hardware_profiles,
    model_shapes,
    practical_inference_envelope,
    render_feasibility,
)

GB = 10**9

REFERENCE_70B_FP8 = [
    "model:           llama-3.1-70b",
    "hardware:        NVIDIA DGX Spark (GB10 Grace Blackwell) — 128 GB unified",
    "weights (fp8):       70.0 GB",
    "KV cache (fp8):      21.5 GB  (ctx=4096, batch=32)",
    "weights + KV:       91.5 GB",
    "envelope rule:   ~70 GB weights; leaves ~50 GB for KV + activations + system; "
    "tight but possible",
]


def test_reference_report_numbers() -> None:
    r = feasibility("llama-3.1-70b", ctx=4096, batch=32, dtype="fp8")
    assert r.weights_bytes == 70 * GB
    assert r.kv_cache_bytes == 21_474_836_480
    assert r.weights_plus_kv_bytes == 91_474_836_480
    assert r.hardware.id == "dgx-spark"
    assert (r.dtype, r.kv_dtype, r.ctx, r.batch) == ("fp8", "fp8", 4096, 32)
    assert r.envelope_rule == practical_inference_envelope("70B params fp8")


def test_reference_lines_are_byte_exact() -> None:
    lines = render_feasibility(feasibility("llama-3.1-70b", ctx=4096, batch=32, dtype="fp8"))
    assert lines[:6] == REFERENCE_70B_FP8


def test_8b_defaults() -> None:
    r = feasibility("llama-3.1-8b")
    assert (r.ctx, r.batch, r.dtype) == (4096, 1, "fp16")
    assert r.weights_bytes == 16 * GB
    assert r.kv_cache_bytes == 536_870_912
    lines = render_feasibility(r)
    assert lines[2] == "weights (fp16):       16.0 GB"
    assert lines[3] == "KV cache (fp16):       0.5 GB  (ctx=4096, batch=1)"
    assert lines[4] == "weights + KV:       16.5 GB"
    assert lines[5] == "envelope rule:   " + practical_inference_envelope("8B params bf16")


def test_labels_echo_what_was_typed() -> None:
    r = feasibility("LLaMA-3.1-70B", dtype="FP8", ctx=4096, batch=32)
    lines = render_feasibility(r, model_label="LLaMA-3.1-70B", dtype_label="FP8")
    assert lines[0] == "model:           LLaMA-3.1-70B"
    assert lines[2] == "weights (FP8):       70.0 GB"
    assert lines[3] == "KV cache (FP8):      21.5 GB  (ctx=4096, batch=32)"


@pytest.mark.parametrize(
    ("model_id", "dtype", "key"),
    [
        ("llama-3.1-70b", "fp8", "70B params fp8"),
        ("llama-3.1-70b", "int8", "70B params fp8"),
        ("llama-3.1-70b", "bf16", "70B params bf16"),
        ("llama-3.1-70b", "fp16", "70B params bf16"),
        ("llama-3.1-70b", "int4", "70B params int4"),
        ("llama-3.1-70b", "nf4", "70B params int4"),
        ("llama-3.1-70b", "fp32", None),
        ("llama-3.1-8b", "fp16", "8B params bf16"),
        ("llama-3.1-8b", "fp8", None),
        ("llama-3.1-405b", "int4", "405B+ params"),
        ("deepseek-v3", "fp8", "405B+ params"),
        ("100b-bf16", "bf16", None),
        ("mistral-7b", "bf16", None),
    ],
)
def test_envelope_follows_the_requested_dtype(model_id: str, dtype: str, key: str | None) -> None:
    assert envelope_key(get_model(model_id), dtype) == key
    rule = feasibility(model_id, dtype=dtype).envelope_rule
    assert rule == (None if key is None else practical_inference_envelope(key))


def test_envelope_rule_only_on_spark() -> None:
    assert feasibility("llama-3.1-70b", dtype="fp8", hardware="h100").envelope_rule is None
    lines = render_feasibility(feasibility("llama-3.1-70b", dtype="fp8", hardware="h100"))
    assert not any(line.startswith("envelope rule:") for line in lines)
    assert lines[1] == "hardware:        NVIDIA H100 80GB SXM — 80 GB HBM3"


def test_kv_dtype_is_independent_of_weight_dtype() -> None:
    both = feasibility("llama-3.1-70b", dtype="bf16", ctx=8192, batch=4)
    mixed = feasibility("llama-3.1-70b", dtype="bf16", kv_dtype="fp8", ctx=8192, batch=4)
    assert mixed.weights_bytes == both.weights_bytes == 140 * GB
    assert mixed.kv_cache_bytes * 2 == both.kv_cache_bytes
    assert mixed.kv_dtype == "fp8"
    lines = render_feasibility(mixed, dtype_label="BF16", kv_dtype_label="FP8")
    assert lines[2].startswith("weights (BF16):")
    assert lines[3].startswith("KV cache (FP8):")
    lines = render_feasibility(mixed, dtype_label="BF16")
    assert lines[3].startswith("KV cache (fp8):")
    lines = render_feasibility(both, dtype_label="BF16")
    assert lines[3].startswith("KV cache (BF16):")


def test_overhead_total_headroom_are_exact() -> None:
    r = feasibility("llama-3.1-70b", ctx=4096, batch=32, dtype="fp8")
    spark = get_hardware("dgx-spark")
    expected_overhead = 8 * GB + Fraction(91_474_836_480) / 10
    assert r.overhead_bytes == int(expected_overhead) == 17_147_483_648
    assert r.total_bytes == 91_474_836_480 + 17_147_483_648
    assert r.headroom_bytes == spark.memory_bytes - r.total_bytes == 19_377_679_872
    assert r.verdict is Verdict.FITS
    assert "8 GB reserved" in r.overhead_rule and "10%" in r.overhead_rule


def test_verdicts() -> None:
    assert feasibility("llama-3.1-8b").verdict is Verdict.FITS
    assert feasibility("llama-3.1-70b", dtype="bf16").verdict is Verdict.DOES_NOT_FIT
    tight = feasibility("llama-3.1-70b", dtype="fp8", hardware="h100")
    assert tight.verdict is Verdict.TIGHT
    assert 0 <= tight.headroom_bytes < 8 * GB
    assert feasibility("llama-3.1-405b", dtype="int4").verdict is Verdict.DOES_NOT_FIT
    assert str(Verdict.DOES_NOT_FIT) == "does not fit"


@settings(max_examples=150, deadline=None)
@given(
    model_id=st.sampled_from(sorted(model_shapes())),
    hw_id=st.sampled_from(sorted(hardware_profiles())),
    dtype=st.sampled_from(["bf16", "fp8", "int4", "fp32"]),
    ctx=st.integers(1, 1 << 18),
    batch=st.integers(1, 256),
)
def test_verdict_matches_headroom(
    model_id: str, hw_id: str, dtype: str, ctx: int, batch: int
) -> None:
    r = feasibility(model_id, hardware=hw_id, dtype=dtype, ctx=ctx, batch=batch)
    capacity = r.hardware.memory_bytes
    assert r.total_bytes == r.weights_bytes + r.kv_cache_bytes + r.overhead_bytes
    assert r.overhead_bytes >= r.hardware.reserved_bytes + (
        r.weights_plus_kv_bytes * OVERHEAD_FRACTION
    )
    assert r.overhead_bytes < r.hardware.reserved_bytes + (
        r.weights_plus_kv_bytes * OVERHEAD_FRACTION + 1
    )
    if r.total_bytes > capacity:
        assert r.verdict is Verdict.DOES_NOT_FIT
    elif capacity - r.total_bytes < capacity * TIGHT_HEADROOM_FRACTION:
        assert r.verdict is Verdict.TIGHT
    else:
        assert r.verdict is Verdict.FITS
    # a longer context never makes it fit better
    longer = feasibility(model_id, hardware=hw_id, dtype=dtype, ctx=ctx + 1, batch=batch)
    assert longer.total_bytes > r.total_bytes
    assert longer.decode_steps_per_s_bound < r.decode_steps_per_s_bound


def test_moe_counts_all_experts_resident_but_reads_active() -> None:
    r = feasibility("mixtral-8x7b", dtype="bf16", ctx=4096, batch=1)
    assert r.weights_bytes == 93_400_000_000
    assert r.active_weights_bytes == 25_800_000_000
    assert r.bytes_read_per_step == 25_800_000_000 + r.kv_cache_bytes
    lines = render_feasibility(r)
    assert any(
        line.startswith("active weights:") and "MoE: 12.9B of 46.7B" in line for line in lines
    )


def test_mla_kv_is_small() -> None:
    ds = feasibility("deepseek-v3", dtype="fp8", ctx=32768, batch=8, hardware="b200")
    assert ds.kv_cache_bytes == 61 * 576 * 32768 * 8
    llama = feasibility("llama-3.1-405b", dtype="fp8", ctx=32768, batch=8, hardware="b200")
    assert ds.kv_cache_bytes < llama.kv_cache_bytes / 7


def test_decode_bound() -> None:
    r = feasibility("llama-3.1-8b", dtype="bf16", ctx=4096, batch=4)
    bytes_per_step = 16 * GB + r.kv_cache_bytes
    assert r.bytes_read_per_step == bytes_per_step
    assert r.decode_steps_per_s_bound == pytest.approx(273 * GB / bytes_per_step)
    assert r.decode_tokens_per_s_bound == pytest.approx(4 * 273 * GB / bytes_per_step)
    line = render_feasibility(r)[-1]
    assert line.startswith("decode bound:    <= ")
    assert "upper bound" in line and "not a measurement" in line
    # more bandwidth, higher bound
    h200 = feasibility("llama-3.1-8b", dtype="bf16", ctx=4096, batch=4, hardware="h200")
    assert h200.decode_steps_per_s_bound == pytest.approx(r.decode_steps_per_s_bound * 4800 / 273)


def test_native_dtype_notes() -> None:
    r = feasibility("llama-3.1-8b", dtype="fp8", hardware="a100")
    assert not r.dtype_native and not r.kv_dtype_native
    notes = [line for line in render_feasibility(r) if line.startswith("note:")]
    assert len(notes) == 1 and "fp8 has no native math on NVIDIA A100 80GB SXM" in notes[0]
    w4 = feasibility("llama-3.1-8b", dtype="int4", kv_dtype="fp16", hardware="h100")
    assert w4.dtype_native  # weight-only 4-bit runs anywhere
    assert not any(line.startswith("note:") for line in render_feasibility(w4))


def test_extra_lines_are_ascii_and_follow_the_0_3_0_lines() -> None:
    lines = render_feasibility(feasibility("llama-3.1-70b", ctx=4096, batch=32, dtype="fp8"))
    assert [line.split(":")[0] for line in lines[6:]] == [
        "overhead",
        "total",
        "headroom",
        "verdict",
        "decode bound",
    ]
    for line in lines[6:]:
        assert line.isascii()
        assert line[:17].rstrip().endswith(":") and line[16] == " "
    assert lines[9] == "verdict:         fits"
    assert lines[7] == "total:             108.6 GB  of 128 GB"
    assert lines[8] == "headroom:           19.4 GB  (15% of memory free)"
    over = render_feasibility(feasibility("llama-3.1-405b", dtype="bf16"))
    assert "(over capacity)" in next(x for x in over if x.startswith("headroom:"))


def test_to_dict_is_json_and_consistent() -> None:
    r = feasibility("llama-3.1-70b", ctx=4096, batch=32, dtype="fp8")
    d = json.loads(json.dumps(r.to_dict()))
    assert d["weights_bytes"] == 70 * GB
    assert d["kv_cache_bytes"] == 21_474_836_480
    assert round(d["weights_gb"], 1) == 70.0
    assert round(d["kv_cache_gb"], 1) == 21.5
    assert d["total_bytes"] == r.total_bytes
    assert d["verdict"] == "fits"
    assert d["decode_bound"]["kind"] == "upper bound"
    assert d["envelope_rule"] == r.envelope_rule


def test_errors() -> None:
    with pytest.raises(UnknownModel):
        feasibility("nope-9000")
    with pytest.raises(UnknownHardware):
        feasibility("llama-3.1-8b", hardware="tpu")
    with pytest.raises(UnknownDtype):
        feasibility("llama-3.1-8b", dtype="fp17")
    with pytest.raises(UnknownDtype):
        feasibility("llama-3.1-8b", kv_dtype="fp17")
    with pytest.raises(ValueError, match="ctx"):
        feasibility("llama-3.1-8b", ctx=0)
    with pytest.raises(ValueError, match="batch"):
        feasibility("llama-3.1-8b", batch=-1)


def test_context_window_note() -> None:
    within = feasibility("mistral-7b", ctx=32768)
    assert not within.exceeds_max_context
    beyond = feasibility("mistral-7b", ctx=32769)
    assert beyond.exceeds_max_context
    assert beyond.to_dict()["exceeds_max_context"] is True
    notes = [line for line in render_feasibility(beyond) if line.startswith("note:")]
    assert notes == ["note:            ctx=32769 exceeds mistral-7b's 32768-token context window"]
    # unknown window (0.3.0's hypothetical 100B shape): never flagged
    assert not feasibility("100b-bf16", ctx=1 << 20, dtype="int4").exceeds_max_context


def test_envelope_rule_follows_a_replaced_document() -> None:
    """The rule lookup is memoised per loaded document: a new document is read afresh."""
    from fieldkit.capabilities import Capabilities

    def thaw(value: object) -> object:
        if isinstance(value, dict):
            return {k: thaw(v) for k, v in value.items()}
        if isinstance(value, tuple):
            return [thaw(v) for v in value]
        return value

    before = feasibility("llama-3.1-70b", dtype="fp8").envelope_rule
    assert before is not None and before.startswith("~70 GB weights")
    data = thaw(Capabilities.load().raw)
    assert isinstance(data, dict)
    data["memory_budget_rules_of_thumb"]["practical_inference_envelope"]["70B params fp8"] = "new"
    try:
        Capabilities._instance = Capabilities.from_dict(data)
        assert feasibility("llama-3.1-70b", dtype="fp8").envelope_rule == "new"
    finally:
        Capabilities.load(refresh=True)
    assert feasibility("llama-3.1-70b", dtype="fp8").envelope_rule == before


def test_nvfp4_weights_keep_a_16_bit_cache_and_the_bound_names_its_context() -> None:
    r = feasibility("llama-3.1-70b", dtype="nvfp4", ctx=131072)
    # 80 layers x 2 (K, V) x 8 heads x 128 dims x 2 B x 131072 tokens
    assert (r.kv_dtype, r.kv_cache_bytes) == ("bf16", 42_949_672_960)
    assert feasibility("llama-3.1-70b", dtype="mxfp4", ctx=131072).kv_dtype == "bf16"
    lines = render_feasibility(r)
    assert lines[3].startswith("KV cache (bf16):")
    assert any("runtimes keep a 16-bit cache with nvfp4 weights" in line for line in lines)
    assert "with all 131072 tokens of context in the KV cache" in lines[-1]
    short = 273 * GB / r.active_weights_bytes
    assert f"<= {short:.1f} tok/s per sequence at a short context" in lines[-1]
    assert r.to_dict()["decode_bound"]["context_assumed"] == 131072  # type: ignore[index]
