"""Structure-aware chunking sized in the embedder's own tokens (pure).

Blocks (paragraphs, lists, code fences) are packed in reading order into chunks of at most
``budget`` tokens, never across a change of heading; a block larger than the budget is split
at line, then sentence, then word boundaries. Every chunk text starts with its context line
(title and heading path), which is counted in the budget, so an embedder with that limit sees
the whole chunk: nothing is silently truncated.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fieldkit.rag._parsers import Block, ParsedDoc

__all__ = ["DocChunk", "chunk_document", "estimate_tokens"]

CountFn = Callable[[Sequence[str]], list[int]]

_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_WORDISH = re.compile(r"\w+|[^\w\s]")


def estimate_tokens(texts: Sequence[str]) -> list[int]:
    """A tokenizer-free estimate (words and punctuation marks), for embedders without one."""
    return [len(_WORDISH.findall(t)) for t in texts]


@dataclass(frozen=True, slots=True)
class DocChunk:
    """One chunk: its text (context line + body), heading path and span in ``ParsedDoc.text``."""

    text: str
    heading: tuple[str, ...]
    start: int
    end: int


def context_line(title: str, heading: tuple[str, ...]) -> str:
    """``title › h1 › h2`` without repeating a heading equal to the title."""
    parts = [title] if title else []
    for h in heading:
        if h and (not parts or h != parts[-1]) and not (parts and h == title):
            parts.append(h)
    return " › ".join(parts)


def _split_oversize(text: str, limit: int, count: CountFn) -> list[str]:
    """``text`` cut at line, sentence, then word boundaries into pieces of <= limit tokens."""
    if count([text])[0] <= limit:
        return [text]
    for splitter in (lambda s: s.split("\n"), _SENTENCE.split):
        parts = [p for p in splitter(text) if p.strip()]
        if len(parts) > 1:
            return _pack(parts, limit, count, "\n" if "\n" in text else " ")
    words = text.split()
    if len(words) <= 1:  # one enormous "word": cut by characters
        half = max(1, len(text) // 2)
        return _split_oversize(text[:half], limit, count) + _split_oversize(
            text[half:], limit, count
        )
    mid = len(words) // 2
    return _split_oversize(" ".join(words[:mid]), limit, count) + _split_oversize(
        " ".join(words[mid:]), limit, count
    )


def _pack(parts: list[str], limit: int, count: CountFn, sep: str) -> list[str]:
    sizes = count(parts)
    out: list[str] = []
    cur: list[str] = []
    cur_n = 0
    for part, n in zip(parts, sizes, strict=True):
        if n > limit:
            if cur:
                out.append(sep.join(cur))
                cur, cur_n = [], 0
            out.extend(_split_oversize(part, limit, count))
            continue
        if cur and cur_n + n + 1 > limit:
            out.append(sep.join(cur))
            cur, cur_n = [], 0
        cur.append(part)
        cur_n += n + (1 if len(cur) > 1 else 0)
    if cur:
        out.append(sep.join(cur))
    return out


def chunk_document(doc: ParsedDoc, budget: int, count: CountFn = estimate_tokens) -> list[DocChunk]:
    """Pack ``doc``'s blocks into chunks of at most ``budget`` tokens (by ``count``).

    ``count`` maps texts to token counts without special tokens; a safety margin of two tokens
    per joint keeps sums of separately counted pieces under the limit.
    """
    if budget <= 8:
        raise ValueError("budget must be more than 8 tokens")
    blocks = doc.blocks
    if not blocks:
        return []
    contexts: dict[tuple[str, ...], str] = {}
    for b in blocks:
        if b.heading not in contexts:
            contexts[b.heading] = context_line(doc.title, b.heading)
    ctx_keys = list(contexts)
    ctx_sizes = dict(zip(ctx_keys, count([contexts[k] for k in ctx_keys]), strict=True))
    for k in ctx_keys:  # a context line gets at most half the budget: the body must fit too
        if ctx_sizes[k] > budget // 2:
            contexts[k] = _split_oversize(contexts[k], budget // 2, count)[0]
            ctx_sizes[k] = count([contexts[k]])[0]
    sizes = count([b.text for b in blocks])
    chunks: list[DocChunk] = []
    group: list[Block] = []
    group_n = 0

    def room(heading: tuple[str, ...]) -> int:
        # context line (at most half the budget) + its newline + a margin for joins
        return max(budget - ctx_sizes[heading] - 4, 1)

    def emit(heading: tuple[str, ...], body: str, start: int, end: int) -> None:
        ctx = contexts[heading]
        chunks.append(DocChunk(f"{ctx}\n\n{body}" if ctx else body, heading, start, end))

    def flush() -> None:
        nonlocal group, group_n
        if group:
            body = "\n\n".join(b.text for b in group)
            emit(group[0].heading, body, group[0].start, group[-1].end)
        group, group_n = [], 0

    for block, n in zip(blocks, sizes, strict=True):
        limit = room(block.heading)
        if group and (block.heading != group[0].heading or group_n + n + 2 > limit):
            flush()
        if n > limit:
            flush()
            pos = block.start
            for piece in _split_oversize(block.text, limit, count):
                at = doc.text.find(piece[:64], pos) if piece else -1
                start = at if at >= 0 else pos
                end = min(start + len(piece), block.end)
                emit(block.heading, piece, start, end)
                pos = max(pos, start)
            continue
        group.append(block)
        group_n += n + (2 if len(group) > 1 else 0)
    flush()
    return chunks
