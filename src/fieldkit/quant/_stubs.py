"""Quantization formats fieldkit does not produce yet; each says what it would need."""

from __future__ import annotations

from typing import Any, NoReturn

from fieldkit.quant._report import QuantReport

__all__ = ["quantize_awq", "quantize_exl3", "quantize_gptq", "quantize_mlx", "quantize_nvfp4"]

_NEEDS = {
    "quantize_awq": (
        "AWQ",
        "an NVIDIA CUDA GPU and a calibration run with llm-compressor (or AutoAWQ)",
    ),
    "quantize_gptq": (
        "GPTQ",
        "an NVIDIA CUDA GPU and a calibration run with GPTQModel (or llm-compressor)",
    ),
    "quantize_exl3": ("EXL3", "an NVIDIA CUDA GPU and exllamav3's convert script"),
    "quantize_mlx": ("MLX", "Apple silicon (macOS) with mlx-lm (`mlx_lm.convert -q`)"),
    "quantize_nvfp4": (
        "NVFP4",
        "a Blackwell-class NVIDIA GPU and NVIDIA TensorRT Model Optimizer (nvidia-modelopt)",
    ),
}


def _not_implemented(name: str) -> NoReturn:
    fmt, needs = _NEEDS[name]
    raise NotImplementedError(
        f"{name}: {fmt} quantization is not implemented yet (on the roadmap; no release is "
        f"promised). It needs {needs}; today use quantize_gguf for llama.cpp GGUF variants"
    )


def quantize_awq(**kwargs: Any) -> QuantReport:
    """AWQ 4-bit: not implemented; raises :class:`NotImplementedError` saying what it needs."""
    _not_implemented("quantize_awq")


def quantize_gptq(**kwargs: Any) -> QuantReport:
    """GPTQ: not implemented; raises :class:`NotImplementedError` saying what it needs."""
    _not_implemented("quantize_gptq")


def quantize_exl3(**kwargs: Any) -> QuantReport:
    """EXL3 (exllamav3): not implemented; raises :class:`NotImplementedError`."""
    _not_implemented("quantize_exl3")


def quantize_mlx(**kwargs: Any) -> QuantReport:
    """MLX: not implemented; raises :class:`NotImplementedError` saying what it needs."""
    _not_implemented("quantize_mlx")


def quantize_nvfp4(**kwargs: Any) -> QuantReport:
    """NVFP4: not implemented; raises :class:`NotImplementedError` saying what it needs."""
    _not_implemented("quantize_nvfp4")
