"""The report of a quantization run, the GGUF variant list, and human-readable sizes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["GGUF_VARIANTS", "GGUFVariant", "QuantFormat", "QuantReport", "human_bytes"]

#: A llama-quantize type name such as ``"Q4_K_M"``; a plain ``str`` so new types need no change.
GGUFVariant = str
#: ``"gguf"``, ``"awq"``, ``"gptq"``, ``"exl3"``, ``"mlx"`` or ``"nvfp4"``; a plain ``str``.
QuantFormat = str

#: Default variants of :func:`quantize_gguf`, in the order cards list them.
GGUF_VARIANTS: tuple[str, ...] = ("Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "F16")


@dataclass
class QuantReport:
    """What a quantization run produced; measurement fields are filled by the caller."""

    format: str
    base_model: str
    variants: tuple[str, ...]
    variant_files: dict[str, dict[str, Any]] = field(default_factory=dict)
    perplexity: dict[str, float] = field(default_factory=dict)
    tokens_per_sec: dict[str, float] = field(default_factory=dict)
    sustained_load_minutes: float | None = None
    notes: list[str] = field(default_factory=list)
    #: What ``perplexity`` was measured on (a corpus name or file) and the context (``-c``).
    perplexity_text: str | None = None
    perplexity_ctx: int | None = None
    #: The hardware the measurements ran on, as a probe reported it (``probe_hardware()``).
    measured_on: str | None = None


def human_bytes(n: int | None) -> str:
    """``None`` → ``""``; below 1024 → ``"<n> B"``; else one decimal in KB/MB/GB/TB.

    Units are powers of 1024 (``1536`` → ``"1.5 KB"``); from 1024 TB on it stays in TB.
    """
    if n is None:
        return ""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1024.0
        if value < 1024.0 or unit == "TB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")
