"""Pure, exact memory arithmetic: weight bytes and KV-cache bytes.

Everything is integer arithmetic (dtype widths in bits; parameter counts as exact
numerator/denominator pairs, converted once and cached for floats); results are whole bytes,
rounded up only when the exact value is fractional (a packed 4-bit tensor with an odd element
count still occupies the last byte); no float rounding can make a count one byte low.
"""

from __future__ import annotations

import functools
import math
import numbers
from decimal import Decimal
from fractions import Fraction

from fieldkit.capabilities._dtypes import DTYPE_BITS, dtype_bits

__all__ = [
    "billions_ratio",
    "ceil_div",
    "check_dimension",
    "kv_cache_bytes",
    "weight_bytes",
]


def ceil_div(numerator: int, denominator: int) -> int:
    """``ceil(numerator / denominator)`` in exact integer arithmetic (denominator > 0)."""
    return -(-numerator // denominator)


def check_dimension(name: str, value: object, *, rule: str = "") -> int:
    """Return *value* as an ``int`` if it is a positive whole number, else raise.

    Any real number type counts (numpy integers and floats too). ``TypeError`` for bools and
    non-numbers; ``ValueError`` for fractional or non-positive values (``hidden=1.5`` is
    refused, never truncated). *rule* prefixes the non-positive message.
    """
    if type(value) is int and value > 0:  # fast path: the common case costs one check
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real | Decimal):
        raise TypeError(f"{name} must be a positive integer, got {value!r}")
    if isinstance(value, numbers.Integral):  # int subclasses, numpy integers
        number = int(value)
    elif isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        number = int(value)
    else:  # float, Fraction, numpy floats
        if not math.isfinite(value) or value != math.trunc(value):
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        number = int(math.trunc(value))  # noqa: RUF046 (trunc of a Real is typed loosely)
    if number <= 0:
        if rule:
            raise ValueError(f"{rule}; got {name}={value!r}")
        raise ValueError(f"{name} must be positive, got {value!r}")
    return number


def _positive_billions(name: str) -> ValueError:
    return ValueError(f"{name} must be positive (in billions)")


@functools.lru_cache(maxsize=4096)
def _float_billions(value: float) -> tuple[int, int]:
    """(numerator, denominator) of the parameter count *value* billions means, for a float.

    The float is read as the decimal it prints as (``2.01`` → exactly 2,010,000,000). Cached:
    catalogs and sweeps ask for the same few sizes over and over.
    """
    if not math.isfinite(value) or value <= 0:
        raise _positive_billions("params_b")
    exact = Fraction(repr(value)) * 10**9
    return exact.numerator, exact.denominator


def billions_ratio(params_b: object, name: str = "params_b") -> tuple[int, int]:
    """(numerator, denominator) of the exact parameter count meant by *params_b* billions.

    Raises ``TypeError`` for a bool or non-number, ``ValueError`` unless finite and positive.
    """
    if type(params_b) is float:
        try:
            return _float_billions(params_b)
        except ValueError:
            raise _positive_billions(name) from None
    if type(params_b) is int and params_b > 0:
        return params_b * 10**9, 1
    if isinstance(params_b, bool) or not isinstance(params_b, numbers.Real | Decimal):
        raise TypeError(f"{name} must be a number (in billions), got {params_b!r}")
    if isinstance(params_b, Decimal):
        if not params_b.is_finite():
            raise _positive_billions(name)
        num, den = params_b.as_integer_ratio()
    elif isinstance(params_b, numbers.Rational):  # int subclasses, numpy integers, Fraction
        num, den = int(params_b.numerator), int(params_b.denominator)
    else:  # float subclasses (numpy float64), other real types: read as a float
        return billions_ratio(float(params_b), name)
    if num <= 0:
        raise _positive_billions(name)
    exact = Fraction(num * 10**9, den)
    return exact.numerator, exact.denominator


# (float params_b, dtype as given) → bytes: sweeps and catalogs ask for the same few sizes.
# Only exact ``float`` keys: ``Fraction(0.1) == 0.1`` but means a different parameter count.
_weight_memo: dict[tuple[float, str], int] = {}
_MEMO_LIMIT = 4096


def weight_bytes(*, params_b: float, dtype: str) -> int:
    """Bytes of ``params_b`` billion parameters stored as *dtype* (exact, whole bytes).

    ``params_b <= 0`` → ``ValueError`` (checked before the dtype); unknown dtype →
    ``UnknownDtype``.
    """
    memo_key = None
    if type(params_b) is float:  # exact float only: 0.1 and Fraction(0.1) mean different counts
        memo_key = (params_b, dtype)
        try:
            return _weight_memo[memo_key]
        except (KeyError, TypeError):  # TypeError: an unhashable dtype, reported below
            pass
    num, den = billions_ratio(params_b)
    bits = DTYPE_BITS.get(dtype) if type(dtype) is str else None
    if bits is None:
        bits = dtype_bits(dtype)
    result = -(-(num * bits) // (den * 8))
    if memo_key is not None:
        if len(_weight_memo) >= _MEMO_LIMIT:
            _weight_memo.clear()  # start over: keeps the current working set, bounds memory
        _weight_memo[memo_key] = result
    return result


_KV_RULE = "hidden, n_layers, ctx, batch must all be positive"


def kv_cache_bytes(*, hidden: int, n_layers: int, ctx: int, batch: int, dtype: str) -> int:
    """KV-cache bytes: 2 (K and V) × n_layers × hidden × ctx × batch × bytes per element.

    *hidden* is the KV hidden size (KV heads × head dim), not the model width. Dimensions are
    validated first (positive whole numbers), then the dtype; the result is exact.
    """
    if not (
        type(hidden) is int
        and type(n_layers) is int
        and type(ctx) is int
        and type(batch) is int
        and hidden > 0
        and n_layers > 0
        and ctx > 0
        and batch > 0
    ):
        hidden = check_dimension("hidden", hidden, rule=_KV_RULE)
        n_layers = check_dimension("n_layers", n_layers, rule=_KV_RULE)
        ctx = check_dimension("ctx", ctx, rule=_KV_RULE)
        batch = check_dimension("batch", batch, rule=_KV_RULE)
    bits = DTYPE_BITS.get(dtype) if type(dtype) is str else None
    if bits is None:
        bits = dtype_bits(dtype)
    return -(-(2 * n_layers * hidden * ctx * batch * bits) // 8)
