"""Will this model run on that box? Weights + KV cache + a stated overhead allowance vs memory.

Pure arithmetic over a :class:`ModelShape` and a :class:`HardwareProfile`; every byte count is
exact. The decode speed figure is an upper bound from memory bandwidth, never a prediction.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from fieldkit.capabilities._capabilities import Capabilities, practical_inference_envelope
from fieldkit.capabilities._formats import StorageFormat, kv_storage_format, storage_format
from fieldkit.capabilities._math import ceil_div, check_dimension
from fieldkit.capabilities._models import ModelShape, get_model
from fieldkit.capabilities._profiles import DEFAULT_HARDWARE, HardwareProfile, get_hardware

__all__ = [
    "OVERHEAD_FRACTION",
    "TIGHT_HEADROOM_FRACTION",
    "FeasibilityReport",
    "Verdict",
    "envelope_key",
    "feasibility",
]

OVERHEAD_FRACTION = Fraction(1, 10)
"""Allowance on top of weights + KV for activations, temporary buffers and fragmentation."""

TIGHT_HEADROOM_FRACTION = Fraction(1, 10)
"""A fit with less free memory than this share of capacity is reported as ``tight``."""

_ENVELOPE_PRECISION = {16: "bf16", 8: "fp8", 4: "int4"}
_OVERHEAD_NUM, _OVERHEAD_DEN = OVERHEAD_FRACTION.numerator, OVERHEAD_FRACTION.denominator
_TIGHT_NUM, _TIGHT_DEN = TIGHT_HEADROOM_FRACTION.numerator, TIGHT_HEADROOM_FRACTION.denominator


class Verdict(enum.StrEnum):
    """Outcome of a feasibility check."""

    FITS = "fits"
    TIGHT = "tight"
    DOES_NOT_FIT = "does not fit"


def envelope_key(model: ModelShape, dtype: str) -> str | None:
    """The Spark envelope-table key that describes *model* at *dtype*, if the table has one.

    Follows the requested dtype (by storage width: 16-bit → ``bf16``, 8-bit → ``fp8``,
    4-bit → ``int4``; block-scaled widths such as 4.25 or 8.5 bits have no rule); ``405B+``
    models have one rule for every precision. ``None`` when the table has no rule for that
    size/precision.
    """
    if model.envelope_size is None:
        return None
    if model.envelope_size.endswith("+"):
        key = f"{model.envelope_size} params"
    else:
        fmt = storage_format(dtype)
        whole = fmt.bits_num if fmt.bits_den == 1 else 0
        precision = _ENVELOPE_PRECISION.get(whole)
        if precision is None:
            return None
        key = f"{model.envelope_size} params {precision}"
    table = Capabilities.load().memory_budget_rules_of_thumb.practical_inference_envelope
    return key if key in table else None


# (the document the rules came from, rule by (envelope size, canonical dtype)); rebuilt when
# ``Capabilities.load(refresh=True)`` replaces the document.
_rule_cache: tuple[Capabilities, dict[tuple[str, str], str | None]] | None = None


def _envelope_rule(model: ModelShape, dtype: str, hardware: HardwareProfile) -> str | None:
    """The envelope rule shown for *model* at canonical *dtype* on *hardware* (memoised)."""
    global _rule_cache
    if hardware.id != DEFAULT_HARDWARE or model.envelope_size is None:
        return None  # the envelope table describes DGX Spark only
    caps = Capabilities.load()
    cache = _rule_cache
    if cache is None or cache[0] is not caps:
        cache = _rule_cache = (caps, {})
    memo = cache[1]
    wanted = (model.envelope_size, dtype)
    if wanted not in memo:
        key = envelope_key(model, dtype)
        memo[wanted] = None if key is None else practical_inference_envelope(key)
    return memo[wanted]


@dataclass(frozen=True, slots=True)
class FeasibilityReport:
    """Memory budget of one model on one hardware profile (byte counts exact)."""

    model: ModelShape
    hardware: HardwareProfile
    dtype: str
    kv_dtype: str
    ctx: int
    batch: int
    weights_bytes: int
    kv_cache_bytes: int
    overhead_bytes: int
    active_weights_bytes: int
    envelope_rule: str | None
    kv_dtype_defaulted: bool = False
    """True when *dtype* is weight-only and the KV cache fell back to the runtime default."""

    @property
    def weights_plus_kv_bytes(self) -> int:
        """Weights + KV cache: the total the published ``practical_inference_envelope`` reports."""
        return self.weights_bytes + self.kv_cache_bytes

    @property
    def total_bytes(self) -> int:
        """Weights + KV cache + overhead allowance."""
        return self.weights_plus_kv_bytes + self.overhead_bytes

    @property
    def headroom_bytes(self) -> int:
        """Capacity minus total; negative when it does not fit."""
        return self.hardware.memory_bytes - self.total_bytes

    @property
    def verdict(self) -> Verdict:
        """``fits``, ``tight`` (under 10% of capacity left) or ``does not fit``."""
        capacity = self.hardware.memory_bytes
        headroom = capacity - self.total_bytes
        if headroom < 0:
            return Verdict.DOES_NOT_FIT
        if headroom * _TIGHT_DEN < capacity * _TIGHT_NUM:
            return Verdict.TIGHT
        return Verdict.FITS

    @property
    def overhead_rule(self) -> str:
        """How the overhead allowance was computed, in words."""
        pct = float(OVERHEAD_FRACTION * 100)
        return (
            f"{self.hardware.reserved_gb:g} GB reserved on this hardware + {pct:g}% of "
            "weights + KV for activations, buffers, fragmentation"
        )

    @property
    def bytes_read_per_step(self) -> int:
        """Bytes one decode step must read at least: active weights + the whole KV cache."""
        return self.active_weights_bytes + self.kv_cache_bytes

    @property
    def decode_steps_per_s_bound(self) -> float:
        """Upper bound on decode steps/s (= tokens/s per sequence): bandwidth ÷ bytes per step."""
        return self.hardware.bandwidth_bytes_per_s / self.bytes_read_per_step

    @property
    def decode_steps_per_s_bound_short(self) -> float:
        """The same bound at a short context: the KV cache's reads left out (weights only)."""
        return self.hardware.bandwidth_bytes_per_s / self.active_weights_bytes

    @property
    def decode_tokens_per_s_bound(self) -> float:
        """Upper bound on aggregate decode tokens/s over the batch."""
        return self.decode_steps_per_s_bound * self.batch

    @property
    def exceeds_max_context(self) -> bool:
        """Whether *ctx* is longer than the model's context window (when that is known)."""
        return self.model.max_context is not None and self.ctx > self.model.max_context

    @property
    def dtype_native(self) -> bool:
        """Whether the weight dtype has native math on the hardware (or is weight-only 4-bit)."""
        return self.hardware.runs_natively(self.dtype)

    @property
    def kv_dtype_native(self) -> bool:
        """Whether the KV-cache dtype has native math on the hardware."""
        return self.hardware.runs_natively(self.kv_dtype)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view: exact byte counts, GB (10^9) figures, verdict and the bound."""
        gb = 10**9
        return {
            "model": self.model.id,
            "hardware": self.hardware.id,
            "hardware_name": self.hardware.name,
            "memory_bytes": self.hardware.memory_bytes,
            "memory_gb": self.hardware.memory_gb,
            "dtype": self.dtype,
            "kv_dtype": self.kv_dtype,
            "kv_dtype_defaulted": self.kv_dtype_defaulted,
            "ctx": self.ctx,
            "batch": self.batch,
            "weights_bytes": self.weights_bytes,
            "kv_cache_bytes": self.kv_cache_bytes,
            "kv_windowed_layers": self.model.windowed_layers,
            "kv_full_layers": self.model.full_attention_layers,
            "sliding_window": self.model.sliding_window,
            "weights_plus_kv_bytes": self.weights_plus_kv_bytes,
            "overhead_bytes": self.overhead_bytes,
            "overhead_rule": self.overhead_rule,
            "total_bytes": self.total_bytes,
            "headroom_bytes": self.headroom_bytes,
            "weights_gb": self.weights_bytes / gb,
            "kv_cache_gb": self.kv_cache_bytes / gb,
            "weights_plus_kv_gb": self.weights_plus_kv_bytes / gb,
            "overhead_gb": self.overhead_bytes / gb,
            "total_gb": self.total_bytes / gb,
            "headroom_gb": self.headroom_bytes / gb,
            "verdict": str(self.verdict),
            "envelope_rule": self.envelope_rule,
            "exceeds_max_context": self.exceeds_max_context,
            "dtype_native": self.dtype_native,
            "kv_dtype_native": self.kv_dtype_native,
            "decode_bound": {
                "kind": "upper bound",
                "tokens_per_s_per_sequence": self.decode_steps_per_s_bound,
                "tokens_per_s_aggregate": self.decode_tokens_per_s_bound,
                "context_assumed": self.ctx,
                "tokens_per_s_per_sequence_short_context": self.decode_steps_per_s_bound_short,
                "bytes_read_per_step": self.bytes_read_per_step,
                "active_weights_bytes": self.active_weights_bytes,
                "memory_bandwidth_gb_s": self.hardware.memory_bandwidth_gb_s,
                "basis": "memory bandwidth / (active weights + KV cache) per decode step",
            },
        }


_formats_memo: dict[tuple[str, object], tuple[StorageFormat, StorageFormat, bool]] = {}


def _resolve_formats(dtype: object, kv_dtype: object) -> tuple[StorageFormat, StorageFormat, bool]:
    """(weights format, KV format, whether the KV format is the weight format's default)."""
    weights_fmt = storage_format(dtype)
    if kv_dtype is None:
        # Weight-only formats, and 4-bit weights (nvfp4, int4, q4_0): runtimes (vLLM,
        # llama.cpp) keep a 16-bit KV cache unless told otherwise.
        defaulted = not weights_fmt.kv or weights_fmt.bits_per_value < 8
        cache_fmt = storage_format(weights_fmt.default_kv) if defaulted else weights_fmt
    else:
        defaulted = False
        cache_fmt = kv_storage_format(kv_dtype)
    if type(dtype) is str and (kv_dtype is None or type(kv_dtype) is str):
        if len(_formats_memo) >= 1024:
            _formats_memo.clear()  # bounded: callers use a handful of spellings
        _formats_memo[(dtype, kv_dtype)] = (weights_fmt, cache_fmt, defaulted)
    return weights_fmt, cache_fmt, defaulted


def feasibility(
    model: str | ModelShape,
    *,
    hardware: str | HardwareProfile = DEFAULT_HARDWARE,
    ctx: int = 4096,
    batch: int = 1,
    dtype: str = "fp16",
    kv_dtype: str | None = None,
) -> FeasibilityReport:
    """Memory budget of *model* on *hardware* for *batch* sequences of *ctx* tokens.

    Weights count every resident parameter (all MoE experts) at *dtype* (block scales
    included); the KV cache uses *kv_dtype* and the model's GQA/MLA shape, windowed layers
    holding at most their window. *kv_dtype* defaults to *dtype* when a KV cache can be stored
    in it, else to the runtime default for that format (``bf16``/``fp16``; see
    :class:`StorageFormat`). Raises ``UnknownModel``, ``UnknownHardware``, ``UnknownDtype``,
    ``InvalidKVDtype`` (a weight-only format given as *kv_dtype*), or ``ValueError`` for a
    non-positive ctx/batch.
    """
    shape = model if isinstance(model, ModelShape) else get_model(model)
    profile = hardware if isinstance(hardware, HardwareProfile) else get_hardware(hardware)
    c = check_dimension("ctx", ctx)
    b = check_dimension("batch", batch)
    pair = None
    if type(dtype) is str and (kv_dtype is None or type(kv_dtype) is str):
        pair = _formats_memo.get((dtype, kv_dtype))
    if pair is None:
        pair = _resolve_formats(dtype, kv_dtype)
    weights_fmt, cache_fmt, defaulted = pair
    weights_dtype = weights_fmt.name
    weights, active, kv = shape._budget(weights_fmt, cache_fmt, c, b)
    overhead = profile.reserved_bytes + ceil_div((weights + kv) * _OVERHEAD_NUM, _OVERHEAD_DEN)
    return FeasibilityReport(
        model=shape,
        hardware=profile,
        dtype=weights_dtype,
        kv_dtype=cache_fmt.name,
        ctx=c,
        batch=b,
        weights_bytes=weights,
        kv_cache_bytes=kv,
        overhead_bytes=overhead,
        active_weights_bytes=active,
        envelope_rule=_envelope_rule(shape, weights_dtype, profile),
        kv_dtype_defaulted=defaulted,
    )
