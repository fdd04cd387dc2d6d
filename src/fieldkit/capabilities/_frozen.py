"""Read-only containers for the loaded capabilities document (``FrozenDict`` lives in
``fieldkit._frozen``), so the process-wide singleton cannot be changed by one caller under
another's feet."""

from __future__ import annotations

from typing import Any

from fieldkit._frozen import FrozenDict

__all__ = ["FrozenDict", "deep_freeze"]


def deep_freeze(value: Any) -> Any:
    """Return *value* with every dict turned into a ``FrozenDict`` and every list into a tuple."""
    if isinstance(value, dict):
        return FrozenDict({k: deep_freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(deep_freeze(v) for v in value)
    return value
