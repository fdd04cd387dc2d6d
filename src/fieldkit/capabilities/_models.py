"""Model shapes: the numbers the memory math needs (layers, KV heads, head dim or MLA latent,
total and active parameters), and the per-model weight/KV byte counts derived from them.

The catalog is ``data/models.json``; its first three ids keep the published catalog's numbers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from fieldkit.capabilities._catalog import Catalog
from fieldkit.capabilities._errors import UnknownModel
from fieldkit.capabilities._formats import StorageFormat, kv_storage_format, storage_format
from fieldkit.capabilities._math import billions_ratio, check_dimension

__all__ = ["Attention", "ModelShape", "get_model", "model_shapes"]

MODELS_FILE = "models.json"
Attention = Literal["mha", "gqa", "mla"]
_ATTENTION: tuple[str, ...] = ("mha", "gqa", "mla")


@dataclass(frozen=True, slots=True)
class ModelShape:
    """A transformer's memory-relevant shape.

    ``params_b`` is every parameter that must be resident (all experts of an MoE);
    ``active_params_b`` is what one token reads (``None`` → dense, equal to ``params_b``).
    ``kv_layers`` is the number of layers that keep a KV cache (``None`` → ``n_layers``; Mamba
    and attention-free blocks keep none); ``max_context`` the longest context the model supports
    (``None`` → unknown). MLA models set ``kv_lora_rank`` and ``qk_rope_head_dim``.
    ``sliding_window`` is the window of the windowed (local) attention layers and
    ``sliding_window_layers`` how many of the ``kv_layers`` use it (``None`` → all of them): such a
    layer caches at most ``sliding_window`` tokens whatever the context.
    """

    id: str
    name: str
    params_b: float
    n_layers: int
    attention: Attention
    n_heads: int
    n_kv_heads: int
    head_dim: int
    active_params_b: float | None = None
    max_context: int | None = None
    kv_layers: int | None = None
    kv_lora_rank: int | None = None
    qk_rope_head_dim: int | None = None
    n_experts: int | None = None
    experts_per_token: int | None = None
    sliding_window: int | None = None
    sliding_window_layers: int | None = None
    envelope_size: str | None = None
    aliases: tuple[str, ...] = ()
    notes: str = ""

    # Derived once at construction (exact integers), so per-call byte math is a multiply.
    _params: tuple[int, int] = field(init=False, repr=False, compare=False)
    _active_params: tuple[int, int] = field(init=False, repr=False, compare=False)
    _kv_full: int = field(init=False, repr=False, compare=False)
    _kv_windowed: int = field(init=False, repr=False, compare=False)
    _window: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        total = billions_ratio(self.params_b)
        active = total
        if self.active_params_b is not None:
            active = billions_ratio(self.active_params_b, "active_params_b")
            if active[0] * total[1] > total[0] * active[1]:
                raise ValueError(
                    f"{self.id}: active_params_b ({self.active_params_b}) exceeds params_b "
                    f"({self.params_b})"
                )
        # Whole-number floats (``4.0``) are accepted and stored as ints.
        for name in ("n_layers", "n_heads", "n_kv_heads", "head_dim"):
            object.__setattr__(self, name, check_dimension(name, getattr(self, name)))
        if self.attention not in _ATTENTION:
            raise ValueError(f"attention must be one of {list(_ATTENTION)}, got {self.attention!r}")
        if self.n_kv_heads > self.n_heads or self.n_heads % self.n_kv_heads:
            raise ValueError(
                f"{self.id}: n_kv_heads ({self.n_kv_heads}) must divide n_heads ({self.n_heads})"
            )
        if self.attention == "mha" and self.n_kv_heads != self.n_heads:
            raise ValueError(f"{self.id}: MHA needs n_kv_heads == n_heads")
        if self.attention == "mla" and (self.kv_lora_rank is None or self.qk_rope_head_dim is None):
            raise ValueError(f"{self.id}: MLA needs kv_lora_rank and qk_rope_head_dim")
        for name in ("kv_lora_rank", "qk_rope_head_dim", "max_context", "kv_layers"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, check_dimension(name, getattr(self, name)))
        if self.kv_layers is not None and self.kv_layers > self.n_layers:
            raise ValueError(f"{self.id}: kv_layers exceeds n_layers")
        for name in ("sliding_window", "sliding_window_layers"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, check_dimension(name, getattr(self, name)))
        if self.sliding_window is None and self.sliding_window_layers is not None:
            raise ValueError(f"{self.id}: sliding_window_layers needs a sliding_window")
        if (
            self.sliding_window_layers is not None
            and self.sliding_window_layers > self.cache_layers
        ):
            raise ValueError(f"{self.id}: sliding_window_layers exceeds the KV layers")
        if (self.n_experts is None) != (self.experts_per_token is None):
            raise ValueError(f"{self.id}: set both n_experts and experts_per_token, or neither")
        if self.n_experts is not None and self.experts_per_token is not None:
            experts = check_dimension("n_experts", self.n_experts)
            if check_dimension("experts_per_token", self.experts_per_token) > experts:
                raise ValueError(f"{self.id}: experts_per_token exceeds n_experts")
        object.__setattr__(self, "_params", total)
        object.__setattr__(self, "_active_params", active)
        per_layer = self.kv_elements_per_token_per_layer
        object.__setattr__(self, "_kv_full", self.full_attention_layers * per_layer)
        object.__setattr__(self, "_kv_windowed", self.windowed_layers * per_layer)
        object.__setattr__(self, "_window", self.sliding_window or 0)

    # -- derived shape -------------------------------------------------------------------
    @property
    def is_moe(self) -> bool:
        """True when fewer parameters are read per token than are resident."""
        return self.active_params_b is not None and self.active_params_b < self.params_b

    @property
    def effective_active_params_b(self) -> float:
        """Parameters read per decoded token (billions); ``params_b`` for dense models."""
        return self.params_b if self.active_params_b is None else self.active_params_b

    @property
    def cache_layers(self) -> int:
        """Layers that keep a KV cache."""
        return self.n_layers if self.kv_layers is None else self.kv_layers

    @property
    def windowed_layers(self) -> int:
        """KV layers with a sliding window (they cache at most ``sliding_window`` tokens)."""
        if self.sliding_window is None:
            return 0
        return (
            self.cache_layers if self.sliding_window_layers is None else self.sliding_window_layers
        )

    @property
    def full_attention_layers(self) -> int:
        """KV layers that cache every token of the context."""
        return self.cache_layers - self.windowed_layers

    @property
    def kv_hidden(self) -> int:
        """KV heads × head dim (``hidden``); for MLA, the cached latent width."""
        if self.attention == "mla":
            assert self.kv_lora_rank is not None and self.qk_rope_head_dim is not None
            return self.kv_lora_rank + self.qk_rope_head_dim
        return self.n_kv_heads * self.head_dim

    @property
    def kv_elements_per_token_per_layer(self) -> int:
        """Cached elements per token per layer: 2 × KV heads × head dim, or MLA's one latent."""
        if self.attention == "mla":
            return self.kv_hidden
        return 2 * self.kv_hidden

    @property
    def mha_kv_elements_per_token_per_layer(self) -> int:
        """What full multi-head attention (one KV head per query head) would cache instead."""
        return 2 * self.n_heads * self.head_dim

    # -- bytes ---------------------------------------------------------------------------
    def weight_bytes(self, dtype: str) -> int:
        """Bytes of all resident parameters at *dtype* (exact, block scales included)."""
        fmt = storage_format(dtype)
        num, den = self._params
        return -(-(num * fmt.bits_num) // (den * fmt.bits_den * 8))

    def active_weight_bytes(self, dtype: str) -> int:
        """Bytes of the parameters one decoded token reads at *dtype* (exact; ≤ weight_bytes)."""
        fmt = storage_format(dtype)
        num, den = self._active_params
        return -(-(num * fmt.bits_num) // (den * fmt.bits_den * 8))

    def kv_bytes_per_token(self, dtype: str) -> int:
        """KV bytes each further token adds once past every window (full-attention layers only)."""
        return kv_storage_format(dtype).bytes_for(self._kv_full)

    def kv_tokens_elements(self, ctx: int) -> int:
        """Cached elements for one sequence of *ctx* tokens (windowed layers capped)."""
        window = self._window
        return self._kv_full * ctx + self._kv_windowed * (ctx if ctx < window else window)

    def _budget(
        self, weights: StorageFormat, kv: StorageFormat, ctx: int, batch: int
    ) -> tuple[int, int, int]:
        """(weights, active weights, KV cache) bytes for validated inputs (feasibility hot path)."""
        num, den = self._params
        active_num, active_den = self._active_params
        wn, wd = weights.bits_num, weights.bits_den * 8
        window = self._window
        elements = self._kv_full * ctx + self._kv_windowed * (ctx if ctx < window else window)
        return (
            -(-(num * wn) // (den * wd)),
            -(-(active_num * wn) // (active_den * wd)),
            -(-(elements * batch * kv.bits_num) // (kv.bits_den * 8)),
        )

    def kv_cache_bytes(self, *, ctx: int, batch: int, dtype: str) -> int:
        """KV-cache bytes for *batch* sequences of *ctx* tokens at *dtype* (exact).

        Windowed layers hold ``min(ctx, sliding_window)`` tokens. A dtype no runtime stores a
        KV cache in (``nf4``, ``mxfp4``, GGUF k-quants) → :class:`InvalidKVDtype`.
        """
        c = check_dimension("ctx", ctx)
        b = check_dimension("batch", batch)
        return kv_storage_format(dtype).bytes_for(self.kv_tokens_elements(c) * b)

    # -- (de)serialisation -------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelShape:
        """Build a shape from one catalog entry; a missing key is a ``KeyError``."""

        def opt_int(key: str) -> int | None:
            return None if data.get(key) is None else int(data[key])

        def opt_float(key: str) -> float | None:
            return None if data.get(key) is None else float(data[key])

        attention = str(data["attention"])
        if attention not in _ATTENTION:
            raise ValueError(f"attention must be one of {list(_ATTENTION)}, got {attention!r}")
        return cls(
            id=str(data["id"]),
            name=str(data["name"]),
            params_b=float(data["params_b"]),
            n_layers=int(data["n_layers"]),
            attention=attention,  # type: ignore[arg-type]
            n_heads=int(data["n_heads"]),
            n_kv_heads=int(data["n_kv_heads"]),
            head_dim=int(data["head_dim"]),
            active_params_b=opt_float("active_params_b"),
            max_context=opt_int("max_context"),
            kv_layers=opt_int("kv_layers"),
            kv_lora_rank=opt_int("kv_lora_rank"),
            qk_rope_head_dim=opt_int("qk_rope_head_dim"),
            n_experts=opt_int("n_experts"),
            experts_per_token=opt_int("experts_per_token"),
            sliding_window=opt_int("sliding_window"),
            sliding_window_layers=opt_int("sliding_window_layers"),
            envelope_size=None if data.get("envelope_size") is None else str(data["envelope_size"]),
            aliases=tuple(str(a) for a in data.get("aliases", ())),
            notes=str(data.get("notes", "")),
        )

    @classmethod
    def from_hf_config(
        cls,
        source: str | os.PathLike[str] | Mapping[str, Any],
        *,
        model_id: str | None = None,
        params_b: float | None = None,
        active_params_b: float | None = None,
    ) -> ModelShape:
        """The shape a Hugging Face ``config.json`` (file, model directory or dict) describes.

        See :func:`fieldkit.capabilities.shape_from_hf_config`; raises ``HFConfigError``.
        """
        from fieldkit.capabilities._hf_config import shape_from_hf_config

        return shape_from_hf_config(
            source, model_id=model_id, params_b=params_b, active_params_b=active_params_b
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view, with the derived KV figures."""
        return {
            "id": self.id,
            "name": self.name,
            "params_b": self.params_b,
            "active_params_b": self.effective_active_params_b,
            "moe": self.is_moe,
            "n_experts": self.n_experts,
            "experts_per_token": self.experts_per_token,
            "max_context": self.max_context,
            "n_layers": self.n_layers,
            "kv_layers": self.cache_layers,
            "sliding_window": self.sliding_window,
            "windowed_layers": self.windowed_layers,
            "full_attention_layers": self.full_attention_layers,
            "attention": self.attention,
            "n_heads": self.n_heads,
            "n_kv_heads": self.n_kv_heads,
            "head_dim": self.head_dim,
            "kv_lora_rank": self.kv_lora_rank,
            "qk_rope_head_dim": self.qk_rope_head_dim,
            "kv_elements_per_token_per_layer": self.kv_elements_per_token_per_layer,
            "kv_bytes_per_token_fp16": self.kv_cache_bytes(ctx=1, batch=1, dtype="fp16"),
            "kv_bytes_per_token_past_windows_fp16": self.kv_bytes_per_token("fp16"),
            "envelope_size": self.envelope_size,
            "aliases": list(self.aliases),
            "notes": self.notes,
        }


_catalog: Catalog[ModelShape] = Catalog(
    MODELS_FILE, "models", ModelShape.from_dict, UnknownModel, "model id"
)


def model_shapes() -> Mapping[str, ModelShape]:
    """Every bundled model shape by id (read-only, catalog order)."""
    return _catalog.all()


def get_model(model: str | ModelShape) -> ModelShape:
    """The shape for an id or alias (any case); a shape passes through unchanged.

    Unknown → :class:`UnknownModel` whose message is
    ``unknown model id '<as typed>'; known: [...]``.
    """
    if isinstance(model, ModelShape):
        return model
    return _catalog.get(model)
