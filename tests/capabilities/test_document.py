"""The bundled DGX Spark document: 0.3.0's pinned values, caching, immutability, packaging."""

from __future__ import annotations

import copy
import json
import pickle
from importlib import resources

import pytest

import fieldkit.capabilities as caps_mod
from fieldkit.capabilities import (
    DTYPE_BYTES,
    Capabilities,
    Hardware,
    MemoryBudgetRulesOfThumb,
    StackEntry,
    UnknownEnvelope,
    practical_inference_envelope,
)
from tests.capabilities._concurrency import call_concurrently

OLD_ALL = {
    "Capabilities",
    "Hardware",
    "MemoryBudgetRulesOfThumb",
    "StackEntry",
    "kv_cache_bytes",
    "weight_bytes",
    "practical_inference_envelope",
    "DTYPE_BYTES",
    "UnknownDtype",
    "UnknownEnvelope",
}

ENVELOPE = {
    "8B params bf16": "fits with room — ~16 GB weights + KV; 24.8 tok/s measured on NIM",
    "70B params bf16": (
        "marginal — 140 GB weights alone exceeds the unified pool; "
        "requires fp8/int4 quant or offload"
    ),
    "70B params fp8": (
        "~70 GB weights; leaves ~50 GB for KV + activations + system; tight but possible"
    ),
    "70B params int4": "~35 GB weights; comfortable",
    "405B+ params": "out of envelope at any common quant; belongs in Looking Beyond Spark",
}


def test_all_contains_the_0_3_0_surface() -> None:
    assert set(caps_mod.__all__) >= OLD_ALL
    for name in caps_mod.__all__:
        assert hasattr(caps_mod, name), name


def test_json_ships_as_package_data() -> None:
    data = resources.files("fieldkit.capabilities.data")
    for name in ("spark-capabilities.json", "hardware.json", "models.json"):
        assert data.joinpath(name).is_file(), name
        json.loads(data.joinpath(name).read_text(encoding="utf-8"))


def test_load_is_cached_and_refresh_rebuilds() -> None:
    first = Capabilities.load()
    assert Capabilities.load() is first
    fresh = Capabilities.load(refresh=True)
    assert fresh is not first
    assert fresh == first
    assert fresh.version == first.version == "2026.05.01"
    assert Capabilities.load() is fresh


def test_refresh_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        Capabilities.load(True)  # type: ignore[call-arg]


def test_concurrent_first_loads_share_one_instance() -> None:
    Capabilities._instance = None
    seen = call_concurrently(Capabilities.load)
    assert all(c is seen[0] for c in seen)


def test_hardware_facts() -> None:
    hw = Capabilities.load().hardware
    assert isinstance(hw, Hardware)
    assert hw.unified_memory_gb == 128
    assert isinstance(hw.unified_memory_gb, int)
    assert "GB10" in hw.name and "DGX Spark" in hw.name
    assert hw.name == "NVIDIA DGX Spark (GB10 Grace Blackwell)"
    assert "bf16" in hw.supported_dtypes
    assert isinstance(hw.supported_dtypes, tuple)
    # every entry is a plain dtype token (0.3.0 had "int4 (via NIM/TRT-LLM)")
    assert all(d in DTYPE_BYTES for d in hw.supported_dtypes)


def test_document_header_and_fields() -> None:
    caps = Capabilities.load()
    assert caps.schema == "spark-capabilities-v1"
    assert list(caps.raw) == [
        "$schema",
        "version",
        "hardware",
        "memory_budget_rules_of_thumb",
        "stack",
        "out_of_envelope_signals",
        "in_envelope_signals",
        "stage_routing_hints",
        "series_routing_hints",
    ]
    assert len(caps.in_envelope_signals) >= 5
    assert len(caps.out_of_envelope_signals) >= 3
    assert (len(caps.out_of_envelope_signals), len(caps.in_envelope_signals)) == (5, 8)
    assert list(caps.stage_routing_hints) == [
        "foundations",
        "training",
        "fine-tuning",
        "inference",
        "deployment",
        "agentic",
        "observability",
        "dev-tools",
    ]
    assert list(caps.series_routing_hints) == [
        "Foundations",
        "Second Brain",
        "LLM Wiki",
        "Autoresearch",
        "Looking Beyond Spark",
        "Frontier Scout",
    ]
    assert "raw=" not in repr(caps)


def test_rules_of_thumb() -> None:
    rules = Capabilities.load().memory_budget_rules_of_thumb
    assert isinstance(rules, MemoryBudgetRulesOfThumb)
    assert dict(rules.practical_inference_envelope) == ENVELOPE
    assert list(rules.practical_inference_envelope) == list(ENVELOPE)
    assert list(rules.practical_finetune_envelope) == [
        "LoRA on 8B",
        "LoRA on 70B fp8",
        "Full fine-tune on 8B",
        "Full fine-tune on 70B",
    ]
    # one source of truth: the document's param bytes agree with the math table
    assert dict(rules.param_bytes) == DTYPE_BYTES
    assert all(isinstance(v, float) for v in rules.param_bytes.values())
    assert isinstance(rules.training_overhead_multiplier, str)
    assert isinstance(rules.kv_cache_per_token_per_layer, str)


def test_stack_entries() -> None:
    stack = Capabilities.load().stack
    assert list(stack) == [
        "nim",
        "nemo",
        "tensorrt_llm",
        "triton",
        "nemo_retriever",
        "pgvector",
        "nemoclaw",
        "nemo_guardrails",
        "openclaw",
        "ollama",
    ]
    assert all(isinstance(e, StackEntry) for e in stack.values())
    assert stack["tensorrt_llm"].id == "tensorrt-llm"
    assert stack["nemo_retriever"].id == "nemo-retriever"
    assert stack["nemo_guardrails"].id == "nemo-guardrails"
    assert stack["nemo_guardrails"].known_limits == ()
    assert "8192" in stack["nim"].known_limits[0]
    assert stack["nim"].supported_models_at_spark_scale
    assert all(e.supported_models_at_spark_scale == () for k, e in stack.items() if k != "nim")
    assert stack["ollama"].verified_in_articles == ()
    assert stack["ollama"].fits_paper_shapes == ()


def test_stack_entry_defaults() -> None:
    entry = StackEntry(id="x", label="X", purpose="p")
    assert entry.verified_in_articles == entry.known_limits == ()
    assert entry.fits_paper_shapes == entry.supported_models_at_spark_scale == ()


def test_from_dict_missing_key_is_keyerror() -> None:
    data = json.loads(json.dumps(Capabilities.load().raw))
    del data["stack"]["nim"]["label"]
    with pytest.raises(KeyError):
        Capabilities.from_dict(data)
    data = json.loads(json.dumps(Capabilities.load().raw))
    del data["$schema"]
    with pytest.raises(KeyError):
        Capabilities.from_dict(data)


def test_stack_entry_id_falls_back_to_key() -> None:
    data = json.loads(json.dumps(Capabilities.load().raw))
    del data["stack"]["triton"]["id"]
    assert Capabilities.from_dict(data).stack["triton"].id == "triton"


def test_singleton_cannot_be_mutated() -> None:
    caps = Capabilities.load()
    with pytest.raises(TypeError):
        caps.stack["evil"] = caps.stack["nim"]
    with pytest.raises(TypeError):
        caps.memory_budget_rules_of_thumb.param_bytes["fp8"] = 9.0
    with pytest.raises(TypeError):
        caps.memory_budget_rules_of_thumb.practical_inference_envelope.clear()
    with pytest.raises(TypeError):
        caps.raw["hardware"]["name"] = "x"
    with pytest.raises(TypeError):
        caps.stage_routing_hints.update({"x": "y"})
    assert practical_inference_envelope("70B params fp8") == ENVELOPE["70B params fp8"]


def test_frozen_views_are_still_dicts_hashable_and_serialisable() -> None:
    caps = Capabilities.load()
    assert isinstance(caps.stack, dict)
    assert isinstance(caps.raw, dict)
    assert isinstance(hash(caps), int)
    assert json.loads(json.dumps(caps.raw))["hardware"]["unified_memory_gb"] == 128
    assert pickle.loads(pickle.dumps(caps)) == caps
    assert copy.deepcopy(caps) == caps
    # a plain-dict copy is the caller's to change
    mine = dict(caps.stage_routing_hints)
    mine["x"] = "y"
    assert "x" not in caps.stage_routing_hints


def test_envelope_lookup() -> None:
    assert "70 GB weights" in practical_inference_envelope("70B params fp8")
    assert "70 GB weights" in practical_inference_envelope("  70B PARAMS FP8  ")
    assert "out of envelope" in practical_inference_envelope("405B+ params").lower()
    for key, rule in ENVELOPE.items():
        assert practical_inference_envelope(key) == rule


def test_envelope_unknown() -> None:
    with pytest.raises(UnknownEnvelope) as info:
        practical_inference_envelope("17B params bf16")
    assert isinstance(info.value, KeyError)
    assert str(info.value) == (
        "no envelope rule for '17B params bf16'; known keys: ['8B params bf16', "
        "'70B params bf16', '70B params fp8', '70B params int4', '405B+ params']"
    )
    # inner whitespace is not normalised
    with pytest.raises(UnknownEnvelope):
        practical_inference_envelope("70B  params fp8")
    with pytest.raises(UnknownEnvelope):
        practical_inference_envelope(None)  # type: ignore[arg-type]


def test_dataclass_field_order() -> None:
    from dataclasses import fields

    assert [f.name for f in fields(Hardware)] == [
        "name",
        "unified_memory_gb",
        "memory_topology",
        "compute_arch",
        "supported_dtypes",
        "interconnect_to_other_gpus",
    ]
    assert [f.name for f in fields(Capabilities)] == [
        "schema",
        "version",
        "hardware",
        "memory_budget_rules_of_thumb",
        "stack",
        "out_of_envelope_signals",
        "in_envelope_signals",
        "stage_routing_hints",
        "series_routing_hints",
        "raw",
    ]
    assert [f.name for f in fields(StackEntry)][:3] == ["id", "label", "purpose"]
