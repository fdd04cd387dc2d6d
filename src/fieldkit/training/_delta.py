"""``WeightDeltaTracker``: how far did training move the trainable weights since a snapshot?"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, overload

from fieldkit.training._deps import NamedParameters, live_parameters, require_torch

if TYPE_CHECKING:
    import torch

__all__ = ["ParamDelta", "WeightDeltaTracker"]


@dataclass(frozen=True, slots=True)
class ParamDelta:
    """Change of one parameter since the snapshot (all figures in float64 Python floats)."""

    name: str
    l2: float
    max_abs: float
    numel: int
    ref_l2: float

    @property
    def relative(self) -> float:
        """``l2 / ||snapshot||``; ``inf`` for a moved all-zero start (LoRA B), 0 if unmoved."""
        if self.ref_l2 == 0.0:
            return 0.0 if self.l2 == 0.0 else math.inf
        return self.l2 / self.ref_l2

    @property
    def changed(self) -> bool:
        return self.max_abs != 0.0


def _work_dtype(t: torch.Tensor) -> torch.dtype:
    import torch

    return torch.float64 if t.dtype == torch.float64 else torch.float32


def _param_delta(
    name: str, live: torch.Tensor, ref: torch.Tensor, ref_l2: float
) -> tuple[ParamDelta, float]:
    """Per-parameter figures and the sum of squares, subtracting in float32 (float64 if wider)."""

    numel = ref.numel()
    if numel == 0:
        return ParamDelta(name, 0.0, 0.0, 0, 0.0), 0.0
    dtype = _work_dtype(ref)
    diff = live.detach().to(device="cpu", dtype=dtype, copy=True).reshape(-1)
    diff.sub_(ref.reshape(-1).to(dtype))  # bf16/fp16 values are exact in float32: no rounding
    diff.abs_()
    max_abs = float(diff.max())
    sumsq = float(diff.square_().sum())  # pairwise summation; params are combined in float64
    return ParamDelta(name, math.sqrt(sumsq), max_abs, numel, ref_l2), sumsq


def _norm(t: torch.Tensor) -> float:
    if t.numel() == 0:
        return 0.0
    return math.sqrt(float(t.reshape(-1).to(_work_dtype(t)).square().sum()))


class WeightDeltaTracker:
    """Snapshot of every trainable parameter (CPU clones) to measure how far training moved them.

    Differences are taken in float32 (float64 for float64 params), so bf16/fp16 updates are not
    rounded away before they are measured; the model is never modified.
    """

    def __init__(
        self, model: NamedParameters, *, include: Callable[[str], bool] | None = None
    ) -> None:
        """Capture the trainable parameters (only those whose name *include* accepts, if given).

        The copy costs as much memory as the captured weights; on a full fine-tune (and on
        unified-memory boxes, where CPU and GPU share memory) ``include`` keeps it affordable.
        """
        require_torch()
        if include is not None and not callable(include):
            raise TypeError(f"include must be a callable taking a parameter name, got {include!r}")
        self._model = model
        self._snapshot: dict[str, torch.Tensor] = {
            name: p.detach().to("cpu", copy=True)
            for name, p in live_parameters(model)
            if p.requires_grad and (include is None or include(name))
        }
        self._ref_l2: dict[str, float] | None = None

    def __len__(self) -> int:
        return len(self._snapshot)

    def __repr__(self) -> str:
        return f"WeightDeltaTracker(params={len(self._snapshot)})"

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the captured parameters, in model order."""
        return tuple(self._snapshot)

    def _per_param(self) -> list[tuple[ParamDelta, float]]:
        out: list[tuple[ParamDelta, float]] = []
        if not self._snapshot:
            return out
        if self._ref_l2 is None:  # the snapshot never changes: its norms are computed once
            self._ref_l2 = {n: _norm(t) for n, t in self._snapshot.items()}
        for name, p in live_parameters(self._model):
            ref = self._snapshot.get(name)
            if ref is None or not p.requires_grad:
                continue
            if tuple(p.shape) != tuple(ref.shape):
                raise ValueError(
                    f"parameter {name!r} changed shape since the snapshot: "
                    f"{tuple(ref.shape)} -> {tuple(p.shape)}"
                )
            out.append(_param_delta(name, p, ref, self._ref_l2[name]))
        return out

    @overload
    def delta(self, *, per_param: Literal[False] = False) -> tuple[float, float]: ...

    @overload
    def delta(self, *, per_param: Literal[True]) -> dict[str, ParamDelta]: ...

    def delta(self, *, per_param: bool = False) -> tuple[float, float] | dict[str, ParamDelta]:
        """``(l2, max_abs)`` over every captured parameter that is still trainable.

        With ``per_param=True``: ``{name: ParamDelta}`` in model order instead. Parameters that
        became trainable after construction are ignored; no captured tensors gives ``(0.0, 0.0)``.
        """
        rows = self._per_param()
        if per_param:
            return {d.name: d for d, _ in rows}
        total = math.fsum(s for _, s in rows)
        max_abs = max((d.max_abs for d, _ in rows), default=0.0)
        return math.sqrt(total), max_abs

    def top(self, n: int = 10) -> list[ParamDelta]:
        """The *n* most-changed parameters by L2 (ties by name)."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        rows = sorted(self.delta(per_param=True).values(), key=lambda d: (-d.l2, d.name))
        return rows[:n]

    def unchanged(self) -> list[str]:
        """Names of captured trainable parameters that did not move at all (``max|Δ| == 0``)."""
        return [d.name for d in self.delta(per_param=True).values() if not d.changed]
