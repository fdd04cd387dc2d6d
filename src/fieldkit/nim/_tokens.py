"""Token estimates: the character heuristic, and per-message accounting for the preflight.

Pure functions, no I/O; shared by the sync and async clients and by the simulator's context check.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

CHARS_PER_TOKEN_ESTIMATE: float = 4.0
"""The published heuristic: about four characters per token (under-counts CJK and dense code)."""

PER_MESSAGE_OVERHEAD_TOKENS: int = 4
"""Tokens added per chat message for role markers and separators."""

TokenCounter = Callable[[str], int]
"""Any ``str -> int`` token counter, e.g. ``lambda s: len(tokenizer.encode(s))``."""


def estimate_tokens(text: str) -> int:
    """``ceil(len(text) / 4)``; 0 for empty text. Cheap, deterministic, tokenizer-free."""
    if not text:
        return 0
    return -(-len(text) // 4)


def message_pieces(messages: Iterable[Mapping[str, Any]]) -> tuple[list[str], int]:
    """``(texts, overhead)``: the strings of *messages* that :func:`message_tokens` counts, and
    its fixed per-message overhead — so a remote counter can count the same texts."""
    texts: list[str] = []
    overhead = 0
    for message in messages:
        overhead += PER_MESSAGE_OVERHEAD_TOKENS
        if not isinstance(message, Mapping):
            continue
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(str(p.get("text", "")) for p in content if isinstance(p, dict))
        name = message.get("name")
        if isinstance(name, str):
            texts.append(name)
        tool_calls = message.get("tool_calls")
        if tool_calls:
            texts.append(json.dumps(tool_calls, default=str))
    return texts, overhead


def message_tokens(
    messages: Iterable[Mapping[str, Any]], counter: TokenCounter = estimate_tokens
) -> int:
    """Estimated prompt tokens of chat *messages* as the preflight counts them.

    String content is counted; for list content each dict part's ``text`` is counted (other parts,
    e.g. images, count 0); every message adds :data:`PER_MESSAGE_OVERHEAD_TOKENS`;
    a message's ``name`` and ``tool_calls`` (as JSON) are counted too.
    """
    total = 0
    for message in messages:
        if not isinstance(message, Mapping):
            total += PER_MESSAGE_OVERHEAD_TOKENS
            continue
        content = message.get("content")
        if isinstance(content, str):
            total += counter(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict):
                    total += counter(str(part.get("text", "")))
        name = message.get("name")
        if isinstance(name, str):
            total += counter(name)
        tool_calls = message.get("tool_calls")
        if tool_calls:
            total += counter(json.dumps(tool_calls, default=str))
        total += PER_MESSAGE_OVERHEAD_TOKENS
    return total


DEFAULT_CHUNK_TOKENS: int = 1024

_PARAGRAPH_SEP = re.compile(r"\n\s*\n")
_WHITESPACE = re.compile(r"\s+")
_ABBREVIATIONS: tuple[str, ...] = (
    "dr",
    "mr",
    "mrs",
    "ms",
    "prof",
    "st",
    "jr",
    "sr",
    "vs",
    "etc",
    "fig",
    "no",
)
_ABBREVIATIONS += ("vol", "eq", "approx", "dept", "est", "inc", "ltd", "co", "corp", "gen", "sen")
_ABBREVIATIONS += ("rep", "cf", "al", "e.g", "i.e")
_UPPER_OR_OPENER = (
    "A-Z\u00c0-\u00d6\u00d8-\u00de\u0391-\u03a9\u0400-\u042f\"'(\\[\u201c\u2018\u00ab"
)
_SENTENCE_SPLIT = re.compile(
    r"(?<=[.!?])"
    + "".join(rf"(?<!(?i:\b{re.escape(a)}\.))" for a in _ABBREVIATIONS)
    + rf"\s+(?=[{_UPPER_OR_OPENER}])"
)


class _Packer:
    """Accumulates pieces into chunks of at most *budget* characters in O(total length)."""

    __slots__ = ("budget", "chunks", "length", "parts")

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.chunks: list[str] = []
        self.parts: list[str] = []
        self.length = 0

    def emit(self) -> None:
        if self.length:
            self.chunks.append("".join(self.parts))
        self.parts = []
        self.length = 0

    def start(self, piece: str) -> None:
        self.parts = [piece]
        self.length = len(piece)

    def add(self, piece: str, sep: str) -> None:
        """Append *piece* joined by *sep* if it fits; otherwise emit and start afresh."""
        if self.length and self.length + len(sep) + len(piece) <= self.budget:
            self.parts.append(sep)
            self.parts.append(piece)
            self.length += len(sep) + len(piece)
        elif not self.length and len(piece) <= self.budget:
            self.start(piece)
        else:
            self.emit()
            self.start(piece)

    def add_all(self, pieces: list[str]) -> None:
        """``add(piece, " ")`` for each piece (each ≤ budget), with the loop kept tight."""
        budget, parts, length, chunks = self.budget, self.parts, self.length, self.chunks
        for piece in pieces:
            size = len(piece)
            if length and length + 1 + size <= budget:
                parts.append(" ")
                parts.append(piece)
                length += 1 + size
            else:
                if length:
                    chunks.append("".join(parts))
                parts = [piece]
                length = size
        self.parts, self.length = parts, length


def _sentences(paragraph: str) -> list[str]:
    """Split at whitespace after ``.``/``!``/``?`` when an upper-case letter (Latin, Greek or
    Cyrillic) or an opening quote/bracket follows, except after a known abbreviation."""
    return _SENTENCE_SPLIT.split(paragraph)


def _pieces(paragraph: str, budget: int) -> list[str]:
    """Break an over-long paragraph into pieces of at most *budget* characters: sentences, then
    greedy word packs, and hard slices of any single word longer than the budget."""
    pieces: list[str] = []
    for sentence in _sentences(paragraph):
        if len(sentence) <= budget:
            pieces.append(sentence)
            continue
        pack = _Packer(budget)
        for word in _WHITESPACE.split(sentence):
            if not word:
                continue
            if len(word) > budget:
                pack.emit()
                pack.chunks.extend(word[i : i + budget] for i in range(0, len(word), budget))
                continue
            pack.add(word, " ")
        pack.emit()
        pieces.extend(pack.chunks)
    return pieces


def chunk_text(
    text: str, *, max_tokens: int = DEFAULT_CHUNK_TOKENS, counter: TokenCounter | None = None
) -> list[str]:
    """Split *text* into chunks of at most ``max_tokens × 4`` characters, paragraph-first.

    Guarantees: at least one element (``[""]`` for empty text); every chunk is within budget
    (an over-long whitespace-free token is sliced); content order is kept and only whitespace
    between chunks or inside split paragraphs changes; deterministic; linear time.

    With a *counter* (e.g. ``NIMClient.count_tokens``, the server's tokenizer), every chunk also
    counts at most ``max_tokens`` by it: a chunk over budget is split again with a character
    budget scaled by how far it was over (text the estimate under-counts, such as digits).
    """
    chunks = _chunk_chars(text, max_tokens)
    if counter is None or chunks == [""]:
        return chunks
    out: list[str] = []
    for chunk in chunks:
        out.extend(_fit(chunk, max_tokens, counter))
    return out


def _fit(chunk: str, max_tokens: int, counter: TokenCounter) -> list[str]:
    """*chunk* split until every piece counts at most *max_tokens* by *counter*."""
    pending = [chunk]
    done: list[str] = []
    while pending:
        piece = pending.pop()
        tokens = counter(piece)
        if tokens <= max_tokens or len(piece) <= 1:
            done.append(piece)
            continue
        chars = max(1, int(len(piece) * max_tokens / tokens * 0.9))
        parts = _chunk_chars(piece, chars / CHARS_PER_TOKEN_ESTIMATE)
        if len(parts) == 1:  # the splitter could not cut it: slice
            parts = [piece[i : i + chars] for i in range(0, len(piece), chars)]
        pending.extend(reversed(parts))
    return done


def _chunk_chars(text: str, max_tokens: float) -> list[str]:
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int | float):
        raise TypeError(f"max_tokens must be a number, got {type(max_tokens).__name__}")
    if max_tokens <= 0:
        raise ValueError(f"max_tokens must be positive, got {max_tokens}")
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if not text:
        return [""]
    budget = max(1, int(max_tokens * CHARS_PER_TOKEN_ESTIMATE))
    packer = _Packer(budget)
    for paragraph in _PARAGRAPH_SEP.split(text):
        if packer.length and packer.length + 2 + len(paragraph) <= budget:
            packer.parts.append("\n\n")
            packer.parts.append(paragraph)
            packer.length += 2 + len(paragraph)
            continue
        if not packer.length and len(paragraph) <= budget:
            packer.start(paragraph)
            continue
        packer.emit()
        if len(paragraph) <= budget:
            packer.start(paragraph)
            continue
        packer.add_all(_pieces(paragraph, budget))
    packer.emit()
    return packer.chunks or [""]
