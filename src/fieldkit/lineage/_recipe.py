"""``RecipeEdit``: a trial paired with its snapshot directory, diffed against the parent's."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from fieldkit.lineage._trial import Trial

__all__ = ["RecipeEdit"]

_SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__"})
_NO_EOL = "\\ No newline at end of file\n"


def _files(root: Path) -> dict[str, Path]:
    """Regular files under *root* keyed by POSIX relative path; VCS/cache dirs skipped."""
    out: dict[str, Path] = {}
    if not root.is_dir():
        return out
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if any(part in _SKIP_DIRS for part in rel.parts[:-1]) or rel.parts[0] in _SKIP_DIRS:
            continue
        if p.is_file():
            out[rel.as_posix()] = p
    return out


def _read(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError:
        return None


def _lines(text: str) -> list[str]:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += "\n" + _NO_EOL  # unified-diff convention; keeps the next line separate
    return lines


@dataclass(frozen=True)
class RecipeEdit:
    """A trial plus its snapshot and its parent's snapshot (``None`` for a baseline)."""

    trial: Trial
    snapshot_path: Path
    parent_snapshot_path: Path | None
    _cache: dict[str, str] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def diff(self) -> str:
        """Unified diff parent → snapshot over every file (UTF-8), computed once and cached.

        Added, changed and deleted files are reported in path order; a file that is not UTF-8
        text on either side gives one ``Binary files … differ`` line, and only if the bytes
        differ. Unreadable files count as absent. A baseline (no parent) diffs to ``""``.
        """
        if "d" not in self._cache:
            self._cache["d"] = self._compute()
        return self._cache["d"]

    def _compute(self) -> str:
        if self.parent_snapshot_path is None:
            return ""
        if not Path(self.snapshot_path).is_dir():
            return ""
        child = _files(Path(self.snapshot_path))
        parent = _files(Path(self.parent_snapshot_path))
        out: list[str] = []
        for rel in sorted(set(child) | set(parent), key=lambda r: Path(r).parts):
            new = _read(child.get(rel))
            old = _read(parent.get(rel))
            if new == old:
                continue
            try:
                new_text = new.decode("utf-8") if new is not None else ""
                old_text = old.decode("utf-8") if old is not None else ""
            except UnicodeDecodeError:
                out.append(f"Binary files a/{rel} and b/{rel} differ\n")
                continue
            out.extend(
                difflib.unified_diff(
                    _lines(old_text),
                    _lines(new_text),
                    fromfile=f"a/{rel}",
                    tofile=f"b/{rel}",
                )
            )
        return "".join(out)
