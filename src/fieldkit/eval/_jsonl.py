"""Streaming JSONL reading that counts what it had to skip.

These helpers read one line at a time
(constant memory for large files, UTF-8 always) and report how many lines were skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["JsonlStats", "iter_jsonl_objects"]


@dataclass
class JsonlStats:
    """Counters filled while a file streams: object lines yielded, malformed lines skipped."""

    n_lines: int = 0
    n_records: int = 0
    n_skipped: int = 0


def iter_jsonl_objects(
    path: str | Path, stats: JsonlStats | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for every line holding a JSON object.

    Blank lines are ignored; undecodable lines and JSON values that are not objects are counted in
    ``stats.n_skipped``. The file is read lazily as UTF-8 (undecodable bytes replaced); a
    leading byte-order mark is dropped, so the first row is read like the others.
    """
    st = stats if stats is not None else JsonlStats()
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        for lineno, line in enumerate(fh, start=1):
            st.n_lines += 1
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except (ValueError, RecursionError):
                st.n_skipped += 1
                continue
            if not isinstance(obj, dict):
                st.n_skipped += 1
                continue
            st.n_records += 1
            yield lineno, obj
