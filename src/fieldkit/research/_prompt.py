"""The proposer's prompt for one trial (pure: text in, chat messages out).

It holds ``program.md``, the lineage block (omitted in a no-lineage run), the current best
version of every target file, the tails of the last failures, and the reply format. Each part
has a character limit so the prompt fits a small model's context window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fieldkit.nim import ChatMessage

__all__ = ["Failure", "build_messages"]

SYSTEM = (
    "You improve an experiment by editing its code. Reply with one line "
    "'Hypothesis: <what you change and why>' and then exactly one edit as SEARCH/REPLACE "
    "blocks. The SEARCH text must be copied exactly from the current file."
)


@dataclass(frozen=True)
class Failure:
    """A recent failed trial shown to the proposer: id, outcome, hypothesis and log tail."""

    exp_id: str
    outcome: str
    hypothesis: str
    tail: str


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 20)] + "\n…(truncated)"


def _clip_tail(text: str, limit: int) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]


def build_messages(
    *,
    program: str,
    files: Mapping[str, str],
    metric: str,
    best_value: float | None,
    lower_is_better: bool,
    lineage_block: str | None,
    failures: Sequence[Failure] = (),
    program_chars: int = 3000,
    lineage_chars: int = 3000,
    file_chars: int = 6000,
    tail_chars: int = 400,
) -> list[ChatMessage]:
    """System and user messages for one proposal. ``lineage_block=None`` leaves lineage out."""
    parts = ["# Program", _clip(program.strip(), program_chars)]
    if lineage_block is not None:
        parts += ["# What has been tried", _clip(lineage_block.strip(), lineage_chars)]
    direction = "lower" if lower_is_better else "higher"
    shown = "not measured yet" if best_value is None else f"{best_value:.6g}"
    parts.append(f"# Current best: {metric} = {shown} ({direction} is better)")
    for path, text in files.items():
        parts += [f"## {path}", "```", _clip(text.rstrip("\n"), file_chars), "```"]
    if failures:
        parts.append("# Recent failures")
        for f in failures:
            parts.append(f"- {f.exp_id} {f.outcome}: {f.hypothesis}")
            if f.tail.strip():
                parts += ["```", _clip_tail(f.tail.strip(), tail_chars), "```"]
    first = next(iter(files), "file.py")
    parts += [
        "# Reply format",
        "Hypothesis: <one line>",
        first,
        "<<<<<<< SEARCH",
        "<lines copied exactly from the file>",
        "=======",
        "<the new lines>",
        ">>>>>>> REPLACE",
    ]
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "\n".join(parts) + "\n"},
    ]
