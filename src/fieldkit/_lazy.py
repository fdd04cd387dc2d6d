"""Lazy imports of heavy optional dependencies, with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["MissingExtraError", "require"]


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the fieldkit extra to add."""


def require(module: str, extra: str, *, purpose: str = "") -> ModuleType:
    """Import *module* or raise :class:`MissingExtraError` naming ``fieldkit[extra]``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        what = f" for {purpose}" if purpose else ""
        raise MissingExtraError(
            f"{module!r} is required{what} but is not installed; "
            f"install it with: pip install 'fieldkit[{extra}]'"
        ) from exc
