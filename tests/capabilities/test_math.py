"""Weight and KV-cache byte math: 0.3.0's pinned numbers, validation, exactness, properties."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldkit.capabilities import DTYPE_BYTES, UnknownDtype, kv_cache_bytes, weight_bytes

GB = 10**9
KNOWN = ["bf16", "fp16", "fp32", "fp8", "int4", "int8", "nf4"]


def kv(ctx: int, batch: int, dtype: str = "fp16", hidden: int = 1024, n_layers: int = 80) -> int:
    return kv_cache_bytes(hidden=hidden, n_layers=n_layers, ctx=ctx, batch=batch, dtype=dtype)


def test_dtype_table_is_0_3_0s() -> None:
    assert DTYPE_BYTES == {
        "fp32": 4.0,
        "bf16": 2.0,
        "fp16": 2.0,
        "fp8": 1.0,
        "int8": 1.0,
        "int4": 0.5,
        "nf4": 0.5,
    }
    assert list(DTYPE_BYTES) == ["fp32", "bf16", "fp16", "fp8", "int8", "int4", "nf4"]
    assert all(isinstance(v, float) for v in DTYPE_BYTES.values())


def test_kv_pinned_values() -> None:
    assert kv(16384, 32) == 171_798_691_840
    assert kv(16384, 32, "fp8") * 2 == kv(16384, 32, "fp16")
    assert 1.2 * GB <= kv(4096, 1) <= 1.5 * GB
    assert 330 * GB <= kv(8192, 128) <= 350 * GB
    assert 1300 * GB <= kv(131072, 32) <= 1400 * GB
    assert kv(4096, 32, "fp8") == 21_474_836_480
    assert kv(4096, 1, "fp16", n_layers=32) == 536_870_912
    assert isinstance(kv(16384, 32), int)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"hidden": 0},
        {"n_layers": -1},
        {"ctx": 0},
        {"batch": 0},
    ],
)
def test_kv_non_positive_is_valueerror(kwargs: dict[str, int]) -> None:
    args = {"hidden": 1024, "n_layers": 80, "ctx": 4096, "batch": 1, "dtype": "fp16"} | kwargs
    with pytest.raises(ValueError, match="must all be positive"):
        kv_cache_bytes(**args)  # type: ignore[arg-type]


def test_kv_dimensions_checked_before_dtype() -> None:
    with pytest.raises(ValueError):
        kv_cache_bytes(hidden=0, n_layers=80, ctx=1, batch=1, dtype="fp7")


def test_kv_unknown_dtype() -> None:
    with pytest.raises(UnknownDtype) as info:
        kv_cache_bytes(hidden=1024, n_layers=80, ctx=1, batch=1, dtype="fp7")
    assert isinstance(info.value, KeyError)
    assert str(info.value) == f"unknown dtype 'fp7'; known: {KNOWN}"
    assert isinstance(info.value.__cause__, KeyError)


def test_kv_rejects_fractional_and_bool_dimensions() -> None:
    with pytest.raises(ValueError, match="whole number"):
        kv_cache_bytes(hidden=1.5, n_layers=80, ctx=1, batch=1, dtype="fp16")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        kv_cache_bytes(hidden=True, n_layers=80, ctx=1, batch=1, dtype="fp16")
    with pytest.raises(TypeError):
        kv_cache_bytes(hidden="1024", n_layers=80, ctx=1, batch=1, dtype="fp16")  # type: ignore[arg-type]
    # an integral float is still accepted, as 0.3.0 did
    assert kv_cache_bytes(hidden=1024.0, n_layers=80, ctx=16384, batch=32, dtype="fp16") == (  # type: ignore[arg-type]
        171_798_691_840
    )


def test_kv_is_exact_beyond_float_precision() -> None:
    huge = kv_cache_bytes(
        hidden=2**20 + 1, n_layers=2**10 + 1, ctx=2**20 + 3, batch=2**8 + 1, dtype="fp16"
    )
    assert huge == 2 * (2**20 + 1) * (2**10 + 1) * (2**20 + 3) * (2**8 + 1) * 2
    assert huge > 2**53


def test_weight_pinned_values() -> None:
    assert weight_bytes(params_b=100, dtype="bf16") == 200 * GB
    assert weight_bytes(params_b=100, dtype="fp8") == 100 * GB
    assert weight_bytes(params_b=100, dtype="nf4") == 50 * GB
    assert weight_bytes(params_b=8, dtype="bf16") == 16 * GB
    assert weight_bytes(params_b=70, dtype="bf16") == 140 * GB
    assert weight_bytes(params_b=70, dtype="fp8") == 70 * GB


def test_weight_validation() -> None:
    with pytest.raises(ValueError, match=r"params_b must be positive \(in billions\)"):
        weight_bytes(params_b=0, dtype="bf16")
    with pytest.raises(ValueError):
        weight_bytes(params_b=-1, dtype="banana")  # checked before the dtype
    with pytest.raises(ValueError):
        weight_bytes(params_b=float("nan"), dtype="bf16")
    with pytest.raises(ValueError):
        weight_bytes(params_b=float("inf"), dtype="bf16")
    with pytest.raises(TypeError):
        weight_bytes(params_b=True, dtype="bf16")
    with pytest.raises(UnknownDtype):
        weight_bytes(params_b=1, dtype="banana")


def test_dtype_resolution_is_case_and_space_insensitive() -> None:
    assert weight_bytes(params_b=1, dtype="BF16") == 2 * GB
    assert weight_bytes(params_b=1, dtype=" fp8 ") == GB
    for bad in ("fp7", "fp17", "banana", "", None, 16):
        with pytest.raises(UnknownDtype):
            weight_bytes(params_b=1, dtype=bad)  # type: ignore[arg-type]


def test_weight_is_never_one_byte_low() -> None:
    # 0.3.0: int(2.01 * 1e9 * 4.0) == 8_039_999_999
    assert weight_bytes(params_b=2.01, dtype="fp32") == 8_040_000_000
    assert weight_bytes(params_b=Decimal("2.01"), dtype="fp32") == 8_040_000_000  # type: ignore[arg-type]
    assert weight_bytes(params_b=Fraction(201, 100), dtype="fp32") == 8_040_000_000  # type: ignore[arg-type]
    # a fractional byte (odd 4-bit count) rounds up to the byte that holds it
    assert weight_bytes(params_b=1e-9, dtype="int4") == 1
    assert weight_bytes(params_b=3e-9, dtype="nf4") == 2


@settings(max_examples=300, deadline=None)
@given(cents=st.integers(1, 1999), dtype=st.sampled_from(KNOWN))
def test_weight_exact_for_two_decimal_sizes(cents: int, dtype: str) -> None:
    params_b = cents / 100
    expected = Fraction(cents * 10**7) * Fraction(DTYPE_BYTES[dtype])
    assert weight_bytes(params_b=params_b, dtype=dtype) == expected  # whole bytes here


WIDTH_ORDER = ["int4", "fp8", "bf16", "fp32"]


@settings(max_examples=200, deadline=None)
@given(params_b=st.floats(min_value=1e-3, max_value=2000, allow_nan=False))
def test_weights_monotone_in_dtype_width(params_b: float) -> None:
    sizes = [weight_bytes(params_b=params_b, dtype=d) for d in WIDTH_ORDER]
    assert sizes == sorted(sizes)
    assert weight_bytes(params_b=params_b, dtype="fp16") == weight_bytes(
        params_b=params_b, dtype="bf16"
    )
    assert weight_bytes(params_b=params_b, dtype="int8") == weight_bytes(
        params_b=params_b, dtype="fp8"
    )
    assert weight_bytes(params_b=params_b, dtype="nf4") == weight_bytes(
        params_b=params_b, dtype="int4"
    )


@settings(max_examples=200, deadline=None)
@given(
    hidden=st.integers(1, 16384),
    n_layers=st.integers(1, 200),
    ctx=st.integers(1, 1 << 20),
    ctx2=st.integers(1, 1 << 20),
    batch=st.integers(1, 512),
    k=st.integers(1, 64),
    dtype=st.sampled_from(KNOWN),
)
def test_kv_linear_in_ctx_and_batch(
    hidden: int, n_layers: int, ctx: int, ctx2: int, batch: int, k: int, dtype: str
) -> None:
    def f(c: int, b: int) -> int:
        return kv_cache_bytes(hidden=hidden, n_layers=n_layers, ctx=c, batch=b, dtype=dtype)

    assert f(ctx + ctx2, batch) == f(ctx, batch) + f(ctx2, batch)
    assert f(ctx * k, batch) == k * f(ctx, batch)
    assert f(ctx, batch * k) == k * f(ctx, batch)
    assert f(ctx, batch) == f(batch, ctx)  # symmetric: tokens are tokens
    assert f(ctx, batch) == 2 * n_layers * hidden * ctx * batch * Fraction(DTYPE_BYTES[dtype])


def test_numpy_scalars_are_numbers() -> None:
    np = pytest.importorskip("numpy")
    assert kv_cache_bytes(
        hidden=np.int64(1024), n_layers=np.int32(80), ctx=16384, batch=32, dtype="fp16"
    ) == (171_798_691_840)
    assert weight_bytes(params_b=np.float64(2.01), dtype="fp32") == 8_040_000_000
    assert weight_bytes(params_b=np.int64(70), dtype="fp8") == 70 * GB
    with pytest.raises(ValueError, match="whole number"):
        kv_cache_bytes(hidden=np.float64(1.5), n_layers=80, ctx=1, batch=1, dtype="fp16")
    with pytest.raises(TypeError):
        kv_cache_bytes(hidden=np.bool_(True), n_layers=80, ctx=1, batch=1, dtype="fp16")
    with pytest.raises(ValueError, match="whole number"):
        kv_cache_bytes(hidden=Decimal("Infinity"), n_layers=80, ctx=1, batch=1, dtype="fp16")  # type: ignore[arg-type]


def test_repeated_calls_stay_exact_and_typed() -> None:
    """The float fast path memoises by (float, dtype); equal-but-different numbers and bools
    must not be served from it."""
    assert weight_bytes(params_b=0.1, dtype="fp32") == 400_000_000
    assert weight_bytes(params_b=0.1, dtype="fp32") == 400_000_000
    # Fraction(0.1) is the binary value of the float, a slightly different count
    binary = Fraction(0.1)
    expected = -(-(binary * 10**9 * 32).numerator // ((binary * 10**9 * 32).denominator * 8))
    assert weight_bytes(params_b=binary, dtype="fp32") == expected != 400_000_000  # type: ignore[arg-type]
    assert weight_bytes(params_b=1.0, dtype="fp8") == GB
    with pytest.raises(TypeError):
        weight_bytes(params_b=True, dtype="fp8")
    for _ in range(2):  # a failing call is never memoised
        with pytest.raises(UnknownDtype):
            weight_bytes(params_b=1.0, dtype="fp7")
        with pytest.raises(UnknownDtype):
            weight_bytes(params_b=1.0, dtype=["fp8"])  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            weight_bytes(params_b=float("inf"), dtype="fp8")
    assert weight_bytes(params_b=1.0, dtype=" FP8 ") == GB


def test_memo_stays_bounded_and_exact_past_its_limit() -> None:
    from fieldkit.capabilities import _math

    for cents in range(1, _math._MEMO_LIMIT + 500):
        assert weight_bytes(params_b=cents / 100, dtype="fp32") == cents * 4 * 10**7
        assert len(_math._weight_memo) <= _math._MEMO_LIMIT
    assert weight_bytes(params_b=2.01, dtype="fp32") == 8_040_000_000
