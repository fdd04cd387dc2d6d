"""Which files an ingest reads, and reading one without leaving the given roots or blocking.

Confinement: by default nothing outside the given roots is read. A symlink (file or folder)
whose target resolves outside every root is skipped with a warning; ``follow_symlinks=True``
follows it. The check is repeated when a file is opened, on its resolved path, so a symlink
swapped in after the walk is still refused. Only regular files are read: a FIFO, socket or
device inside a folder is skipped with a warning instead of blocking the ingest. A name that
is not valid UTF-8 cannot be stored as a source path; it is skipped with a warning naming it.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from fieldkit._confined import open_regular_inside
from fieldkit.rag._parsers import kind_of

__all__ = ["Confinement", "read_confined", "shown_path", "walk"]

_SKIP_DIRS = frozenset({"node_modules", "__pycache__", "site-packages", "venv"})
_OUTSIDE = (
    "symlink to {target}, outside the ingested folders: skipped "
    "(follow_symlinks=True / --follow-symlinks reads it)"
)


def shown_path(path: str) -> str:
    """*path* printable: bytes that are not UTF-8 (held as surrogate escapes) shown as ``\\xNN``."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _valid_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Confinement:
    """The real (symlink-resolved) roots a path must stay under, unless symlinks are followed."""

    def __init__(self, roots: Sequence[Path], *, follow_symlinks: bool) -> None:
        self.follow = follow_symlinks
        self._real = [os.path.realpath(r) for r in roots]

    def inside(self, real: str) -> bool:
        """Whether the resolved path *real* is one of the roots or below one."""
        if self.follow:
            return True
        return any(real == r or real.startswith(r.rstrip("/") + "/") for r in self._real)


def _matches(rel: str, globs: Sequence[str]) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(rel, g) or fnmatch.fnmatch(name, g) for g in globs)


def walk(
    roots: Sequence[Path],
    *,
    globs: Sequence[str] = (),
    warn: Callable[[str, str], None],
    ignored: Callable[[], None] = lambda: None,
    follow_symlinks: bool = False,
) -> Iterator[Path]:
    """Regular files under ``roots`` (absolute), each once, hidden and vendored folders skipped.

    Symlinks resolving inside a root are followed (a loop is reported, not followed); those
    resolving outside every root are skipped with a warning unless ``follow_symlinks``. Without
    ``globs`` only files of a known kind are yielded; with them, files whose relative path or
    name matches one of the patterns.
    """
    jail = Confinement(roots, follow_symlinks=follow_symlinks)
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[str] = set()

    def wanted(path: Path, rel: str) -> bool:
        if globs:
            return _matches(rel, globs)
        return kind_of(path) is not None

    def admit(path: Path) -> bool:
        """Symlink target inside, name storable, a regular file; else warn and say no."""
        key = str(path)
        if not _valid_utf8(key):
            warn(shown_path(key), "file name is not valid UTF-8: skipped (rename it to ingest it)")
            return False
        if os.path.islink(path):
            real = os.path.realpath(path)
            if not jail.inside(real):
                warn(key, _OUTSIDE.format(target=shown_path(real)))
                return False
        try:
            mode = os.stat(path).st_mode
        except OSError as exc:
            warn(key, f"cannot read: {exc.strerror or exc}")
            return False
        if not stat.S_ISREG(mode):
            warn(key, "not a regular file (FIFO, socket or device): skipped")
            return False
        return True

    for root in roots:
        if root.is_file() or (root.exists() and not root.is_dir()):
            key = str(root)
            if key not in seen_files:
                seen_files.add(key)
                if admit(root):
                    yield root
            continue
        if not root.is_dir():
            warn(str(root), "no such file or folder")
            continue
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=None):
            try:
                st = os.stat(dirpath)
            except OSError as exc:
                warn(dirpath, f"cannot read folder: {exc.strerror or exc}")
                dirnames[:] = []
                continue
            ident = (st.st_dev, st.st_ino)
            if ident in seen_dirs:
                warn(dirpath, "symlink loop or repeated folder: skipped")
                dirnames[:] = []
                continue
            seen_dirs.add(ident)
            keep = []
            for d in sorted(dirnames):
                if d.startswith(".") or d in _SKIP_DIRS:
                    continue
                sub = os.path.join(dirpath, d)
                if not _valid_utf8(d):
                    warn(shown_path(sub), "folder name is not valid UTF-8: skipped")
                    continue
                if os.path.islink(sub) and not jail.inside(os.path.realpath(sub)):
                    warn(sub, _OUTSIDE.format(target=shown_path(os.path.realpath(sub))))
                    continue
                keep.append(d)
            dirnames[:] = keep
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                path = Path(dirpath, name)
                rel = path.relative_to(root).as_posix()
                if not wanted(path, rel):
                    ignored()
                    continue
                key = str(path)
                if key in seen_files:
                    continue
                seen_files.add(key)
                if admit(path):
                    yield path


def read_confined(
    path: Path, roots: Sequence[Path], max_bytes: int, *, follow_symlinks: bool = False
) -> bytes:
    """Up to ``max_bytes + 1`` bytes of the regular file *path*, re-checked at open time.

    The resolved path must lie inside a root (unless ``follow_symlinks``), before the open and
    again on the open descriptor, so a file or a folder on its path swapped for a symlink or a
    FIFO after the walk is refused. Raises OSError with the reason.
    """
    jail = Confinement(roots, follow_symlinks=follow_symlinks)
    real = os.path.realpath(path)
    if not jail.inside(real):
        raise OSError(f"resolves to {shown_path(real)}, outside the ingested folders")
    with os.fdopen(open_regular_inside(real, jail.inside), "rb") as fh:
        return fh.read(max_bytes + 1)
