"""Atomic file replacement: readers see the old file or the new one, never a partial one.

The text goes to a temporary file in the target's directory, is fsynced, then renamed over the
target. On any failure (a full disk, a write limit, an interrupt) the temporary file is
removed and the target is left as it was. A replaced file keeps its mode; a new one gets the
mode a plain ``open(path, "w")`` would give (not ``mkstemp``'s 0600).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import threading
from pathlib import Path

__all__ = ["atomic_write_text"]

_UMASK_LOCK = threading.Lock()


def _new_file_mode(target: Path) -> int:
    """The mode ``open(target, "w")`` would leave: the existing file's, else 0o666 less the umask
    (``mkstemp``'s 0o600 would hide a shared file from its other readers)."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        pass
    with _UMASK_LOCK:  # os.umask can only be read by setting it; the lock makes that safe
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Replace *path* with *text* (UTF-8) atomically, keeping an existing file's mode; returns
    the path written (missing parent directories are created)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            os.fchmod(fh.fileno(), _new_file_mode(target))
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target
