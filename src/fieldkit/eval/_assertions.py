"""``AssertionGrader``: deterministic file-system assertions over a rollout's post-state.

Every path is confined to ``post_state_root``: absolute paths, ``..`` segments and symlinks that
resolve outside the root fail with a clear detail; such targets are never opened (nor reported as
existing). The resolved path is then opened component by component from a root directory
descriptor with ``O_NOFOLLOW``, so a symlink swapped in after the check (a TOCTOU race) is refused
rather than followed. Regexes are Python's ``re``, run in a worker process killed at
``regex_timeout_s``. At most ``max_read_bytes`` of a file are read (a result says so when a file
was longer). Files are read as UTF-8 (undecodable bytes replaced); ``file_unchanged`` compares
bytes, so non-UTF-8 seeds compare correctly. ``grade()`` never raises for a hostile assertion or
a racing file system: such an assertion fails with the reason in its ``detail``.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from fieldkit.eval._regex_guard import InvalidPattern, RegexTimeout, bounded_search

__all__ = ["ASSERTION_KINDS", "AssertionGrader", "AssertionResult", "GradeResult"]

ASSERTION_KINDS: tuple[str, ...] = (
    "file_exists",
    "file_not_exists",
    "file_contents_contain",
    "file_contents_match_regex",
    "file_unchanged",
)


@dataclass(frozen=True, slots=True)
class AssertionResult:
    """One assertion's outcome; ``detail`` is empty on a pass (except a skipped check)."""

    kind: str
    path: str
    passed: bool
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path, "passed": self.passed, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class GradeResult:
    """All assertions of one task; ``passed`` is the AND of them (an empty list passes, unless
    the grader was built with ``require_assertions=True``)."""

    task_id: str
    passed: bool
    n_passed: int
    n_total: int
    assertions: list[AssertionResult]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # each assertion as AssertionResult.to_dict writes it


def _norm_rel(rel: str) -> str:
    """Normalised relative key for seed lookup (``./a//b`` → ``a/b``)."""
    return posixpath.normpath(rel.replace("\\", "/")).lstrip("/") if rel else rel


class _Escape(Exception):
    pass


class _Raced(_Escape):
    pass


_RACED = "symlink not followed: unresolvable (a loop) or swapped in while grading"


def _confine(root: Path, rel: str) -> Path:
    """The target under ``root`` or ``_Escape`` (absolute, ``..`` outside, or escaping symlink)."""
    if not isinstance(rel, str):
        raise _Escape(f"path must be a string, got {type(rel).__name__}")
    if "\x00" in rel:
        raise _Escape("path contains a NUL byte")
    if (
        PurePosixPath(rel).is_absolute()
        or PureWindowsPath(rel).is_absolute()
        or (PureWindowsPath(rel).drive)
    ):
        raise _Escape("absolute path not allowed; paths are relative to post_state_root")
    lexical = posixpath.normpath(rel.replace("\\", "/")) if rel else "."
    if lexical == ".." or lexical.startswith("../"):
        raise _Escape("path escapes post_state_root ('..')")
    target = root / rel
    try:
        resolved = Path(os.path.realpath(target))
    except (OSError, RuntimeError, ValueError):  # a link swapped while being resolved
        raise _Raced(_RACED) from None
    if resolved != root and not resolved.is_relative_to(root):
        raise _Escape("path escapes post_state_root (symlink resolves outside the root)")
    return resolved


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
#: Descriptor-relative, no-follow opens are available (POSIX); elsewhere plain path operations.
_FD_WALK = (
    bool(_NOFOLLOW and _DIRECTORY)
    and os.open in os.supports_dir_fd
    and os.stat in os.supports_dir_fd
    and os.stat in os.supports_follow_symlinks
)


def _open_nofollow(name: str, flags: int, dir_fd: int) -> int:
    """``os.open`` relative to ``dir_fd`` without following a final symlink (``_Raced`` if one)."""
    try:
        return os.open(name, flags | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0), dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _Raced(_RACED) from None
        if exc.errno == errno.ENOTDIR and flags & _DIRECTORY:  # Linux: ENOTDIR for a link too
            try:
                is_link = stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
            except OSError:
                is_link = False
            if is_link:
                raise _Raced(_RACED) from None
        raise


def _parent_fd(root: Path, parts: tuple[str, ...]) -> int:
    """A descriptor of the directory holding ``parts[-1]``, walked without following symlinks."""
    fd = os.open(root, os.O_RDONLY | _DIRECTORY)
    try:
        for part in parts[:-1]:
            nfd = _open_nofollow(part, os.O_RDONLY | _DIRECTORY, fd)
            os.close(fd)
            fd = nfd
    except BaseException:
        os.close(fd)
        raise
    return fd


def _exists(root: Path, target: Path) -> bool:
    """Whether the confined ``target`` exists, never stat-ing through a symlink."""
    parts = target.relative_to(root).parts
    if not _FD_WALK or not parts:
        return target.exists()
    try:
        fd = _parent_fd(root, parts)
    except (FileNotFoundError, NotADirectoryError):
        return False
    try:
        st = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryError):
        return False
    finally:
        os.close(fd)
    if stat.S_ISLNK(st.st_mode):  # ``target`` is fully resolved: a link here appeared since
        raise _Raced(_RACED)
    return True


@dataclass(frozen=True, slots=True)
class _Read:
    """Up to ``limit`` bytes of a file, and its size (``truncated`` when it held more)."""

    data: bytes
    size: int

    @property
    def truncated(self) -> bool:
        return self.size > len(self.data)


def _read_fd(fd: int, limit: int) -> _Read | None:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        return None
    chunks: list[bytes] = []
    left = limit
    while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
        chunks.append(chunk)
        left -= len(chunk)
    data = b"".join(chunks)
    return _Read(data, max(st.st_size, len(data)))


def _read_regular(root: Path, target: Path, limit: int) -> _Read | None:
    """At most *limit* bytes of the confined regular file ``target``; ``None`` if not one.

    Opened without following symlinks and non-blocking (a FIFO swapped in cannot hang us);
    ``OSError`` for read failures.
    """
    parts = target.relative_to(root).parts
    if not _FD_WALK:
        if not target.is_file():
            return None
        with open(target, "rb") as fh:
            return _read_fd(fh.fileno(), limit)
    if not parts:
        return None  # the root is a directory
    try:
        dfd = _parent_fd(root, parts)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        fd = _open_nofollow(parts[-1], os.O_RDONLY | _NONBLOCK, dfd)
    except (FileNotFoundError, NotADirectoryError):
        return None
    finally:
        os.close(dfd)
    try:
        return _read_fd(fd, limit)
    finally:
        os.close(fd)


def _cap_note(read: _Read, limit: int) -> str:
    return (
        f"checked only the first {limit} of {read.size} bytes (max_read_bytes={limit})"
        if read.truncated
        else ""
    )


@dataclass
class AssertionGrader:
    """Pure file-system grader over the five ``ASSERTION_KINDS``.

    ``regex_timeout_s`` bounds each ``file_contents_match_regex`` search, compile included (a
    timeout fails the assertion with a clear detail); patterns are Python ``re`` syntax.
    ``max_read_bytes`` caps what is read of any one file; when a file is longer, only its start
    is checked and the result's ``detail`` says so (``file_unchanged`` compares sizes first).
    ``require_assertions``: a task with no assertions fails with one result saying so, instead
    of passing with ``n_total=0`` (by default an empty suite passes).
    """

    regex_timeout_s: float = 2.0
    max_read_bytes: int = 64 * 1024 * 1024
    require_assertions: bool = False

    def __post_init__(self) -> None:
        t = self.regex_timeout_s
        if isinstance(t, bool) or not isinstance(t, int | float) or not 0 < t < float("inf"):
            raise ValueError(f"regex_timeout_s must be a positive finite number, got {t!r}")
        m = self.max_read_bytes
        if isinstance(m, bool) or not isinstance(m, int) or m <= 0:
            raise ValueError(f"max_read_bytes must be a positive int, got {m!r}")

    @staticmethod
    def supported_kinds() -> tuple[str, ...]:
        return ASSERTION_KINDS

    def grade(
        self,
        task: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        post_state_root: str | os.PathLike[str],
        *,
        seed_files: Mapping[str, str | bytes] | None = None,
        task_id: str = "",
    ) -> GradeResult:
        """Grade ``task`` (a SynthTask dict or a bare list of assertion dicts) against the root.

        Seeds for ``file_unchanged`` come from ``task["workspace_seed"]["files"]`` (``kind ==
        "text"``) merged with ``seed_files`` (explicit entries win).
        """
        seeds: dict[str, str | bytes] = {}
        derived_id = ""
        if isinstance(task, Mapping):
            assertions: Sequence[Any] = task.get("verifiable_assertions") or []
            ws = task.get("workspace_seed") or {}
            files = ws.get("files") if isinstance(ws, Mapping) else None
            for entry in files if isinstance(files, list | tuple) else []:
                if isinstance(entry, Mapping) and entry.get("kind") == "text":
                    seeds[_norm_rel(str(entry.get("path", "")))] = entry.get("content", "") or ""
            derived_id = str(task.get("task_id", ""))
        else:
            assertions = task
        for k, v in (seed_files or {}).items():
            seeds[_norm_rel(str(k))] = v
        root = Path(os.path.realpath(post_state_root))
        if isinstance(assertions, list | tuple) and not assertions and self.require_assertions:
            # nothing to verify is not a pass: a task without checks would grade as solved
            results = [AssertionResult("", "", False, "task has no verifiable_assertions")]
        elif isinstance(assertions, list | tuple):
            results = [self._one(a, root, seeds) for a in assertions]
        else:
            got = type(assertions).__name__
            results = [
                AssertionResult("", "", False, f"verifiable_assertions must be a list, got {got}")
            ]
        n_passed = sum(r.passed for r in results)
        return GradeResult(
            task_id=task_id or derived_id,
            passed=all(r.passed for r in results),
            n_passed=n_passed,
            n_total=len(results),
            assertions=results,
        )

    def _one(self, a: Any, root: Path, seeds: Mapping[str, str | bytes]) -> AssertionResult:
        if not isinstance(a, Mapping):
            return AssertionResult(
                "", "", False, f"assertion must be a dict, got {type(a).__name__}"
            )
        kind = str(a.get("kind", "") or "")
        rel = a.get("path", "")
        shown = rel if isinstance(rel, str) else str(rel)
        if kind not in ASSERTION_KINDS:
            return AssertionResult(kind, shown, False, f"unknown kind: {kind}")
        if isinstance(rel, str) and posixpath.normpath(rel.replace("\\", "/") or ".") == ".":
            # "" or "." would name post_state_root itself, which always exists
            return AssertionResult(kind, shown, False, "assertion has no path (give a file path)")
        try:
            target = _confine(root, rel)
        except _Escape as exc:
            return AssertionResult(kind, shown, False, str(exc))
        try:
            passed, detail = self._check(kind, a, root, target, shown, seeds)
        except _Raced as exc:
            return AssertionResult(kind, shown, False, str(exc))
        except (OSError, RecursionError, ValueError, TypeError) as exc:
            return AssertionResult(kind, shown, False, f"error: {type(exc).__name__}: {exc}")
        return AssertionResult(kind, shown, passed, detail)

    def _check(
        self,
        kind: str,
        a: Mapping[str, Any],
        root: Path,
        target: Path,
        rel: str,
        seeds: Mapping[str, str | bytes],
    ) -> tuple[bool, str]:
        if kind == "file_exists":
            return (True, "") if _exists(root, target) else (False, "path missing")
        if kind == "file_not_exists":
            return (True, "") if not _exists(root, target) else (False, "file still present")
        if kind == "file_unchanged":
            seed = seeds.get(_norm_rel(rel))
            if seed is None:
                return True, "skipped (no seed content)"
            if not isinstance(seed, str | bytes):
                return False, f"seed content must be text or bytes, got {type(seed).__name__}"
            want = seed if isinstance(seed, bytes) else seed.encode("utf-8")
            try:
                read = _read_regular(root, target, len(want) + 1)
            except OSError as exc:
                return False, f"read error: {exc}"
            if read is None:
                return False, "file missing post-rollout"
            if read.size != len(want):
                return False, "contents diverged from seed"
            return (True, "") if read.data == want else (False, "contents diverged from seed")
        limit = self.max_read_bytes
        try:
            read = _read_regular(root, target, limit)
        except OSError as exc:
            prefix = "read error" if kind == "file_contents_contain" else "error"
            return False, f"{prefix}: {exc}"
        if read is None:
            return False, "file missing"
        note = _cap_note(read, limit)
        text = read.data.decode("utf-8", errors="replace")
        if kind == "file_contents_contain":
            needles = a.get("must_contain", [])
            if isinstance(needles, str):
                needles = [needles]
            missing = [s for s in (needles or []) if str(s) not in text]
            if missing:
                return False, "; ".join(x for x in (f"missing substrings: {missing!r}", note) if x)
            return True, note
        pattern = a.get("regex", "")
        try:
            found = bounded_search(str(pattern), text, self.regex_timeout_s)
        except InvalidPattern as exc:
            return False, f"error: {exc}"
        except RegexTimeout:
            return False, f"error: regex timed out after {self.regex_timeout_s}s (catastrophic?)"
        if not found:
            return False, "; ".join(x for x in ("regex not matched", note) if x)
        return True, note
