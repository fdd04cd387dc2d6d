"""``LoraReferenceSnapshot``: swap a CPU-resident adapter snapshot in for one no-grad forward.

The swap is transactional: every (shape, dtype) pair is checked before anything is written, and
if a copy still fails midway every parameter already swapped is restored before the error
propagates. Parameter objects keep their identity (values are copied in place), so optimizer
state keyed by parameter stays valid.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Self

from fieldkit.training._deps import (
    NamedParameters,
    live_parameters,
    require_safetensors,
    require_torch,
)
from fieldkit.training._peft_keys import match_adapter_keys

if TYPE_CHECKING:
    import torch

__all__ = ["LoraReferenceSnapshot", "SnapshotSwapError"]

_SHOW = 5  # how many example names an error message lists


class SnapshotSwapError(RuntimeError):
    """A snapshot tensor cannot be written into its live parameter.

    Raised before anything is written for a shape or dtype mismatch, or after a complete
    roll-back when a copy fails midway. Carries the parameter name and both shapes.
    """

    def __init__(
        self,
        message: str,
        *,
        parameter: str,
        snapshot_shape: tuple[int, ...],
        live_shape: tuple[int, ...],
    ) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.snapshot_shape = snapshot_shape
        self.live_shape = live_shape


def _shape(t: torch.Tensor | Sequence[int]) -> tuple[int, ...]:
    return tuple(int(d) for d in (t.shape if hasattr(t, "shape") else t))


def _check_shape(name: str, snapshot_shape: tuple[int, ...], live_shape: tuple[int, ...]) -> None:
    if snapshot_shape != live_shape:
        raise SnapshotSwapError(
            f"snapshot tensor for parameter {name!r} has shape {snapshot_shape} but the live "
            f"parameter has shape {live_shape}",
            parameter=name,
            snapshot_shape=snapshot_shape,
            live_shape=live_shape,
        )


def _check_pair(name: str, param: torch.Tensor, src: torch.Tensor) -> None:
    """Raise :class:`SnapshotSwapError` unless *src* can be copied into *param* exactly in place."""
    import torch

    _check_shape(name, _shape(src), _shape(param))
    if not torch.can_cast(src.dtype, param.dtype):
        raise SnapshotSwapError(
            f"snapshot tensor for parameter {name!r} has dtype {src.dtype}, which cannot be cast "
            f"to the live parameter's {param.dtype} (shapes {_shape(src)} and {_shape(param)})",
            parameter=name,
            snapshot_shape=_shape(src),
            live_shape=_shape(param),
        )


def _restore(saved: Sequence[tuple[str, torch.Tensor, torch.Tensor]]) -> list[str]:
    """Copy every backup back (newest first, best effort); return the names that failed."""
    failed: list[str] = []
    for name, param, backup in reversed(saved):
        try:
            param.copy_(backup)
        except Exception:
            failed.append(name)
    return failed


def _examples(names: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:_SHOW])
    more = f" (+{len(names) - _SHOW} more)" if len(names) > _SHOW else ""
    return f"[{shown}]{more}"


class LoraReferenceSnapshot:
    """A CPU snapshot of adapter weights, swapped into the live model inside ``with snap:``.

    Without ``snapshot=`` it captures the model's current trainable parameters. With it, the
    given ``{live name: tensor}`` entries are cloned to CPU (later caller mutations do not leak
    in); entries naming no parameter are listed in :attr:`unmatched_file_keys`.
    """

    unmatched_file_keys: tuple[str, ...]
    """Source keys (file keys for :meth:`from_disk`) that match no live parameter."""
    unmatched_live_params: tuple[str, ...]
    """Trainable (or adapter-owned) live parameters the swap leaves untouched."""

    def __init__(
        self,
        model: NamedParameters,
        *,
        snapshot: Mapping[str, torch.Tensor] | None = None,
    ) -> None:
        require_torch()
        import torch

        live = live_parameters(model)
        if snapshot is None:
            tensors = {n: p.detach().to("cpu", copy=True) for n, p in live if p.requires_grad}
            self._setup(model, tensors, (), ())
            return
        by_name = dict(live)
        tensors = {}
        unmatched: list[str] = []
        for key, value in snapshot.items():
            if not isinstance(value, torch.Tensor):
                raise TypeError(
                    f"snapshot[{key!r}] must be a torch.Tensor, got {type(value).__name__}"
                )
            param = by_name.get(key)
            if param is None:
                unmatched.append(key)
                continue
            _check_pair(key, param, value)
            tensors[key] = value.detach().to("cpu", copy=True)
        if unmatched and not tensors:
            raise ValueError(
                f"none of the {len(unmatched)} snapshot keys names a parameter of the model "
                f"(keys {_examples(unmatched)}; parameters {_examples([n for n, _ in live])})"
            )
        missing = tuple(n for n, p in live if p.requires_grad and n not in tensors)
        self._setup(model, tensors, tuple(unmatched), missing)

    def _setup(
        self,
        model: NamedParameters,
        tensors: dict[str, torch.Tensor],
        unmatched_keys: tuple[str, ...],
        unmatched_live: tuple[str, ...],
    ) -> None:
        self._model = model
        self._snapshot = tensors
        self.unmatched_file_keys = unmatched_keys
        self.unmatched_live_params = unmatched_live
        self._lock = threading.Lock()
        self._saved: list[tuple[str, torch.Tensor, torch.Tensor]] | None = None

    @classmethod
    def from_disk(
        cls,
        model: NamedParameters,
        adapter_dir: str | Path,
        *,
        adapter_name: str = "default",
        weights_filename: str = "adapter_model.safetensors",
        allow_empty: bool = False,
    ) -> Self:
        """Snapshot of a peft adapter saved on disk, keyed by the live parameter names.

        Maps every peft tensor kind (``lora_A/B``, ``lora_embedding_A/B``, DoRA magnitudes,
        ``modules_to_save``), checks shapes from the file header before reading any tensor, and
        reads only the tensors that match. An adapter matching nothing raises ``ValueError``
        unless ``allow_empty=True``.
        """
        require_torch()
        require_safetensors()
        from safetensors import safe_open

        path = Path(adapter_dir) / weights_filename
        if not path.is_file():
            raise FileNotFoundError(f"adapter weights not found at {path}")
        live = live_parameters(model)
        by_name = dict(live)
        tensors: dict[str, torch.Tensor] = {}
        try:
            handle = safe_open(str(path), framework="pt", device="cpu")
        except Exception as exc:  # safetensors raises its own SafetensorError
            raise ValueError(f"{path} is not a readable safetensors file: {exc}") from exc
        with handle as f:
            match = match_adapter_keys(
                ((n, bool(p.requires_grad)) for n, p in live), list(f.keys()), adapter_name
            )
            if not match.pairs and not allow_empty:
                raise ValueError(
                    f"adapter at {path} matched no parameter of the model "
                    f"(adapter_name={adapter_name!r}); "
                    f"file keys {_examples(match.unmatched_file_keys)}; "
                    f"trainable/adapter parameters {_examples(match.unmatched_live_params)}. "
                    "Pass allow_empty=True to accept an empty snapshot."
                )
            for name, key in match.pairs.items():
                _check_shape(name, _shape(f.get_slice(key).get_shape()), _shape(by_name[name]))
            for name, key in match.pairs.items():
                tensor = f.get_tensor(key)
                _check_pair(name, by_name[name], tensor)
                tensors[name] = tensor
        obj = cls.__new__(cls)
        obj._setup(model, tensors, match.unmatched_file_keys, match.unmatched_live_params)
        return obj

    def __len__(self) -> int:
        return len(self._snapshot)

    def __repr__(self) -> str:
        state = "active" if self.active else "inactive"
        return f"LoraReferenceSnapshot(tensors={len(self._snapshot)}, {state})"

    @property
    def active(self) -> bool:
        """True while the snapshot is swapped into the model."""
        return self._saved is not None

    @property
    def snapshot(self) -> Mapping[str, torch.Tensor]:
        """Read-only view of ``{live parameter name: CPU tensor}``."""
        return MappingProxyType(self._snapshot)

    def _plan(self) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
        plan = []
        for name, param in live_parameters(self._model):
            src = self._snapshot.get(name)
            if src is not None:
                _check_pair(name, param, src)
                plan.append((name, param, src))
        return plan

    def __enter__(self) -> Self:
        if not self._lock.acquire(blocking=False):
            raise RuntimeError(
                "LoraReferenceSnapshot is already active; nested or concurrent swaps are not "
                "supported"
            )
        try:
            require_torch()
            import torch

            plan = self._plan()  # every shape and dtype checked before the first write
            saved: list[tuple[str, torch.Tensor, torch.Tensor]] = []
            with torch.no_grad():
                for name, param, src in plan:
                    backup = param.detach().clone()
                    try:
                        param.copy_(src)
                    except BaseException as exc:
                        failed = _restore(saved)
                        try:  # the failing copy may have written part of the tensor
                            if not torch.equal(param, backup):
                                param.copy_(backup)
                        except Exception:
                            failed.append(name)
                        if not isinstance(exc, Exception):
                            raise
                        restored = len(saved) - sum(1 for f in failed if f != name)
                        note = f"; could NOT restore {failed}" if failed else ""
                        raise SnapshotSwapError(
                            f"copying the snapshot into parameter {name!r} failed (snapshot shape "
                            f"{_shape(src)}, live shape {_shape(param)}): {exc}; "
                            f"{restored} parameters restored{note}",
                            parameter=name,
                            snapshot_shape=_shape(src),
                            live_shape=_shape(param),
                        ) from exc
                    saved.append((name, param, backup))
            self._saved = saved
        except BaseException:
            self._lock.release()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        saved = self._saved
        if saved is None:
            return None
        try:
            require_torch()
            import torch

            with torch.no_grad():
                failed = _restore(saved)
            if failed:
                name = failed[0]
                param = next(p for n, p, _ in saved if n == name)
                raise SnapshotSwapError(
                    f"could not restore {len(failed)} parameter(s) after the swap: {failed}",
                    parameter=name,
                    snapshot_shape=_shape(self._snapshot[name]),
                    live_shape=_shape(param),
                )
        finally:
            self._saved = None
            self._lock.release()
        return None
