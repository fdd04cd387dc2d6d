"""Atomic file replacement: readers see the old file or the new one, never a partial one.

The text goes to a temporary file in the target's directory, is fsynced, then renamed over the
target. On any failure (a full disk, a write limit, an interrupt) the temporary file is
removed and the target is left as it was. A replaced file keeps its mode; a new one gets the
mode a plain ``open(path, "w")`` would give (not ``mkstemp``'s 0600).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_write_text", "replacing"]

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


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def replacing(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside *dest* (``.<name>.partial``) for the block to fill with a file or a
    directory; when the block ends normally it is renamed over *dest* (an existing directory is
    removed first), so *dest* never holds a partial result. The temporary is removed on any exit,
    and a stale one from a killed writer is removed before the block starts."""
    target = Path(dest)
    tmp = target.with_name(f".{target.name}.partial")
    _remove(tmp)
    try:
        yield tmp
        if tmp.is_dir() and not tmp.is_symlink() and target.is_dir():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        # also after success: renaming a hard link onto another link of the same file is a no-op
        # that leaves the temporary name in place (POSIX rename)
        _remove(tmp)
