"""Docs speak to users and code comments state guarantees: no internal references (other
people's folders, tracker numbers, targets) in what ships, no history narration in src."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Files a user reads: the README, the project docs, samples and benchmark output.
_USER_FILES = [
    ROOT / "README.md",
    ROOT / "CONTRIBUTING.md",
    ROOT / "CHANGELOG.md",
    *sorted((ROOT / "docs").rglob("*.md")),
    *sorted((ROOT / "samples").glob("*.py")),
    *sorted((ROOT / "benchmarks").glob("*.py")),
]
_INTERNAL = re.compile(r"\.\./shared|/work/|\bissue \d+|\bgoals?\b", re.IGNORECASE)

# History belongs in CHANGELOG.md / docs/differences.md, not in comments and docstrings.
_HISTORY = re.compile(r"beyond 0\.3\.0|0\.3\.0 (?:did|raised|returned|used to|would)\b")


def _hits(paths: list[Path], pattern: re.Pattern[str]) -> list[str]:
    out = []
    for path in paths:
        for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                out.append(f"{path.relative_to(ROOT)}:{no}: {line.strip()[:100]}")
    return out


def test_user_docs_have_no_internal_references() -> None:
    assert len(_USER_FILES) > 10
    assert _hits(_USER_FILES, _INTERNAL) == []


def test_src_comments_state_guarantees_not_history() -> None:
    sources = sorted((ROOT / "src" / "fieldkit").rglob("*.py"))
    assert sources
    assert _hits(sources, _HISTORY) == []
