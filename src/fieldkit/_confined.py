"""Open a regular file for reading and prove, after the open, that it lies inside a folder.

Checking a path and then opening it leaves a window: any folder on the path can be swapped
for a symlink in between (``O_NOFOLLOW`` guards only the last component). So the check is
made on the open descriptor itself: the kernel's own path for it (``/proc/self/fd``) must be
inside, and it must be a regular file. Where ``/proc`` is missing, the descriptor must be the
same file as the resolved path.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

__all__ = ["open_regular_inside"]

_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


def _held_path(fd: int, fallback: str) -> str | None:
    """The path the kernel holds for *fd*; None when the file was deleted or moved away."""
    try:
        held = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # no /proc: the descriptor must still be the file *fallback* names
        try:
            here, there = os.fstat(fd), os.stat(fallback)
        except OSError:
            return None
        return fallback if (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino) else None
    return None if held.endswith(" (deleted)") else held


def open_regular_inside(real: str, inside: Callable[[str], bool]) -> int:
    """A blocking read-only descriptor on the regular file at the resolved path *real*, whose
    location, as the kernel holds it once open, satisfies *inside*. Raises OSError naming the
    reason (the descriptor closed) when it is a symlink at open time, is not a regular file,
    or turned out to be elsewhere."""
    fd = os.open(real, _FLAGS)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError("not a regular file (FIFO, socket or device)")
        held = _held_path(fd, real)
        if held is None or not inside(held):
            raise OSError("the file changed while it was opened (a folder swapped for a symlink?)")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd
