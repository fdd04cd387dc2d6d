"""Quantize models with llama.cpp's tools and measure the result (perplexity, tokens/s, heat).

A thin orchestration layer: ``llama-quantize``, ``llama-perplexity``, ``llama-bench`` and
``convert_hf_to_gguf.py`` do the work; no quantization math runs in Python. Importing this
module probes nothing.
"""

from __future__ import annotations

from fieldkit.quant._errors import (
    LlamaCppNotFound,
    QuantError,
    QuantTimeout,
    QuantToolError,
    ThermalUnavailable,
)
from fieldkit.quant._gguf import file_type_name as gguf_file_type_name
from fieldkit.quant._gguf import read_gguf_metadata
from fieldkit.quant._host import probe_hardware
from fieldkit.quant._measure import (
    measure_perplexity_gguf,
    measure_tokens_per_sec_gguf,
    sample_text_path,
)
from fieldkit.quant._parse import parse_llama_bench_output, parse_perplexity_output
from fieldkit.quant._paths import LlamaCppPaths
from fieldkit.quant._quantize import quantize_gguf
from fieldkit.quant._report import (
    GGUF_VARIANTS,
    GGUFVariant,
    QuantFormat,
    QuantReport,
)
from fieldkit.quant._report import human_bytes as _human_bytes  # noqa: F401
from fieldkit.quant._stubs import (
    quantize_awq,
    quantize_exl3,
    quantize_gptq,
    quantize_mlx,
    quantize_nvfp4,
)
from fieldkit.quant._thermal import ThermalProbe, ThermalReading
from fieldkit.quant._thermal import (  # noqa: F401
    parse_nvidia_smi_csv_lenient as _parse_nvidia_smi_csv,
)

# ``_human_bytes`` and ``_parse_nvidia_smi_csv`` keep the private names code written for the
# published package imports.


__all__ = [
    "GGUF_VARIANTS",
    "GGUFVariant",
    "LlamaCppNotFound",
    "LlamaCppPaths",
    "QuantError",
    "QuantFormat",
    "QuantReport",
    "QuantTimeout",
    "QuantToolError",
    "ThermalProbe",
    "ThermalReading",
    "ThermalUnavailable",
    "gguf_file_type_name",
    "measure_perplexity_gguf",
    "measure_tokens_per_sec_gguf",
    "parse_llama_bench_output",
    "parse_perplexity_output",
    "probe_hardware",
    "quantize_awq",
    "quantize_exl3",
    "quantize_gguf",
    "quantize_gptq",
    "quantize_mlx",
    "quantize_nvfp4",
    "read_gguf_metadata",
    "sample_text_path",
]
