"""Storage formats for weights and KV caches: exact bits per value, scale overhead included.

Every width is an exact fraction of bits per stored value, counting the block scales a format
carries (NVFP4: 4-bit values + one fp8 scale per 16 → 4.5 bits). A format is usable for the KV
cache only if a common runtime stores KV caches in it; the others are weight-only.

The seven dtypes of the published ``DTYPE_BYTES`` keep their plain widths here (``int4`` is 4 bits,
no scales); the published helpers ``weight_bytes``/``kv_cache_bytes`` accept only those seven.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from fieldkit.capabilities._errors import UnknownDtype

__all__ = [
    "FORMATS",
    "KV_FORMATS",
    "InvalidKVDtype",
    "StorageFormat",
    "kv_storage_format",
    "storage_format",
]


class InvalidKVDtype(UnknownDtype):
    """A known format that no common runtime stores a KV cache in; the message lists valid ones."""


@dataclass(frozen=True, slots=True)
class StorageFormat:
    """One storage format: exact bits per value (``bits_num / bits_den``) and how it is used.

    ``native_as`` is the hardware dtype token whose tensor-core math runs it (``None``: it is
    dequantised to a wider type before the matmul, which every GPU can do). ``default_kv`` is
    the KV-cache format a runtime uses when the weights are stored in this one.
    """

    name: str
    bits_num: int
    bits_den: int
    kv: bool
    native_as: str | None
    default_kv: str
    description: str
    aliases: tuple[str, ...] = ()

    @property
    def bits_per_value(self) -> Fraction:
        """Exact storage bits per value, scales included."""
        return Fraction(self.bits_num, self.bits_den)

    @property
    def bytes_per_value(self) -> float:
        """Storage bytes per value (a float, for display)."""
        return self.bits_num / (8 * self.bits_den)

    def bytes_for(self, count: int) -> int:
        """Whole bytes of *count* values, rounded up."""
        return -(-(count * self.bits_num) // (8 * self.bits_den))

    def to_dict(self) -> dict[str, object]:
        """JSON-ready view."""
        return {
            "name": self.name,
            "bits_per_value": self.bits_num / self.bits_den,
            "bits_per_value_exact": str(self.bits_per_value),
            "kv_cache": self.kv,
            "native_as": self.native_as,
            "default_kv": self.default_kv,
            "description": self.description,
            "aliases": list(self.aliases),
        }


_LLAMA_CPP = "llama.cpp tools/quantize/README.md, Llama-3.1-8B table"

_DESCRIPTIONS: dict[str, str] = {
    "fp32": "IEEE float32",
    "bf16": "bfloat16",
    "fp16": "IEEE float16",
    "fp8": "fp8 (E4M3/E5M2); per-tensor scales are negligible",
    "int8": "8-bit integer",
    "int4": "bare 4-bit integer, no scales (plain int4; see int4-g128 for GPTQ/AWQ)",
    "nf4": "bitsandbytes NormalFloat4, weight-only (block absmax not counted)",
    "nvfp4": "NVIDIA FP4 (E2M1) + one fp8 (E4M3) scale per 16 values: 4 + 8/16 = 4.5 bits",
    "mxfp4": "OCP MX FP4 (E2M1) + one 8-bit shared exponent (E8M0) per 32: 4.25 bits",
    "int4-g128": (
        "GPTQ/AWQ int4, group 128: a 16-bit scale and a packed 4-bit zero-point per 128 "
        "values: 4 + 20/128 = 4.15625 bits"
    ),
    "q8_0": "GGUF Q8_0: 32 int8 + one fp16 scale per block (34 bytes / 32) = 8.5 bits",
    "q6_k": "GGUF Q6_K: 210 bytes per 256-value super-block = 6.5625 bits",
    "q5_k_m": f"GGUF Q5_K_M mix: 5.7036 bits per weight ({_LLAMA_CPP})",
    "q4_k_m": f"GGUF Q4_K_M mix: 4.8944 bits per weight ({_LLAMA_CPP})",
    "q4_0": "GGUF Q4_0: 32 4-bit values + one fp16 scale per block (18 B / 32) = 4.5 bits",
}


def _f(
    name: str,
    bits: Fraction | int,
    *,
    kv: bool,
    native_as: str | None = None,
    default_kv: str = "fp16",
    aliases: tuple[str, ...] = (),
) -> StorageFormat:
    exact = Fraction(bits)
    return StorageFormat(
        name,
        exact.numerator,
        exact.denominator,
        kv,
        native_as,
        default_kv,
        _DESCRIPTIONS[name],
        aliases,
    )


# Catalog order; formats without ``native_as`` are dequantised before the matmul.
_ALL: tuple[StorageFormat, ...] = (
    _f("fp32", 32, kv=True, native_as="fp32", default_kv="fp32"),
    _f("bf16", 16, kv=True, native_as="bf16", default_kv="bf16"),
    _f("fp16", 16, kv=True, native_as="fp16", default_kv="fp16"),
    _f("fp8", 8, kv=True, native_as="fp8", default_kv="fp8"),
    _f("int8", 8, kv=True, native_as="int8", default_kv="int8"),
    _f("int4", 4, kv=True),
    _f("nf4", 4, kv=False, default_kv="bf16"),
    _f("nvfp4", Fraction(9, 2), kv=True, native_as="fp4", default_kv="bf16", aliases=("fp4",)),
    _f("mxfp4", Fraction(17, 4), kv=False, native_as="fp4", default_kv="bf16"),
    _f("int4-g128", Fraction(133, 32), kv=False, aliases=("gptq", "awq")),
    _f("q8_0", Fraction(17, 2), kv=True),
    _f("q6_k", Fraction(105, 16), kv=False),
    _f("q5_k_m", Fraction("5.7036"), kv=False, aliases=("q5_k",)),
    _f("q4_k_m", Fraction("4.8944"), kv=False, aliases=("q4_k",)),
    _f("q4_0", Fraction(9, 2), kv=True),
)

FORMATS: dict[str, StorageFormat] = {f.name: f for f in _ALL}
"""Every format by canonical name (lower case), in catalog order."""

KV_FORMATS: tuple[str, ...] = tuple(f.name for f in _ALL if f.kv)
"""Formats a KV cache can be stored in (vLLM/TensorRT-LLM fp8, llama.cpp q8_0/q4_0, ...)."""

_NAMES: dict[str, StorageFormat] = {}
for _fmt in _ALL:
    for _name in (_fmt.name, *_fmt.aliases):
        _NAMES[_name] = _fmt


def _unknown(dtype: object) -> UnknownDtype:
    return UnknownDtype(f"unknown dtype {dtype!r}; known: {sorted(FORMATS)}")


def storage_format(dtype: object) -> StorageFormat:
    """The format named *dtype* (name or alias, any case, surrounding whitespace ignored).

    Unknown → :class:`UnknownDtype` listing the canonical names (``fp4`` = ``nvfp4``,
    ``gptq``/``awq`` = ``int4-g128``, ``q4_k``/``q5_k`` = ``q4_k_m``/``q5_k_m``).
    """
    if type(dtype) is str:
        found = _NAMES.get(dtype)
        if found is not None:
            return found
        found = _NAMES.get(dtype.strip().lower())
        if found is not None:
            return found
    raise _unknown(dtype) from KeyError(dtype)


def kv_storage_format(dtype: object) -> StorageFormat:
    """The format named *dtype* if a KV cache can be stored in it.

    Unknown → :class:`UnknownDtype`; known but weight-only (``nf4``, ``mxfp4``, ``q4_k_m``, …)
    → :class:`InvalidKVDtype` listing the valid KV dtypes.
    """
    fmt = storage_format(dtype)
    if not fmt.kv:
        raise InvalidKVDtype(
            f"{fmt.name} is not a KV-cache dtype (no common runtime stores a KV cache in it); "
            f"valid KV dtypes: {list(KV_FORMATS)}"
        )
    return fmt
