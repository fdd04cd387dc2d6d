"""fieldkit.capabilities — memory feasibility math for LLMs on one box, and the box's facts.

The published surface, same names and results (``Capabilities`` over the bundled DGX Spark
document, ``kv_cache_bytes``, ``weight_bytes``, ``practical_inference_envelope``, ``DTYPE_BYTES``
and the two errors), plus
storage formats with their real cost (block-scaled fp4, GPTQ/AWQ, GGUF), catalogs of hardware
profiles and model shapes (or a shape read from any Hugging Face ``config.json``) and a
:func:`feasibility` report (GQA, MLA, MoE, sliding-window and hybrid aware; exact byte counts;
verdict; decode tokens/s upper bound).
"""

from __future__ import annotations

from fieldkit.capabilities._capabilities import (
    Capabilities,
    Hardware,
    MemoryBudgetRulesOfThumb,
    StackEntry,
    practical_inference_envelope,
)
from fieldkit.capabilities._dtypes import DTYPE_BYTES
from fieldkit.capabilities._envelope import envelope_rules
from fieldkit.capabilities._errors import (
    UnknownDtype,
    UnknownEnvelope,
    UnknownHardware,
    UnknownModel,
)
from fieldkit.capabilities._feasibility import (
    OVERHEAD_FRACTION,
    TIGHT_HEADROOM_FRACTION,
    FeasibilityReport,
    Verdict,
    envelope_key,
    feasibility,
)
from fieldkit.capabilities._formats import (
    FORMATS,
    KV_FORMATS,
    InvalidKVDtype,
    StorageFormat,
    kv_storage_format,
    storage_format,
)
from fieldkit.capabilities._hf_config import HFConfigError, count_parameters, shape_from_hf_config
from fieldkit.capabilities._math import kv_cache_bytes, weight_bytes
from fieldkit.capabilities._models import ModelShape, get_model, model_shapes
from fieldkit.capabilities._profiles import (
    DEFAULT_HARDWARE,
    HardwareProfile,
    get_hardware,
    hardware_profiles,
)
from fieldkit.capabilities._render import render_feasibility

__all__ = [
    "DEFAULT_HARDWARE",
    "DTYPE_BYTES",
    "FORMATS",
    "KV_FORMATS",
    "OVERHEAD_FRACTION",
    "TIGHT_HEADROOM_FRACTION",
    "Capabilities",
    "FeasibilityReport",
    "HFConfigError",
    "Hardware",
    "HardwareProfile",
    "InvalidKVDtype",
    "MemoryBudgetRulesOfThumb",
    "ModelShape",
    "StackEntry",
    "StorageFormat",
    "UnknownDtype",
    "UnknownEnvelope",
    "UnknownHardware",
    "UnknownModel",
    "Verdict",
    "count_parameters",
    "envelope_key",
    "envelope_rules",
    "feasibility",
    "get_hardware",
    "get_model",
    "hardware_profiles",
    "kv_cache_bytes",
    "kv_storage_format",
    "model_shapes",
    "practical_inference_envelope",
    "render_feasibility",
    "shape_from_hf_config",
    "storage_format",
    "weight_bytes",
]
