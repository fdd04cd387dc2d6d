"""The loaded capabilities document: typed, read-only, loaded once per process.

``Capabilities.load()`` parses the bundled ``spark-capabilities.json`` on first use and hands every
caller the same immutable instance (thread-safe); ``refresh=True`` re-reads it.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, ClassVar

from fieldkit.capabilities._errors import UnknownEnvelope
from fieldkit.capabilities._frozen import FrozenDict, deep_freeze

__all__ = [
    "CAPABILITIES_FILE",
    "Capabilities",
    "Hardware",
    "MemoryBudgetRulesOfThumb",
    "StackEntry",
    "practical_inference_envelope",
    "read_data_file",
]

CAPABILITIES_FILE = "spark-capabilities.json"
_DATA_PACKAGE = "fieldkit.capabilities.data"


def read_data_file(name: str) -> Any:
    """Parse the bundled JSON file *name* (UTF-8) from ``fieldkit.capabilities.data``."""
    text = resources.files(_DATA_PACKAGE).joinpath(name).read_text(encoding="utf-8")
    return json.loads(text)


@dataclass(frozen=True, slots=True)
class Hardware:
    """The box the document describes (DGX Spark)."""

    name: str
    unified_memory_gb: int
    memory_topology: str
    compute_arch: str
    supported_dtypes: tuple[str, ...]
    interconnect_to_other_gpus: str


@dataclass(frozen=True, slots=True)
class MemoryBudgetRulesOfThumb:
    """Bytes per parameter and the prose sizing rules, as read-only mappings."""

    param_bytes: dict[str, float]
    training_overhead_multiplier: str
    kv_cache_per_token_per_layer: str
    practical_inference_envelope: dict[str, str]
    practical_finetune_envelope: dict[str, str]


@dataclass(frozen=True, slots=True)
class StackEntry:
    """One software component of the stack and what it is known to handle."""

    id: str
    label: str
    purpose: str
    verified_in_articles: tuple[str, ...] = ()
    known_limits: tuple[str, ...] = ()
    fits_paper_shapes: tuple[str, ...] = ()
    supported_models_at_spark_scale: tuple[str, ...] = ()


def _strs(values: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in values)


def _str_map(values: Any) -> dict[str, str]:
    return FrozenDict({str(k): str(v) for k, v in values.items()})


def _stack_entry(key: str, entry: dict[str, Any]) -> StackEntry:
    return StackEntry(
        id=str(entry.get("id", key)),
        label=str(entry["label"]),
        purpose=str(entry["purpose"]),
        verified_in_articles=_strs(entry.get("verified_in_articles", ())),
        known_limits=_strs(entry.get("known_limits", ())),
        fits_paper_shapes=_strs(entry.get("fits_paper_shapes", ())),
        supported_models_at_spark_scale=_strs(entry.get("supported_models_at_spark_scale", ())),
    )


@dataclass(frozen=True, slots=True)
class Capabilities:
    """Typed, immutable view of ``spark-capabilities.json``; get it with :meth:`load`."""

    schema: str
    version: str
    hardware: Hardware
    memory_budget_rules_of_thumb: MemoryBudgetRulesOfThumb
    stack: dict[str, StackEntry]
    out_of_envelope_signals: tuple[str, ...]
    in_envelope_signals: tuple[str, ...]
    stage_routing_hints: dict[str, str]
    series_routing_hints: dict[str, str]
    raw: dict[str, Any] = field(repr=False)

    _instance: ClassVar[Capabilities | None] = None
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Capabilities:
        """Build an instance from a parsed document; a missing required key is a ``KeyError``."""
        hw = data["hardware"]
        rules = data["memory_budget_rules_of_thumb"]
        return cls(
            schema=str(data["$schema"]),
            version=str(data["version"]),
            hardware=Hardware(
                name=str(hw["name"]),
                unified_memory_gb=int(hw["unified_memory_gb"]),
                memory_topology=str(hw["memory_topology"]),
                compute_arch=str(hw["compute_arch"]),
                supported_dtypes=_strs(hw["supported_dtypes"]),
                interconnect_to_other_gpus=str(hw["interconnect_to_other_gpus"]),
            ),
            memory_budget_rules_of_thumb=MemoryBudgetRulesOfThumb(
                param_bytes=FrozenDict({str(k): float(v) for k, v in rules["param_bytes"].items()}),
                training_overhead_multiplier=str(rules["training_overhead_multiplier"]),
                kv_cache_per_token_per_layer=str(rules["kv_cache_per_token_per_layer"]),
                practical_inference_envelope=_str_map(rules["practical_inference_envelope"]),
                practical_finetune_envelope=_str_map(rules["practical_finetune_envelope"]),
            ),
            stack=FrozenDict({str(k): _stack_entry(str(k), v) for k, v in data["stack"].items()}),
            out_of_envelope_signals=_strs(data["out_of_envelope_signals"]),
            in_envelope_signals=_strs(data["in_envelope_signals"]),
            stage_routing_hints=_str_map(data["stage_routing_hints"]),
            series_routing_hints=_str_map(data["series_routing_hints"]),
            raw=deep_freeze(data),
        )

    @classmethod
    def load(cls, *, refresh: bool = False) -> Capabilities:
        """The bundled document, parsed once and cached; ``refresh=True`` re-reads and replaces it.

        Concurrent first calls parse once and all get the same object.
        """
        instance = cls._instance
        if instance is not None and not refresh:
            return instance
        with cls._lock:
            if cls._instance is None or refresh:
                cls._instance = cls.from_dict(read_data_file(CAPABILITIES_FILE))
            return cls._instance


def practical_inference_envelope(model_size: str) -> str:
    """The practical-inference-envelope rule for *model_size* (e.g. ``"70B params fp8"``).

    Matching ignores surrounding whitespace and case; unknown sizes raise
    :class:`UnknownEnvelope` naming the known keys.
    """
    table = Capabilities.load().memory_budget_rules_of_thumb.practical_inference_envelope
    wanted = model_size.strip().lower() if isinstance(model_size, str) else None
    for key, rule in table.items():
        if key.lower() == wanted:
            return rule
    raise UnknownEnvelope(f"no envelope rule for {model_size!r}; known keys: {list(table)}")
