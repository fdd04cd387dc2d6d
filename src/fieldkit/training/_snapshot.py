"""``LoraReferenceSnapshot``: swap a CPU-resident adapter snapshot in for one no-grad forward.

The swap is transactional: every (shape, dtype) pair is checked before anything is written, and
if the swap still fails midway (a copy, a backup clone, a Ctrl-C) every parameter already swapped
is restored before the error propagates. Parameter objects keep their identity (values are
copied in place), so optimizer state keyed by parameter stays valid.
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


_Saved = tuple[str, "torch.Tensor", "torch.Tensor"]  # (name, live parameter, backup)
_RESTORE_ATTEMPTS = 3


def _restore(
    saved: Sequence[_Saved], *, only_changed: bool = False
) -> tuple[int, list[str], BaseException | None]:
    """Copy every backup back, newest first; ``(copied, names that failed, first interrupt)``.

    An interrupt (Ctrl-C) landing meanwhile does not stop the restore: it is kept for the caller
    to re-raise once the model is whole, and the copy it hit is redone (copying a backup again
    is idempotent). ``only_changed`` skips parameters equal to their backup (a failed write that
    never landed need not be undone, even when the parameter cannot be written at all).
    """
    import torch

    pending = list(saved)
    copied, failed = 0, []
    interrupt: BaseException | None = None
    attempts = 0
    while pending:
        try:
            while pending:
                name, param, backup = pending[-1]
                try:
                    if not (only_changed and torch.equal(param, backup)):
                        param.copy_(backup)
                        copied += 1
                except Exception:
                    failed.append(name)
                pending.pop()
        except BaseException as exc:  # an interrupt: finish restoring, re-raise afterwards
            interrupt = interrupt or exc
            attempts += 1
            if attempts >= _RESTORE_ATTEMPTS:
                failed.extend(n for n, _, _ in pending)
                break
    return copied, list(dict.fromkeys(failed)), interrupt


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
    """Source keys that match no live parameter: file keys for :meth:`from_disk`, the keys of the
    ``snapshot=`` dict otherwise (one name for both, so callers check one attribute)."""
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
        plan: list[tuple[str, torch.Tensor, torch.Tensor]] = []
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
        saved: list[_Saved] = []
        current: tuple[str, torch.Tensor, torch.Tensor] | None = None
        try:
            require_torch()
            import torch

            plan = self._plan()  # every shape and dtype checked before the first write
            with torch.no_grad():
                for current in plan:
                    name, param, src = current
                    # the backup is recorded before the write, so whatever is interrupted
                    # (the clone, the copy, or the step between them) the roll-back covers it
                    saved.append((name, param, param.detach().clone()))
                    param.copy_(src)
                self._saved = saved
        except BaseException as exc:
            self._saved = None
            try:
                self._roll_back(saved, current, exc)
            finally:
                self._lock.release()
            raise
        return self

    @staticmethod
    def _roll_back(
        saved: list[_Saved],
        current: tuple[str, torch.Tensor, torch.Tensor] | None,
        exc: BaseException,
    ) -> None:
        """Undo a partial swap; re-raise interrupts as they are and wrap errors in
        :class:`SnapshotSwapError`. Returns only when the swap never started (caller re-raises)."""
        if current is None:  # failed in the checks: nothing was written
            return
        import torch

        with torch.no_grad():
            copied, failed, interrupt = _restore(saved, only_changed=True)
        if interrupt is not None:
            raise interrupt
        if not isinstance(exc, Exception):
            return
        name, param, src = current
        note = f"; could NOT restore {failed}" if failed else ""
        raise SnapshotSwapError(
            f"swapping the snapshot into parameter {name!r} failed (snapshot shape "
            f"{_shape(src)}, live shape {_shape(param)}): {exc}; "
            f"{copied} parameters restored{note}",
            parameter=name,
            snapshot_shape=_shape(src),
            live_shape=_shape(param),
        ) from exc

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
                _, failed, interrupt = _restore(saved)
            if interrupt is not None:  # raised only now that every parameter is back
                raise interrupt
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
