"""Read a proposer's reply as edits and apply them to the target files (pure: text in, text out).

Two formats are understood: search/replace blocks (a file name line, then ``<<<<<<< SEARCH``,
the old text, ``=======``, the new text, ``>>>>>>> REPLACE``) and unified diffs (``---``/``+++``
headers and ``@@`` hunks). Anything else, an edit of a file that is not a target, a path that
leaves the workspace, or text that does not match raises ``EditError`` with the reason; the
loop records that as an ``invalid-edit`` trial instead of failing.
"""

from __future__ import annotations

import difflib
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "Edit",
    "EditError",
    "apply_edits",
    "check_path",
    "diff_lines",
    "extract_hypothesis",
    "parse_edits",
]

_HUNK = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_HYPOTHESIS_CHARS = 300


class EditError(ValueError):
    """The reply holds no usable edit; the message says why (recorded as the trial's note)."""


@dataclass(frozen=True)
class Edit:
    """One change to one file: replace *old* (a run of whole lines, or text) with *new*.

    ``line`` is the 1-based line a diff hunk claimed to start at (0 for search/replace).
    """

    path: str
    old: str
    new: str
    line: int = 0
    from_diff: bool = False


def check_path(path: str, targets: Sequence[str]) -> str:
    """The normalised target *path* names, or ``EditError`` when it is not one of *targets*."""
    cleaned = path.strip().strip("`").strip()
    if not cleaned:
        raise EditError("an edit names no file")
    if cleaned.startswith(("/", "~")) or "\\" in cleaned or "\x00" in cleaned:
        raise EditError(f"refused path {cleaned[:80]!r}: outside the workspace")
    norm = posixpath.normpath(cleaned)
    if norm == ".." or norm.startswith("../"):
        raise EditError(f"refused path {cleaned[:80]!r}: outside the workspace")
    if norm not in targets:
        raise EditError(f"refused path {norm[:80]!r}: edits may only touch {', '.join(targets)}")
    return norm


def _fence(line: str) -> bool:
    return line.strip().startswith("```")


def _block_path(lines: list[str], at: int, targets: Sequence[str]) -> str:
    for back in range(at - 1, max(-1, at - 4), -1):
        text = lines[back].strip()
        if not text or _fence(text):
            continue
        return check_path(text.removeprefix("File:").removeprefix("file:").strip(), targets)
    if len(targets) == 1:
        return targets[0]
    raise EditError("a SEARCH block names no file and there are several targets")


def _lines_until(lines: list[str], start: int, marker: str) -> tuple[list[str], int]:
    """The lines from *start* up to the first that starts with *marker* once indentation is
    dropped, and that line's index (``len(lines)`` when none does)."""
    end = start
    while end < len(lines) and not lines[end].lstrip().startswith(marker):
        end += 1
    return lines[start:end], end


def _search_replace(lines: list[str], targets: Sequence[str]) -> list[Edit]:
    edits: list[Edit] = []
    i = 0
    n = len(lines)
    while i < n:
        if not (lines[i].lstrip().startswith("<<<<<<<") and "SEARCH" in lines[i]):
            i += 1
            continue
        path = _block_path(lines, i, targets)
        old, j = _lines_until(lines, i + 1, "=======")
        if j >= n:
            raise EditError("a SEARCH block has no ======= line")
        new, k = _lines_until(lines, j + 1, ">>>>>>>")
        if k >= n:
            raise EditError("a SEARCH block has no >>>>>>> REPLACE line")
        edits.append(Edit(path, "\n".join(old), "\n".join(new)))
        i = k + 1
    return edits


def _diff_path(header: str) -> str:
    name = header[4:].split("\t", 1)[0].strip()
    for prefix in ("a/", "b/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _unified(lines: list[str], targets: Sequence[str]) -> list[Edit]:
    edits: list[Edit] = []
    path: str | None = None
    i = 0
    n = len(lines)
    while i < n:
        line = lines[i]
        if line.startswith("+++ "):
            name = _diff_path(line)
            if name == "/dev/null":
                raise EditError("a diff deletes a file; only target edits are allowed")
            path = check_path(name, targets)
            i += 1
            continue
        m = _HUNK.match(line)
        if m is None:
            i += 1
            continue
        if path is None:
            if len(targets) != 1:
                raise EditError("a diff hunk comes before any +++ file header")
            path = targets[0]
        old: list[str] = []
        new: list[str] = []
        i += 1
        while i < n and not lines[i].startswith(("@@", "--- ", "+++ ", "```")):
            body = lines[i]
            tag, text = (body[:1], body[1:]) if body else (" ", "")
            if tag == " ":
                old.append(text)
                new.append(text)
            elif tag == "-":
                old.append(text)
            elif tag == "+":
                new.append(text)
            elif tag != "\\":
                break
            i += 1
        if not old and not new:
            raise EditError("a diff hunk is empty")
        edits.append(Edit(path, "\n".join(old), "\n".join(new), int(m.group(1)), True))
    return edits


def parse_edits(reply: str, targets: Sequence[str], *, max_bytes: int = 256 * 1024) -> list[Edit]:
    """The edits in *reply* (search/replace blocks, else a unified diff); ``EditError`` if none."""
    size = len(reply.encode("utf-8", errors="replace"))
    if size > max_bytes:
        raise EditError(f"the reply is {size} bytes, over the {max_bytes}-byte edit limit")
    lines = reply.splitlines()
    edits = _search_replace(lines, targets)
    if not edits and any(_HUNK.match(line) for line in lines):
        edits = _unified(lines, targets)
    if not edits:
        raise EditError("no edit found (expected SEARCH/REPLACE blocks or a unified diff)")
    return edits


def _find_lines(haystack: list[str], needle: list[str], near: int) -> int | None:
    """Index where *needle* occurs in *haystack* (nearest to *near*), comparing rstripped lines."""
    if not needle:
        return None
    want = [s.rstrip() for s in needle]
    have = [s.rstrip() for s in haystack]
    hits = [
        at
        for at in range(len(have) - len(want) + 1)
        if have[at] == want[0] and have[at : at + len(want)] == want
    ]
    if not hits:
        return None
    return min(hits, key=lambda at: abs(at - near))


def _apply_one(text: str, edit: Edit) -> str:
    if edit.old == edit.new:
        return text
    if edit.old and not edit.from_diff and edit.old in text:
        return text.replace(edit.old, edit.new, 1)
    lines = text.split("\n")
    old = edit.old.split("\n") if edit.old else []
    if not old:
        if edit.from_diff and edit.line <= 1:  # a pure insertion at the top of the file
            return edit.new + "\n" + text
        raise EditError(f"an edit of {edit.path} has an empty SEARCH text")
    at = _find_lines(lines, old, max(0, edit.line - 1))
    if at is None:
        first = old[0].strip()[:60]
        raise EditError(f"the text to replace in {edit.path} was not found (starts {first!r})")
    return "\n".join([*lines[:at], *edit.new.split("\n"), *lines[at + len(old) :]])


def apply_edits(edits: Sequence[Edit], files: Mapping[str, str]) -> dict[str, str]:
    """The new text of every file *edits* change (in order); ``EditError`` if one does not apply."""
    out: dict[str, str] = {}
    for edit in edits:
        if edit.path not in files:
            raise EditError(f"{edit.path} is not a target file")
        current = out.get(edit.path, files[edit.path])
        out[edit.path] = _apply_one(current, edit)
    changed = {p: t for p, t in out.items() if t != files[p]}
    if not changed:
        raise EditError("the edit changes nothing")
    for path, text in changed.items():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise EditError(f"the new {path} is not valid UTF-8 text") from None
    return changed


def diff_lines(before: Mapping[str, str], after: Mapping[str, str]) -> int:
    """Added plus removed lines between *before* and *after* (the trial's diff size)."""
    count = 0
    for path, new in after.items():
        old = before.get(path, "")
        for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0):
            if line.startswith(("+", "-")) and not line.startswith(("+++", "---")):
                count += 1
    return count


def extract_hypothesis(reply: str) -> str:
    """A one-line hypothesis: a ``Hypothesis:`` line, else the reply's first line of prose."""
    fallback = ""
    for raw in reply.splitlines():
        line = raw.strip().lstrip("#*>- ").strip()
        if not line:
            continue
        low = line.lower()
        if low.startswith("hypothesis"):
            rest = line[len("hypothesis") :].lstrip("*: ").strip()
            if rest:
                return rest[:_HYPOTHESIS_CHARS]
        if line.startswith(("```", "<<<<<<<", "=======", ">>>>>>>", "@@", "+++", "---")):
            break
        if not fallback:
            fallback = line
    return fallback[:_HYPOTHESIS_CHARS] or "(no hypothesis given)"
