"""Lazy access to torch and safetensors, with errors that name the ``training`` extra.

Nothing here imports torch at module import time: ``import fieldkit.training`` stays cheap on
inference-only machines, and only constructing a class pays for (or reports) the dependency.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from fieldkit._lazy import MissingExtraError

if TYPE_CHECKING:
    import torch

__all__ = ["NamedParameters", "live_parameters", "require_safetensors", "require_torch"]

_INSTALL = "install it with: pip install 'fieldkit[training]'"


class NamedParameters(Protocol):
    """Anything with ``named_parameters()`` (an ``nn.Module``, or a duck-typed stand-in)."""

    def named_parameters(self) -> Iterable[tuple[str, torch.Tensor]]: ...


def require_torch() -> None:
    """Import torch or raise :class:`MissingExtraError` (an ``ImportError``) naming the extra."""
    try:
        importlib.import_module("torch")
    except ImportError as exc:
        raise MissingExtraError(
            "fieldkit.training requires torch, which could not be imported; "
            f"{_INSTALL} (or pip install torch; NeMo / Triton / pytorch-base containers ship it)"
        ) from exc


def require_safetensors() -> None:
    """Import ``safetensors.torch`` or raise :class:`MissingExtraError` naming the extra."""
    try:
        importlib.import_module("safetensors.torch")
    except ImportError as exc:
        raise MissingExtraError(
            "fieldkit.training.LoraReferenceSnapshot.from_disk requires safetensors, which could "
            f"not be imported; {_INSTALL} (or pip install safetensors)"
        ) from exc


def live_parameters(model: NamedParameters) -> list[tuple[str, torch.Tensor]]:
    """``list(model.named_parameters())`` with a clear error for objects that are not models."""
    named = getattr(model, "named_parameters", None)
    if not callable(named):
        raise TypeError(
            f"model must provide named_parameters() (e.g. a torch.nn.Module), "
            f"got {type(model).__name__}"
        )
    return list(named())
