"""A GGUF model's attention shape, read from its header: what its KV cache costs per token."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from fieldkit.quant import QuantError, gguf_file_type_name, read_gguf_metadata

__all__ = ["GGUFShape", "GGUFShapeError", "read_gguf_shape"]


class GGUFShapeError(ValueError):
    """The GGUF header lacks what the KV-cache arithmetic needs (or is not a GGUF file)."""


@dataclasses.dataclass(frozen=True)
class GGUFShape:
    """Per-layer KV heads and head sizes of a GGUF model (``kv_heads`` has one entry a layer)."""

    path: Path
    architecture: str
    n_layer: int
    kv_heads: tuple[int, ...]
    head_dim_k: int
    head_dim_v: int
    context_length: int | None
    sliding_window: int | None
    file_type: str
    embedding: bool


def _int(meta: dict[str, object], key: str) -> int | None:
    value = meta.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def read_gguf_shape(path: Path) -> GGUFShape:
    """The :class:`GGUFShape` of GGUF file *path* (``{arch}.block_count``,
    ``.attention.head_count[_kv]``, ``.attention.key_length``/``value_length`` or
    ``embedding_length / head_count``, ``.context_length``, ``.attention.sliding_window``)."""
    try:
        meta = read_gguf_metadata(path)
    except QuantError as exc:
        raise GGUFShapeError(str(exc)) from None
    arch = meta.get("general.architecture")
    if not isinstance(arch, str):
        raise GGUFShapeError(f"{path}: the GGUF header has no general.architecture")
    n_layer = _int(meta, f"{arch}.block_count")
    heads: Any = meta.get(f"{arch}.attention.head_count")
    kv: Any = meta.get(f"{arch}.attention.head_count_kv", heads)
    embd = _int(meta, f"{arch}.embedding_length")
    if n_layer is None or n_layer <= 0 or heads is None:
        raise GGUFShapeError(
            f"{path}: {arch} has no {arch}.block_count/attention.head_count in its header; "
            "its KV cache cannot be computed (pass a number to --ctx)"
        )
    try:
        kv_heads = tuple(int(h) for h in kv) if isinstance(kv, list) else (int(kv),) * n_layer
        head_count = max(int(h) for h in heads) if isinstance(heads, list) else int(heads)
    except (TypeError, ValueError, OverflowError):
        raise GGUFShapeError(f"{path}: attention head counts are not integers") from None
    if len(kv_heads) != n_layer or head_count <= 0 or min(kv_heads) < 0:
        raise GGUFShapeError(f"{path}: per-layer head counts do not match {n_layer} layers")
    head_k = _int(meta, f"{arch}.attention.key_length")
    if head_k is None:
        if embd is None:
            raise GGUFShapeError(f"{path}: no {arch}.embedding_length or attention.key_length")
        head_k = embd // head_count
    head_v = _int(meta, f"{arch}.attention.value_length") or head_k
    ftype = _int(meta, "general.file_type")
    pooling = meta.get(f"{arch}.pooling_type")
    return GGUFShape(
        path=path,
        architecture=arch,
        n_layer=n_layer,
        kv_heads=kv_heads,
        head_dim_k=head_k,
        head_dim_v=head_v,
        context_length=_int(meta, f"{arch}.context_length"),
        sliding_window=_int(meta, f"{arch}.attention.sliding_window"),
        file_type=gguf_file_type_name(ftype),
        embedding=pooling is not None or arch in {"bert", "nomic-bert", "jina-bert-v2"},
    )
