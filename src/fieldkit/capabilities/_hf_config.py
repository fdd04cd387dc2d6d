"""A :class:`ModelShape` from a Hugging Face ``config.json`` (a file, a model directory or a dict).

Reads layers, heads, KV heads, head dim, MLA ranks, experts, and the per-layer attention
layout (``layer_types``, ``sliding_window`` + ``sliding_window_pattern`` / ``use_sliding_window``
/ ``max_window_layers``, Nemotron-H ``hybrid_override_pattern``, Nemotron NAS
``block_configs``, Jamba ``attn_layer_period``/``attn_layer_offset``, ``layers_block_type``).
Multimodal configs are read through their ``text_config``. Anything missing, contradictory or
unknown raises :class:`HFConfigError` naming the fields. The parameter count is estimated from
the same config unless given (config files do not state it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fieldkit.capabilities._models import ModelShape

__all__ = ["HFConfigError", "count_parameters", "shape_from_hf_config"]


class HFConfigError(ValueError):
    """The config cannot be read as a model shape; the message names the fields at fault."""


_FULL, _SLIDING, _NONE = "full", "sliding", "none"
_LAYER_TYPES = {
    "full_attention": _FULL,
    "attention": _FULL,
    "global": _FULL,
    "sliding_attention": _SLIDING,
    "sliding_window": _SLIDING,
    "local": _SLIDING,
    "chunked_attention": _SLIDING,
    "mamba": _NONE,
    "mamba2": _NONE,
    "linear_attention": _NONE,
    "conv": _NONE,
    "hybrid": _FULL,
}
_HYBRID_PATTERN = {"*": _FULL, "M": _NONE, "-": _NONE, "E": _NONE}


def _load(source: str | os.PathLike[str] | Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """(the parsed config, a default id) for a file, a directory holding config.json, or a dict."""
    if isinstance(source, Mapping):
        return dict(source), "config"
    path = Path(source)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise HFConfigError(f"no config.json in directory {str(path)!r}")
        default_id = path.resolve().name
        path = path / "config.json"
    else:
        default_id = path.resolve().parent.name or "config"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HFConfigError(f"config file not found: {str(path)!r}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HFConfigError(f"cannot read {str(path)!r}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HFConfigError(f"{str(path)!r} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise HFConfigError(f"{str(path)!r} must hold a JSON object, got {type(data).__name__}")
    return data, default_id


# Values transformers' config classes default to, which saved config.json files then omit.
_MODEL_TYPE_DEFAULTS: dict[str, dict[str, Any]] = {
    "gemma3_text": {  # Gemma3TextConfig
        "sliding_window_pattern": 6,
        "max_position_embeddings": 131072,
        "vocab_size": 262208,
        "tie_word_embeddings": True,
    },
    "gemma2": {"tie_word_embeddings": True},
}


def _flatten(data: Mapping[str, Any]) -> dict[str, Any]:
    """The text model's fields: ``text_config`` (multimodal configs) over the top level, over
    the defaults of its ``model_type`` that saved configs leave out."""
    text = data.get("text_config")
    merged = {**data, **text} if isinstance(text, Mapping) else dict(data)
    defaults = _MODEL_TYPE_DEFAULTS.get(str(merged.get("model_type", "")), {})
    return {**defaults, **{k: v for k, v in merged.items() if v is not None or k not in defaults}}


def _first(cfg: Mapping[str, Any], *names: str) -> tuple[str | None, Any]:
    for name in names:
        if cfg.get(name) is not None:
            return name, cfg[name]
    return None, None


def _int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise HFConfigError(f"{name} must be a whole number, got {value!r}")
    if value <= 0:
        raise HFConfigError(f"{name} must be positive, got {value!r}")
    return int(value)


def _required(cfg: Mapping[str, Any], *alternatives: tuple[str, ...]) -> list[int]:
    """One positive int per group of alternative field names; all missing groups in one error."""
    values: list[int] = []
    missing: list[str] = []
    for names in alternatives:
        name, value = _first(cfg, *names)
        if name is None:
            missing.append(" / ".join(names))
            values.append(0)
        else:
            values.append(_int(name, value))
    if missing:
        raise HFConfigError(f"config.json lacks {', '.join(missing)}")
    return values


def _layer_kinds(
    cfg: Mapping[str, Any], n_layers: int, n_heads: int
) -> tuple[list[str], int | None]:
    """Per-layer cache kind (full / sliding / none) and, for NAS configs, the KV head count."""
    kv_heads: int | None = None
    pattern = cfg.get("hybrid_override_pattern")
    layer_types = cfg.get("layer_types")
    blocks = cfg.get("block_configs")
    block_types = cfg.get("layers_block_type")
    if pattern is not None:
        if not isinstance(pattern, str) or len(pattern) != n_layers:
            raise HFConfigError(
                f"hybrid_override_pattern must be a string of num_hidden_layers ({n_layers}) "
                f"characters, got {pattern!r}"
            )
        unknown = sorted(set(pattern) - set(_HYBRID_PATTERN))
        if unknown:
            raise HFConfigError(f"hybrid_override_pattern has unknown block kinds {unknown}")
        return [_HYBRID_PATTERN[ch] for ch in pattern], None
    if blocks is not None:
        if not isinstance(blocks, list) or len(blocks) != n_layers:
            raise HFConfigError(f"block_configs must list num_hidden_layers ({n_layers}) blocks")
        kinds: list[str] = []
        groups: set[int] = set()
        for i, block in enumerate(blocks):
            attention = block.get("attention") if isinstance(block, Mapping) else None
            if not isinstance(attention, Mapping):
                raise HFConfigError(f"block_configs[{i}] has no attention object")
            if attention.get("no_op") or attention.get("replace_with_linear"):
                kinds.append(_NONE)
                continue
            group = attention.get("n_heads_in_group")
            groups.add(_int(f"block_configs[{i}].attention.n_heads_in_group", group))
            kinds.append(_FULL)
        if len(groups) > 1:
            raise HFConfigError(
                f"block_configs: attention blocks differ in n_heads_in_group {sorted(groups)}; "
                "one KV head count per model is supported"
            )
        if groups:
            (group,) = groups
            if n_heads % group:
                raise HFConfigError(
                    f"block_configs n_heads_in_group {group} does not divide "
                    f"num_attention_heads {n_heads}"
                )
            kv_heads = n_heads // group
        return kinds, kv_heads
    if layer_types is not None or block_types is not None:
        field_name = "layer_types" if layer_types is not None else "layers_block_type"
        listed = layer_types if layer_types is not None else block_types
        if not isinstance(listed, list) or len(listed) != n_layers:
            raise HFConfigError(
                f"{field_name} must list num_hidden_layers ({n_layers}) entries, got "
                f"{len(listed) if isinstance(listed, list) else type(listed).__name__}"
            )
        unknown = sorted({str(t) for t in listed if _LAYER_TYPES.get(str(t)) is None})
        if unknown:
            raise HFConfigError(
                f"{field_name} has unknown layer kinds {unknown}; known: {sorted(_LAYER_TYPES)}"
            )
        return [_LAYER_TYPES[str(t)] for t in listed], None
    period, offset = cfg.get("attn_layer_period"), cfg.get("attn_layer_offset")
    if period is not None or offset is not None:
        if period is None or offset is None:
            raise HFConfigError("set both attn_layer_period and attn_layer_offset, or neither")
        p = _int("attn_layer_period", period)
        if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset < p:
            raise HFConfigError(f"attn_layer_offset must be in [0, {p}), got {offset!r}")
        return [_FULL if i % p == offset else _NONE for i in range(n_layers)], None
    return [_FULL] * n_layers, None


def _apply_window(cfg: Mapping[str, Any], kinds: list[str]) -> int | None:
    """Mark windowed layers in *kinds* (in place); return the window, or ``None``."""
    window_value = cfg.get("sliding_window")
    window = None if window_value is None else _int("sliding_window", window_value)
    if _SLIDING in kinds:
        if window is None:
            raise HFConfigError(
                "layer_types lists sliding_attention layers but sliding_window is unset"
            )
        return window
    if cfg.get("layer_types") is not None:  # an explicit layout is the whole truth
        return None
    if window is None or cfg.get("use_sliding_window") is False:
        return None
    attention = [i for i, kind in enumerate(kinds) if kind == _FULL]
    pattern_value = cfg.get("sliding_window_pattern")
    if pattern_value is not None:  # Gemma 3: every pattern-th layer is global
        pattern = _int("sliding_window_pattern", pattern_value)
        windowed = [i for i in attention if (i + 1) % pattern]
    elif str(cfg.get("model_type", "")).startswith("gemma2"):  # Gemma 2: even layers local
        windowed = [i for i in attention if i % 2 == 0]
    elif cfg.get("use_sliding_window") is True and cfg.get("max_window_layers") is not None:
        first = (
            _int("max_window_layers", cfg["max_window_layers"]) if cfg["max_window_layers"] else 0
        )
        windowed = [i for i in attention if i >= first]
    else:  # Mistral semantics: the window applies to every attention layer
        windowed = attention
    for i in windowed:
        kinds[i] = _SLIDING
    return window if windowed else None


def count_parameters(cfg: Mapping[str, Any]) -> tuple[int, int]:
    """(total, active per token) parameters of a decoder-only transformer *cfg*, estimated.

    Counts embeddings (and an untied output head), attention (GQA or MLA, with biases when
    ``attention_bias``), gated MLPs or MoE experts (+ router, shared experts) and norms. The
    active count leaves out an untied input embedding (a token reads one row of it), as the
    gpt-oss model card does; expert biases and other small tensors are not counted.
    Blocks it cannot count (Mamba, NAS ``block_configs``) raise :class:`HFConfigError`.
    """
    cfg = _flatten(cfg)
    if cfg.get("hybrid_override_pattern") is not None or cfg.get("block_configs") is not None:
        raise HFConfigError(
            "cannot count parameters of hybrid/NAS blocks (hybrid_override_pattern, "
            "block_configs) from config.json; give the parameter count (params_b / --params-b)"
        )
    n_layers, n_heads, hidden, vocab = _required(
        cfg,
        ("num_hidden_layers", "n_layer", "num_layers"),
        ("num_attention_heads", "n_head", "num_heads"),
        ("hidden_size", "n_embd", "d_model"),
        ("vocab_size",),
    )
    kinds, _ = _layer_kinds(cfg, n_layers, n_heads)
    if _NONE in kinds:
        raise HFConfigError(
            "cannot count parameters of non-attention (Mamba/linear) layers from config.json; "
            "give the parameter count (params_b / --params-b)"
        )
    embed = vocab * hidden * (1 if cfg.get("tie_word_embeddings", True) else 2)
    if cfg.get("kv_lora_rank") is not None:
        kv_lora, rope, nope, v_dim = _required(
            cfg, ("kv_lora_rank",), ("qk_rope_head_dim",), ("qk_nope_head_dim",), ("v_head_dim",)
        )
        q_lora = cfg.get("q_lora_rank")
        qk = nope + rope
        q = hidden * q_lora + q_lora * n_heads * qk + q_lora if q_lora else hidden * n_heads * qk
        attention = (
            q + hidden * (kv_lora + rope) + kv_lora + kv_lora * n_heads * (nope + v_dim)
        ) + n_heads * v_dim * hidden
    else:
        n_kv = _kv_heads(cfg, n_heads)
        head_dim = _head_dim(cfg, hidden, n_heads)
        attention = 2 * hidden * n_heads * head_dim + 2 * hidden * n_kv * head_dim
        if cfg.get("attention_bias"):
            attention += n_heads * head_dim + 2 * n_kv * head_dim + hidden
    norms = 2 * hidden
    experts = _experts(cfg)
    dense_inter = cfg.get("intermediate_size")
    if experts is None:
        if dense_inter is None:
            raise HFConfigError("config.json lacks intermediate_size (needed to count parameters)")
        mlp = 3 * hidden * _int("intermediate_size", dense_inter)
        total = active = n_layers * (attention + mlp + norms)
    else:
        n_experts, per_token = experts
        name, moe_inter_value = _first(cfg, "moe_intermediate_size", "intermediate_size")
        if name is None:
            raise HFConfigError("config.json lacks moe_intermediate_size / intermediate_size")
        expert = 3 * hidden * _int(name, moe_inter_value)
        shared = 0
        if cfg.get("n_shared_experts"):
            shared = _int("n_shared_experts", cfg["n_shared_experts"]) * expert
        if cfg.get("shared_expert_intermediate_size"):
            size = _int("shared_expert_intermediate_size", cfg["shared_expert_intermediate_size"])
            shared += 3 * hidden * size + hidden
        router = hidden * n_experts
        dense_layers = int(cfg.get("first_k_dense_replace") or 0)
        dense_mlp = 3 * hidden * int(dense_inter or 0)
        moe_layers = n_layers - dense_layers
        base = n_layers * (attention + norms) + dense_layers * dense_mlp
        total = base + moe_layers * (n_experts * expert + shared + router)
        active = base + moe_layers * (per_token * expert + shared + router)
    # A decoded token reads one row of the input embedding, but all of the output head.
    return total + embed + hidden, active + vocab * hidden + hidden


def _kv_heads(cfg: Mapping[str, Any], n_heads: int) -> int:
    name, value = _first(cfg, "num_key_value_heads", "num_kv_heads", "n_head_kv")
    if name is not None:
        return _int(name, value)
    if cfg.get("multi_query"):
        return 1
    return n_heads  # the Hugging Face default: one KV head per query head


def _head_dim(cfg: Mapping[str, Any], hidden: int, n_heads: int) -> int:
    if cfg.get("head_dim") is not None:
        return _int("head_dim", cfg["head_dim"])
    if hidden % n_heads:
        raise HFConfigError(
            f"head_dim is unset and hidden_size {hidden} is not a multiple of "
            f"num_attention_heads {n_heads}"
        )
    return hidden // n_heads


def _experts(cfg: Mapping[str, Any]) -> tuple[int, int] | None:
    name, n_experts = _first(cfg, "num_local_experts", "num_experts", "n_routed_experts")
    if name is None or n_experts in (0, 1):
        return None
    total = _int(name, n_experts)
    k_name, k = _first(
        cfg, "num_experts_per_tok", "experts_per_token", "num_experts_per_token", "moe_topk"
    )
    if k_name is None:
        raise HFConfigError(
            f"config.json sets {name}={total} but none of num_experts_per_tok / "
            "experts_per_token / num_experts_per_token"
        )
    per_token = _int(k_name, k)
    if per_token > total:
        raise HFConfigError(f"{k_name} ({per_token}) exceeds {name} ({total})")
    return total, per_token


def shape_from_hf_config(
    source: str | os.PathLike[str] | Mapping[str, Any],
    *,
    model_id: str | None = None,
    params_b: float | None = None,
    active_params_b: float | None = None,
) -> ModelShape:
    """The :class:`ModelShape` a Hugging Face config describes.

    *source* is a ``config.json`` path, a model directory holding one, or the parsed dict.
    *params_b* / *active_params_b* (billions) override the estimate from the config; they are
    required for hybrid Mamba and NAS configs. Raises :class:`HFConfigError`.
    """
    raw, default_id = _load(source)
    cfg = _flatten(raw)
    n_layers, n_heads = _required(
        cfg,
        ("num_hidden_layers", "n_layer", "num_layers"),
        ("num_attention_heads", "n_head", "num_heads"),
    )
    kinds, nas_kv_heads = _layer_kinds(cfg, n_layers, n_heads)
    window = _apply_window(cfg, kinds)
    kv_layers = sum(kind != _NONE for kind in kinds)
    if kv_layers == 0:
        raise HFConfigError("no layer keeps a KV cache (no attention layers in the layout)")
    windowed = sum(kind == _SLIDING for kind in kinds)
    experts = _experts(cfg)
    mla = cfg.get("kv_lora_rank") is not None
    kv_lora = rope = None
    if mla:
        kv_lora, rope = _required(cfg, ("kv_lora_rank",), ("qk_rope_head_dim",))
        name, nope = _first(cfg, "qk_nope_head_dim")
        head_dim = rope + (_int("qk_nope_head_dim", nope) if name else 0)
        n_kv = n_heads
    else:
        hidden = 0
        if cfg.get("head_dim") is None:
            (hidden,) = _required(cfg, ("hidden_size", "n_embd", "d_model"))
        head_dim = _head_dim(cfg, hidden, n_heads)
        n_kv = nas_kv_heads if nas_kv_heads is not None else _kv_heads(cfg, n_heads)
        if n_kv > n_heads or n_heads % n_kv:
            raise HFConfigError(
                f"num_key_value_heads ({n_kv}) must divide num_attention_heads ({n_heads})"
            )
    notes = "Shape read from config.json."
    if params_b is None:
        total, active = count_parameters(cfg)
        params_b = total / 1e9
        if active_params_b is None and experts is not None:
            active_params_b = active / 1e9
        notes += " Parameter count estimated from the config (embeddings, attention, MLP, norms)."
    name, max_pos = _first(cfg, "max_position_embeddings", "n_positions", "max_seq_len")
    ident = model_id or str(raw.get("_name_or_path") or default_id)
    try:
        return ModelShape(
            id=ident,
            name=ident,
            params_b=params_b,
            n_layers=n_layers,
            attention="mla" if mla else ("mha" if n_kv == n_heads else "gqa"),
            n_heads=n_heads,
            n_kv_heads=n_kv,
            head_dim=head_dim,
            active_params_b=active_params_b,
            max_context=None if name is None else _int(name, max_pos),
            kv_layers=kv_layers if kv_layers != n_layers else None,
            kv_lora_rank=kv_lora,
            qk_rope_head_dim=rope,
            n_experts=None if experts is None else experts[0],
            experts_per_token=None if experts is None else experts[1],
            sliding_window=window,
            sliding_window_layers=windowed if window is not None else None,
            notes=notes,
        )
    except (TypeError, ValueError) as exc:
        raise HFConfigError(str(exc)) from None
