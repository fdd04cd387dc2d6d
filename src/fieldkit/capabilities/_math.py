"""Pure, exact memory arithmetic: weight bytes and KV-cache bytes.

Everything is integer/``Fraction`` arithmetic; results are whole bytes, rounded up only when the
exact value is fractional (a packed 4-bit tensor with an odd element count still occupies the
last byte). 0.3.0 multiplied floats and truncated, coming out one byte low for some inputs.
"""

from __future__ import annotations

import functools
import math
from decimal import Decimal
from fractions import Fraction

from fieldkit.capabilities._dtypes import DTYPE_BITS, resolve_dtype

__all__ = [
    "ceil_div",
    "check_dimension",
    "exact_billions",
    "kv_cache_bytes",
    "kv_elements_bytes",
    "weight_bytes",
]


def ceil_div(numerator: int, denominator: int) -> int:
    """``ceil(numerator / denominator)`` in exact integer arithmetic (denominator > 0)."""
    return -(-numerator // denominator)


def check_dimension(name: str, value: object, *, rule: str = "") -> int:
    """Return *value* as an ``int`` if it is a positive whole number, else raise.

    ``TypeError`` for bools and non-numbers; ``ValueError`` for fractional or non-positive
    values (0.3.0 accepted ``hidden=1.5`` and silently truncated it). *rule* prefixes the
    non-positive message.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | Fraction | Decimal):
        raise TypeError(f"{name} must be a positive integer, got {value!r}")
    if isinstance(value, int):
        number = value
    else:
        if not math.isfinite(value) or value != int(value):
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        number = int(value)
    if number <= 0:
        if rule:
            raise ValueError(f"{rule}; got {name}={value!r}")
        raise ValueError(f"{name} must be positive, got {value!r}")
    return number


@functools.lru_cache(maxsize=4096)
def _float_ratio(value: float) -> tuple[int, int]:
    exact = Fraction(repr(value))
    return exact.numerator, exact.denominator


def _billions_ratio(params_b: object, name: str) -> tuple[int, int]:
    """(numerator, denominator) of the exact parameter count meant by *params_b* billions."""
    if isinstance(params_b, bool) or not isinstance(params_b, int | float | Fraction | Decimal):
        raise TypeError(f"{name} must be a number (in billions), got {params_b!r}")
    if isinstance(params_b, int):
        num, den = params_b, 1
    elif isinstance(params_b, float):
        if not math.isfinite(params_b):
            raise ValueError(f"{name} must be positive (in billions), got {params_b!r}")
        num, den = _float_ratio(params_b)
    elif isinstance(params_b, Decimal):
        if not params_b.is_finite():
            raise ValueError(f"{name} must be positive (in billions), got {params_b!r}")
        num, den = params_b.as_integer_ratio()
    else:
        num, den = params_b.numerator, params_b.denominator
    if num <= 0:
        raise ValueError(f"{name} must be positive (in billions)")
    return num * 10**9, den


def exact_billions(params_b: object, *, name: str = "params_b") -> Fraction:
    """The exact parameter count meant by *params_b* billions (``2.01`` → 2,010,000,000).

    A float is read as the decimal it prints as, so binary rounding of ``2.01`` does not
    cost a parameter. Raises ``ValueError`` unless the count is finite and positive.
    """
    num, den = _billions_ratio(params_b, name)
    return Fraction(num, den)


def weight_bytes(*, params_b: float, dtype: str) -> int:
    """Bytes of ``params_b`` billion parameters stored as *dtype* (exact, whole bytes).

    ``params_b <= 0`` → ``ValueError`` (checked before the dtype); unknown dtype →
    ``UnknownDtype``.
    """
    num, den = _billions_ratio(params_b, "params_b")
    return ceil_div(num * DTYPE_BITS[resolve_dtype(dtype)], den * 8)


def kv_elements_bytes(elements: int, dtype: str) -> int:
    """Bytes of *elements* cache elements stored as *dtype* (exact, whole bytes)."""
    return ceil_div(elements * DTYPE_BITS[resolve_dtype(dtype)], 8)


def kv_cache_bytes(*, hidden: int, n_layers: int, ctx: int, batch: int, dtype: str) -> int:
    """KV-cache bytes: 2 (K and V) × n_layers × hidden × ctx × batch × bytes per element.

    *hidden* is the KV hidden size (KV heads × head dim), not the model width. Dimensions are
    validated first (positive whole numbers), then the dtype; the result is exact.
    """
    dims = [
        check_dimension(name, value, rule="hidden, n_layers, ctx, batch must all be positive")
        for name, value in (
            ("hidden", hidden),
            ("n_layers", n_layers),
            ("ctx", ctx),
            ("batch", batch),
        )
    ]
    h, layers, c, b = dims
    return kv_elements_bytes(2 * layers * h * c * b, dtype)
