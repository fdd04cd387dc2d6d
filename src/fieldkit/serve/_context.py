"""How much context fits: llama.cpp's KV-cache size from a GGUF shape, and the memory it has.

``kv_cache_bytes`` reproduces the buffer llama-server allocates (its context padded to 256
cells; K and V rows in the cache type's block size), so the figure matches the server's own
``KV buffer size`` line. Models with sliding-window layers are counted at full context on every
layer: an upper bound, never an underestimate.
"""

from __future__ import annotations

import dataclasses
import os

from fieldkit.serve._gguf_shape import GGUFShape

__all__ = [
    "CTX_PAD",
    "KV_DTYPES",
    "ContextPlan",
    "available_memory",
    "fit_context",
    "kv_cache_bytes",
    "padded_ctx",
]

#: llama.cpp pads the context to a multiple of this many cells.
CTX_PAD = 256
#: Cache types llama-server accepts for ``-ctk``/``-ctv`` → (bytes, elements) per block.
KV_DTYPES: dict[str, tuple[int, int]] = {
    "f32": (4, 1),
    "f16": (2, 1),
    "bf16": (2, 1),
    "q8_0": (34, 32),
    "q4_0": (18, 32),
    "q4_1": (20, 32),
    "q5_0": (22, 32),
    "q5_1": (24, 32),
    "iq4_nl": (18, 32),
}
#: Memory kept free beyond weights + KV: compute buffers, the OS, the client side.
HEADROOM_FRACTION = 0.10
HEADROOM_MIN_BYTES = 1 << 30


def padded_ctx(ctx: int) -> int:
    """*ctx* rounded up to llama.cpp's cell padding."""
    return -(-ctx // CTX_PAD) * CTX_PAD


def _row_bytes(elements: int, kv_dtype: str) -> int:
    try:
        size, block = KV_DTYPES[kv_dtype]
    except KeyError:
        raise ValueError(
            f"unknown KV cache type {kv_dtype!r}; llama-server takes one of {sorted(KV_DTYPES)}"
        ) from None
    if elements % block:
        raise ValueError(f"a {elements}-element row is not a whole number of {kv_dtype} blocks")
    return elements // block * size


def kv_cache_bytes(shape: GGUFShape, ctx: int, kv_dtype: str = "f16") -> int:
    """Bytes of llama-server's KV cache for *shape* at *ctx* tokens (padded as the server pads)."""
    per_token = sum(
        _row_bytes(h * shape.head_dim_k, kv_dtype) + _row_bytes(h * shape.head_dim_v, kv_dtype)
        for h in shape.kv_heads
    )
    return padded_ctx(ctx) * per_token


def available_memory(gpu_free_mib: int | None = None) -> tuple[int, str]:
    """(bytes, where from): a discrete GPU's free memory when given, else ``MemAvailable``
    (the CPU build, and unified-memory GPUs such as GB10, where nvidia-smi reports none)."""
    if gpu_free_mib is not None:
        return gpu_free_mib << 20, "GPU free memory (nvidia-smi)"
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024, "MemAvailable"
    except (OSError, ValueError, IndexError):
        pass
    pages = os.sysconf("SC_AVPHYS_PAGES") if hasattr(os, "sysconf") else 0
    return int(pages) * os.sysconf("SC_PAGE_SIZE"), "free physical memory"


@dataclasses.dataclass(frozen=True)
class ContextPlan:
    """A context and its KV-cache cost against the memory there is, with the arithmetic."""

    ctx: int
    kv_dtype: str
    kv_bytes: int
    per_token_bytes: int
    budget_bytes: int
    available_bytes: int
    weights_bytes: int
    source: str
    capped_by_model: bool

    @property
    def fits(self) -> bool:
        return self.kv_bytes <= self.budget_bytes

    def arithmetic(self, shape: GGUFShape) -> str:
        """One line: how the KV size follows from the header, and what it was compared with."""
        heads = sorted(set(shape.kv_heads))
        head_s = str(heads[0]) if len(heads) == 1 else f"{heads[0]}-{heads[-1]}"
        gib = 1 << 30
        cap = "; the model's trained context" if self.capped_by_model else ""
        return (
            f"ctx {self.ctx}: KV {self.kv_dtype} = {padded_ctx(self.ctx)} cells x "
            f"{shape.n_layer} layers x {head_s} KV heads x ({shape.head_dim_k}+"
            f"{shape.head_dim_v}) dims x {_elem(self.kv_dtype)} = {self.kv_bytes} bytes "
            f"({self.kv_bytes / (1 << 20):.2f} MiB) of {self.budget_bytes / gib:.2f} GiB "
            f"budget ({self.source} "
            f"{self.available_bytes / gib:.2f} GiB - weights {self.weights_bytes / gib:.2f} GiB "
            f"- headroom){cap}"
        )


def _budget(available: int, weights: int) -> int:
    headroom = max(HEADROOM_MIN_BYTES, int(available * HEADROOM_FRACTION))
    return max(0, available - weights - headroom)


def fit_context(
    shape: GGUFShape,
    *,
    ctx: int | None,
    kv_dtype: str = "f16",
    available: tuple[int, str],
    weights_bytes: int | None = None,
) -> ContextPlan:
    """The plan for *ctx* tokens, or with ``ctx=None`` the largest padded context whose KV
    cache fits the budget (capped at the model's trained context). The budget is the available
    memory less the weights (the GGUF's size by default) and max(1 GiB, 10 %) of headroom."""
    avail, source = available
    weights = shape.path.stat().st_size if weights_bytes is None else weights_bytes
    budget = _budget(avail, weights)
    per_token = kv_cache_bytes(shape, CTX_PAD, kv_dtype) // CTX_PAD
    capped = False
    if ctx is None:
        ctx = budget // per_token // CTX_PAD * CTX_PAD
        if shape.context_length and ctx >= shape.context_length:
            ctx, capped = shape.context_length, True
    return ContextPlan(
        ctx=ctx,
        kv_dtype=kv_dtype,
        kv_bytes=kv_cache_bytes(shape, ctx, kv_dtype) if ctx > 0 else 0,
        per_token_bytes=per_token,
        budget_bytes=budget,
        available_bytes=avail,
        weights_bytes=weights,
        source=source,
        capped_by_model=capped,
    )


def _elem(kv_dtype: str) -> str:
    size, block = KV_DTYPES[kv_dtype]
    return f"{size} B" if block == 1 else f"{size}/{block} B"
