"""File placement shared by modules that publish large artifacts (GGUF variants, staged uploads)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from fieldkit._atomic import replacing

__all__ = ["link_or_copy"]


def link_or_copy(source: str | os.PathLike[str], dest: str | os.PathLike[str]) -> Path:
    """Make *dest* hold *source*'s bytes and metadata: a hard link when the filesystem allows (no
    second copy of a multi-GB file), else a copy. Published atomically through a temporary name
    beside *dest*, so *dest* is never half-written; an existing *dest* is replaced."""
    src, out = Path(source), Path(dest)
    with replacing(out) as tmp:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copy2(src, tmp)
    return out
