"""Bytes per element for the dtypes the memory math knows, and the one resolver both helpers use.

``DTYPE_BYTES`` is the public table, with the published values (floats). The math itself runs
on ``DTYPE_BITS`` (integers), so byte counts are exact.
"""

from __future__ import annotations

from fieldkit.capabilities._errors import UnknownDtype

__all__ = ["DTYPE_BITS", "DTYPE_BYTES", "dtype_bits", "resolve_dtype"]

DTYPE_BITS: dict[str, int] = {
    "fp32": 32,
    "bf16": 16,
    "fp16": 16,
    "fp8": 8,
    "int8": 8,
    "int4": 4,
    "nf4": 4,
}

DTYPE_BYTES: dict[str, float] = {name: bits / 8 for name, bits in DTYPE_BITS.items()}


def resolve_dtype(dtype: object) -> str:
    """Return the canonical (lower-case) name of *dtype*, or raise :class:`UnknownDtype`.

    Surrounding whitespace is ignored and case does not matter; a non-string is unknown too
    (:class:`UnknownDtype`, never ``AttributeError``).
    """
    if type(dtype) is str and dtype in DTYPE_BITS:  # fast path: already canonical
        return dtype
    key = dtype.strip().lower() if isinstance(dtype, str) else None
    if key is not None and key in DTYPE_BITS:
        return key
    known = sorted(DTYPE_BITS)
    message = f"unknown dtype {dtype!r}; known: {known}"
    raise UnknownDtype(message) from KeyError(dtype)


def dtype_bits(dtype: object) -> int:
    """Storage width of *dtype* in bits (resolved as :func:`resolve_dtype` does)."""
    if type(dtype) is str:
        bits = DTYPE_BITS.get(dtype)
        if bits is not None:
            return bits
    return DTYPE_BITS[resolve_dtype(dtype)]
