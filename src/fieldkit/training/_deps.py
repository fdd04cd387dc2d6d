"""Lazy access to torch and safetensors through ``fieldkit._lazy.require`` (errors name the
``training`` extra).

Nothing here imports torch at module import time: ``import fieldkit.training`` stays cheap on
inference-only machines, and only constructing a class pays for (or reports) the dependency.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from fieldkit._lazy import require

if TYPE_CHECKING:
    import torch

__all__ = ["NamedParameters", "live_parameters", "require_safetensors", "require_torch"]


class NamedParameters(Protocol):
    """Anything with ``named_parameters()`` (an ``nn.Module``, or a duck-typed stand-in)."""

    def named_parameters(self) -> Iterable[tuple[str, torch.Tensor]]: ...


def require_torch() -> None:
    """Import torch or raise :class:`MissingExtraError` (an ``ImportError``) naming the extra."""
    require("torch", "training", purpose="fieldkit.training")


def require_safetensors() -> None:
    """Import ``safetensors.torch`` or raise :class:`MissingExtraError` naming the extra."""
    require("safetensors.torch", "training", purpose="LoraReferenceSnapshot.from_disk")


def live_parameters(model: NamedParameters) -> list[tuple[str, torch.Tensor]]:
    """``list(model.named_parameters())`` with a clear error for objects that are not models."""
    named = getattr(model, "named_parameters", None)
    if not callable(named):
        raise TypeError(
            f"model must provide named_parameters() (e.g. a torch.nn.Module), "
            f"got {type(model).__name__}"
        )
    return list(named())
