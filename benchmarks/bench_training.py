"""fieldkit.training: reference forwards through LoraReferenceSnapshot vs a deep-copied frozen
reference model, and WeightDeltaTracker.delta vs the 0.3.0 algorithm (native-dtype subtraction).

Everything runs on CPU with a small random Llama + real peft LoRA (no downloads). Memory figures
are the bytes of tensors each approach keeps alive, computed from the tensors themselves.
"""

from __future__ import annotations

import copy
import math
import os
import time
import warnings
from collections.abc import Callable
from typing import Any

from benchmarks._table import Row

DESCRIPTION = (
    "LoRA reference forward via snapshot swap vs deep-copied reference model; "
    "weight-delta cost and bf16 accuracy vs 0.3.0's algorithm"
)


def _timeit_pair(
    ours: Callable[[], object], base: Callable[[], object], reps: int
) -> tuple[float, float]:
    """Best-of-*reps* seconds for each, interleaved so both see the same machine load."""
    ours()
    base()
    t_ours, t_base = [], []
    for _ in range(reps):
        for fn, acc in ((ours, t_ours), (base, t_base)):
            t0 = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - t0)
    return min(t_ours), min(t_base)


def _bytes(tensors: Any) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def _model(quick: bool) -> Any:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    hidden, layers, vocab = (128, 2, 1024) if quick else (384, 4, 4096)
    cfg = LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=256,
    )
    lora = LoraConfig(
        r=16,
        lora_alpha=32,
        lora_dropout=0.0,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = get_peft_model(LlamaForCausalLM(cfg), lora)
    model.eval()
    with torch.no_grad():  # a non-trivial adapter, as after some training
        for _, p in model.named_parameters():
            if p.requires_grad:
                p.normal_(0, 0.02)
    return model


def _delta_0_3_0(snapshot: dict[str, Any], model: Any) -> tuple[float, float]:
    """The 0.3.0 algorithm: subtract in the parameter dtype, then cast to float32."""
    import torch

    total, max_abs = 0.0, 0.0
    for name, p in model.named_parameters():
        if not p.requires_grad or name not in snapshot:
            continue
        d = (p.detach().cpu() - snapshot[name]).to(torch.float32)
        total += float((d * d).sum())
        max_abs = max(max_abs, float(d.abs().max()))
    return math.sqrt(total), max_abs


class _Swap030:
    """The 0.3.0 swap: clone + copy per parameter, no checks, no roll-back, no thread guard."""

    def __init__(self, model: Any, snapshot: dict[str, Any]) -> None:
        self.model, self.snapshot, self.saved = model, snapshot, {}

    def __enter__(self) -> None:
        import torch

        with torch.no_grad():
            for name, p in self.model.named_parameters():
                if name in self.snapshot:
                    self.saved[name] = p.detach().clone()
                    p.copy_(self.snapshot[name].to(device=p.device, dtype=p.dtype))

    def __exit__(self, *exc: object) -> None:
        import torch

        with torch.no_grad():
            for name, p in self.model.named_parameters():
                if name in self.saved:
                    p.copy_(self.saved[name])
        self.saved = {}


def run(quick: bool) -> list[Row]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from fieldkit.training import LoraReferenceSnapshot, WeightDeltaTracker

    reps = 20  # best-of-N needs enough draws on a shared box; quick mode shrinks the model instead
    model = _model(quick)
    ids = torch.randint(0, model.config.vocab_size, (4, 32 if quick else 128))
    snap = LoraReferenceSnapshot(model)

    def via_snapshot() -> None:
        with snap, torch.no_grad():
            model(input_ids=ids)

    frozen = copy.deepcopy(model).requires_grad_(False)

    def via_copy() -> None:
        with torch.no_grad():
            frozen(input_ids=ids)

    def swap_only() -> None:
        with snap:
            pass

    old_swap = _Swap030(model, dict(snap.snapshot))

    def swap_only_0_3_0() -> None:
        with old_swap:
            pass

    t_snap, t_copy = _timeit_pair(via_snapshot, via_copy, reps)
    t_swap, t_swap_old = _timeit_pair(swap_only, swap_only_0_3_0, reps * 5)
    snap_bytes = _bytes(snap.snapshot.values())
    # while active the snapshot also holds a backup of the live adapter values
    snap_peak = 2 * snap_bytes
    copy_bytes = _bytes(frozen.parameters()) + _bytes(frozen.buffers())
    n_lora = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_all = sum(p.numel() for p in model.parameters())
    rows = [
        Row(
            "reference forward (incl. swap)",
            t_snap * 1e3,
            t_copy * 1e3,
            "ms/step",
            baseline_label="forward of a deep-copied frozen reference model",
            note=f"batch {tuple(ids.shape)}, best of {reps}; the same forward either way: "
            "parity expected, no speed gain (the win is memory, next row)",
        ),
        Row(
            "swap in + restore only",
            t_swap * 1e3,
            t_swap_old * 1e3,
            "ms/step",
            baseline_label="0.3.0 swap (no checks, no roll-back)",
            note=f"{len(snap)} tensors",
        ),
        Row(
            "extra memory for the reference (peak)",
            snap_peak / 1e6,
            copy_bytes / 1e6,
            "MB",
            baseline_label="deep-copied reference model",
            note=f"{n_lora:,} LoRA of {n_all:,} params",
        ),
    ]

    # WeightDeltaTracker on a full fine-tune in bf16 (every parameter trainable)
    full = _model(quick).to(torch.bfloat16)
    for p in full.parameters():
        p.requires_grad_(True)
    tracker = WeightDeltaTracker(full)
    ref = {n: p.detach().cpu().clone() for n, p in full.named_parameters()}
    with torch.no_grad():
        gen = torch.Generator().manual_seed(0)
        for p in full.parameters():  # an lr-sized update: mostly below bf16 resolution of |w|
            p.add_((torch.randn(p.shape, generator=gen) * 1e-3).to(p.dtype))
    t_ours, t_old = _timeit_pair(tracker.delta, lambda: _delta_0_3_0(ref, full), reps // 2)
    truth = math.sqrt(
        math.fsum(
            float(((p.detach().double() - ref[n].double()) ** 2).sum())
            for n, p in full.named_parameters()
        )
    )
    ours_l2, _ = tracker.delta()
    old_l2, _ = _delta_0_3_0(ref, full)
    n_full = sum(p.numel() for p in full.parameters())
    rows += [
        Row(
            "delta() on a bf16 full fine-tune",
            t_ours * 1e3,
            t_old * 1e3,
            "ms",
            baseline_label="0.3.0 algorithm (native-dtype subtraction)",
            note=f"{n_full:,} params; about the same cost (the win is accuracy, next row)",
        ),
        Row(
            "delta() L2 relative error (bf16)",
            abs(ours_l2 - truth) / truth,
            abs(old_l2 - truth) / truth,
            "rel. err",
            baseline_label="0.3.0 algorithm",
            note="vs float64 truth",
        ),
    ]
    return rows
