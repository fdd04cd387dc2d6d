"""Capabilities math: correctness and speed of ours vs a float re-implementation of 0.3.0's
formulas, measured in the same run, plus the cached ``Capabilities.load()`` vs re-parsing."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from fractions import Fraction
from importlib import resources

from benchmarks._table import Row
from fieldkit.capabilities import (
    DTYPE_BYTES,
    Capabilities,
    feasibility,
    hardware_profiles,
    kv_cache_bytes,
    model_shapes,
    weight_bytes,
)

DESCRIPTION = (
    "exact byte math vs 0.3.0-style float math (wrong results, calls/s); "
    "catalog x hardware x ctx feasibility sweep; cached Capabilities.load vs re-parse"
)

CTX_SWEEP = [1024, 4096, 8192, 32768, 131072]
BATCHES = [1, 8, 32]


def _rate(fn: Callable[[], int], seconds: float) -> float:
    """Calls per second of *fn* (which returns how many operations it did), best of 3 runs."""
    best = 0.0
    for _ in range(3):
        done = 0
        start = time.perf_counter()
        while True:
            done += fn()
            elapsed = time.perf_counter() - start
            if elapsed >= seconds / 3:
                break
        best = max(best, done / elapsed)
    return best


# -- the baseline: 0.3.0's float formulas, re-implemented here -------------------------------
def _float_weight_bytes(params_b: float, dtype: str) -> int:
    return int(params_b * 1e9 * DTYPE_BYTES[dtype.lower()])


def _float_kv_bytes(hidden: int, n_layers: int, ctx: int, batch: int, dtype: str) -> int:
    return int(2 * n_layers * hidden * ctx * batch * DTYPE_BYTES[dtype.lower()])


# 0.3.0's public functions as they behave (validation first, lower-cased dtype lookup, float
# multiply, int() truncation): the like-for-like per-call baseline.
def _v030_bytes_per(dtype: str) -> float:
    try:
        return DTYPE_BYTES[dtype.lower()]
    except KeyError as exc:
        raise KeyError(f"unknown dtype {dtype!r}") from exc


def _v030_weight_bytes(*, params_b: float, dtype: str) -> int:
    if params_b <= 0:
        raise ValueError("params_b must be positive (in billions)")
    return int(params_b * 1e9 * _v030_bytes_per(dtype))


def _v030_kv_cache_bytes(*, hidden: int, n_layers: int, ctx: int, batch: int, dtype: str) -> int:
    if hidden <= 0 or n_layers <= 0 or ctx <= 0 or batch <= 0:
        raise ValueError("hidden, n_layers, ctx, batch must all be positive")
    return int(2 * n_layers * hidden * ctx * batch * _v030_bytes_per(dtype))


def _wrong_weight_results(fn: Callable[[float, str], int]) -> int:
    wrong = 0
    for cents in range(1, 2000):
        for dtype, nbytes in DTYPE_BYTES.items():
            expected = Fraction(cents * 10**7) * Fraction(nbytes)
            if fn(cents / 100, dtype) != expected:
                wrong += 1
    return wrong


def _wrong_kv_results(fn: Callable[[int, int, int, int, str], int]) -> int:
    wrong = 0
    for hidden in (1024, 2048, 4096 + 7):
        for n_layers in (61, 80, 126):
            for ctx in (2**24 + 1, 10**7 + 1, 3**15):
                for batch in (1023, 4097, 65537):
                    exact = 2 * n_layers * hidden * ctx * batch * 2
                    if fn(hidden, n_layers, ctx, batch, "fp16") != exact:
                        wrong += 1
    return wrong


def _naive_feasibility_sweep() -> int:
    """The same sweep in floats: what a quick script would do."""
    n = 0
    for m in model_shapes().values():
        full = m.full_attention_layers * m.kv_elements_per_token_per_layer
        windowed = m.windowed_layers * m.kv_elements_per_token_per_layer
        window = m.sliding_window or 0
        for hw in hardware_profiles().values():
            for dtype in ("bf16", "fp8", "int4"):
                b = DTYPE_BYTES[dtype]
                for ctx in CTX_SWEEP:
                    for batch in BATCHES:
                        weights = m.params_b * 1e9 * b
                        kv = (full * ctx + windowed * min(ctx, window)) * batch * b
                        total = weights + kv + hw.reserved_gb * 1e9 + 0.1 * (weights + kv)
                        headroom = hw.memory_gb * 1e9 - total
                        _ = headroom / (hw.memory_gb * 1e9) >= 0.1
                        n += 1
    return n


def _v030_feasibility_sweep() -> int:
    """The same sweep through 0.3.0-style calls: catalog lookup by id, the two byte functions,
    then overhead and verdict in floats (what 0.3.0's CLI did per cell, plus the verdict)."""
    models = {m.id: m for m in model_shapes().values()}
    n = 0
    for model_id in models:
        for hw in hardware_profiles().values():
            for dtype in ("bf16", "fp8", "int4"):
                for ctx in CTX_SWEEP:
                    for batch in BATCHES:
                        m = models[model_id.strip().lower()]
                        hidden = m.kv_elements_per_token_per_layer // 2
                        weights = _v030_weight_bytes(params_b=m.params_b, dtype=dtype)
                        kv = _v030_kv_cache_bytes(
                            hidden=hidden,
                            n_layers=m.cache_layers,
                            ctx=ctx,
                            batch=batch,
                            dtype=dtype,
                        )
                        total = weights + kv + hw.reserved_gb * 1e9 + 0.1 * (weights + kv)
                        headroom = hw.memory_gb * 1e9 - total
                        _ = headroom / (hw.memory_gb * 1e9) >= 0.1
                        n += 1
    return n


def _feasibility_sweep() -> int:
    n = 0
    for m in model_shapes().values():
        for hw in hardware_profiles().values():
            for dtype in ("bf16", "fp8", "int4"):
                for ctx in CTX_SWEEP:
                    for batch in BATCHES:
                        _ = feasibility(m, hardware=hw, dtype=dtype, ctx=ctx, batch=batch).verdict
                        n += 1
    return n


# Block-scaled and GGUF weights; their KV at the runtime default (bf16/fp16), or fp8.
FORMAT_SWEEP = [("nvfp4", None), ("mxfp4", None), ("q4_k_m", None), ("mxfp4", "fp8")]


def _format_sweep() -> int:
    n = 0
    for m in model_shapes().values():
        for hw in hardware_profiles().values():
            for dtype, kv_dtype in FORMAT_SWEEP:
                for ctx in CTX_SWEEP:
                    for batch in BATCHES:
                        r = feasibility(
                            m, hardware=hw, dtype=dtype, kv_dtype=kv_dtype, ctx=ctx, batch=batch
                        )
                        _ = r.verdict
                        n += 1
    return n


def _naive_format_sweep() -> int:
    """The same budget in floats: bits/8 per value, windowed layers capped, no report."""
    bits = {"nvfp4": 4.5, "mxfp4": 4.25, "q4_k_m": 4.8944, "fp8": 8.0}
    n = 0
    for m in model_shapes().values():
        full = m.full_attention_layers * m.kv_elements_per_token_per_layer
        windowed = m.windowed_layers * m.kv_elements_per_token_per_layer
        window = m.sliding_window or 0
        for hw in hardware_profiles().values():
            for dtype, kv_dtype in FORMAT_SWEEP:
                b = bits[dtype] / 8
                kv_b = 2.0 if kv_dtype is None else bits[kv_dtype] / 8
                for ctx in CTX_SWEEP:
                    for batch in BATCHES:
                        weights = m.params_b * 1e9 * b
                        kv = (full * ctx + windowed * min(ctx, window)) * batch * kv_b
                        total = weights + kv + hw.reserved_gb * 1e9 + 0.1 * (weights + kv)
                        headroom = hw.memory_gb * 1e9 - total
                        _ = headroom / (hw.memory_gb * 1e9) >= 0.1
                        n += 1
    return n


def _reparse_load() -> int:
    text = (
        resources.files("fieldkit.capabilities.data")
        .joinpath("spark-capabilities.json")
        .read_text(encoding="utf-8")
    )
    Capabilities.from_dict(json.loads(text))
    return 1


def _cached_load() -> int:
    for _ in range(100):
        Capabilities.load()
    return 100


def run(quick: bool) -> list[Row]:
    seconds = 0.3 if quick else 3.0
    sizes = [(p / 100, d) for p in range(1, 2000, 37) for d in DTYPE_BYTES]

    def ours_weights() -> int:
        for p, d in sizes:
            weight_bytes(params_b=p, dtype=d)
        return len(sizes)

    def float_weights() -> int:
        for p, d in sizes:
            _float_weight_bytes(p, d)
        return len(sizes)

    def v030_weights() -> int:
        for p, d in sizes:
            _v030_weight_bytes(params_b=p, dtype=d)
        return len(sizes)

    kv_args = [(1024, 80, c, b, d) for c in CTX_SWEEP for b in BATCHES for d in DTYPE_BYTES]

    def ours_kv() -> int:
        for h, n, c, b, d in kv_args:
            kv_cache_bytes(hidden=h, n_layers=n, ctx=c, batch=b, dtype=d)
        return len(kv_args)

    def float_kv() -> int:
        for h, n, c, b, d in kv_args:
            _float_kv_bytes(h, n, c, b, d)
        return len(kv_args)

    def v030_kv() -> int:
        for h, n, c, b, d in kv_args:
            _v030_kv_cache_bytes(hidden=h, n_layers=n, ctx=c, batch=b, dtype=d)
        return len(kv_args)

    def ours_wrong_weights(p: float, d: str) -> int:
        return weight_bytes(params_b=p, dtype=d)

    def ours_wrong_kv(h: int, n: int, c: int, b: int, d: str) -> int:
        return kv_cache_bytes(hidden=h, n_layers=n, ctx=c, batch=b, dtype=d)

    Capabilities.load()
    sweep_size = _feasibility_sweep()
    format_sweep_size = _format_sweep()
    return [
        Row(
            "weight_bytes wrong",
            _wrong_weight_results(ours_wrong_weights),
            _wrong_weight_results(_float_weight_bytes),
            "results",
            better="lower",
            baseline_label="0.3.0 formula int(p*1e9*bytes)",
            note="0.01..19.99 B x 7 dtypes = 13,993 cases",
        ),
        Row(
            "kv_cache_bytes wrong",
            _wrong_kv_results(ours_wrong_kv),
            _wrong_kv_results(_float_kv_bytes),
            "results",
            better="lower",
            baseline_label="0.3.0 formula int(2*L*h*ctx*b*bytes)",
            note="81 cases above 2^53 bytes",
        ),
        Row(
            "weight_bytes",
            _rate(ours_weights, seconds),
            _rate(float_weights, seconds),
            "calls/s",
            better="higher",
            baseline_label="float formula (no validation)",
        ),
        Row(
            "kv_cache_bytes",
            _rate(ours_kv, seconds),
            _rate(float_kv, seconds),
            "calls/s",
            better="higher",
            baseline_label="float formula (no validation)",
        ),
        Row(
            "feasibility sweep",
            _rate(_feasibility_sweep, seconds),
            _rate(_naive_feasibility_sweep, seconds),
            "reports/s",
            better="higher",
            baseline_label="same budget in floats, no report object",
            note=f"{sweep_size} reports: models x hardware x dtype x ctx x batch",
        ),
        Row(
            "feasibility fp4/GGUF sweep",
            _rate(_format_sweep, seconds),
            _rate(_naive_format_sweep, seconds),
            "reports/s",
            better="higher",
            baseline_label="same budget in floats, no report object",
            note=f"{format_sweep_size} reports: nvfp4/mxfp4/q4_k_m weights, default or fp8 KV",
        ),
        Row(
            "weight_bytes vs 0.3.0 fn",
            _rate(ours_weights, seconds),
            _rate(v030_weights, seconds),
            "calls/s",
            better="higher",
            baseline_label="0.3.0's function: validate, dtype.lower() lookup, float, int()",
        ),
        Row(
            "kv_cache_bytes vs 0.3.0 fn",
            _rate(ours_kv, seconds),
            _rate(v030_kv, seconds),
            "calls/s",
            better="higher",
            baseline_label="0.3.0's function: validate, dtype.lower() lookup, float, int()",
        ),
        Row(
            "sweep vs 0.3.0 calls",
            _rate(_feasibility_sweep, seconds),
            _rate(_v030_feasibility_sweep, seconds),
            "reports/s",
            better="higher",
            baseline_label="0.3.0-style calls per cell + float overhead/verdict, no report",
            note="ours builds a FeasibilityReport per cell",
        ),
        Row(
            "Capabilities.load()",
            _rate(_cached_load, seconds),
            _rate(_reparse_load, seconds),
            "calls/s",
            better="higher",
            baseline_label="read + json.loads + build every call",
        ),
    ]
