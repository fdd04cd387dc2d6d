"""Where fieldkit keeps per-user state (embedded Postgres data, caches): ``$FIELDKIT_HOME``."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["fieldkit_home"]


def fieldkit_home() -> Path:
    """``$FIELDKIT_HOME`` if set, else ``$XDG_DATA_HOME/fieldkit`` (``~/.local/share/fieldkit``)."""
    env = os.environ.get("FIELDKIT_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "fieldkit"
