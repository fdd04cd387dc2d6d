"""Reading an OpenAI-style SSE stream chunk by chunk (pure, no I/O).

A chunk *bears content* when a choice's ``delta.content`` (or ``reasoning_content``, or a
completions ``text``) is a non-empty string: that is what TTFT and ITL are timed on, so a
role-only opening chunk never counts as the first token.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_LINE_BYTES", "Chunk", "LineTooLong", "iter_lines", "parse_data_line"]

MAX_LINE_BYTES = 1 << 20
"""Longest SSE line read (1 MiB): a longer one ends the request as ``bad_stream``."""


class LineTooLong(ValueError):
    """An SSE line exceeded the cap; nothing more of it is buffered."""


async def iter_lines(
    chunks: AsyncIterator[bytes], max_line_bytes: int = MAX_LINE_BYTES
) -> AsyncIterator[str]:
    """Lines (without ``\r``/``\n``) of a byte stream, holding at most *max_line_bytes* of one
    unfinished line in memory; raises :class:`LineTooLong` past that."""
    buf = bytearray()  # an unfinished line, appended in place: linear in its length
    async for data in chunks:
        if b"\n" not in data:
            buf += data
            if len(buf) > max_line_bytes:
                raise LineTooLong(f"an SSE line longer than {max_line_bytes} bytes")
            continue
        # the usual case, whole events per read, splits the read itself: no copy into buf
        lines: list[bytes] | list[bytearray] = (buf + data if buf else data).split(b"\n")
        buf = bytearray(lines.pop())
        for raw in lines:
            if len(raw) > max_line_bytes:
                raise LineTooLong(f"an SSE line longer than {max_line_bytes} bytes")
            yield raw.removesuffix(b"\r").decode("utf-8", "replace")
        if len(buf) > max_line_bytes:
            raise LineTooLong(f"an SSE line longer than {max_line_bytes} bytes")
    if buf:
        yield buf.removesuffix(b"\r").decode("utf-8", "replace")


DONE = object()


@dataclass(frozen=True, slots=True)
class Chunk:
    """What one ``data:`` event carried: content text (``""`` when none), ``usage`` if any,
    the server's error message if the event is an error object."""

    text: str
    usage: dict[str, Any] | None = None
    error: str | None = None


def _content(choice: Any) -> str:
    if not isinstance(choice, dict):
        return ""
    delta = choice.get("delta")
    parts: list[str] = []
    if isinstance(delta, dict):
        for key in ("content", "reasoning_content", "reasoning"):
            value = delta.get(key)
            if isinstance(value, str):
                parts.append(value)
    text = choice.get("text")
    if isinstance(text, str):
        parts.append(text)
    return "".join(parts)


def parse_data_line(line: str) -> Chunk | object | None:
    """One SSE line → a :class:`Chunk`, ``DONE`` for ``data: [DONE]``, or ``None`` for lines
    that carry no event (blank, comments, ``event:``/``id:`` fields).

    Raises ``ValueError`` when a ``data:`` payload is not a JSON object (nested too deeply
    to parse included).
    """
    if not line.startswith("data:"):
        return None
    payload = line[5:].strip()
    if payload == "[DONE]":
        return DONE
    try:
        obj = json.loads(payload)
    except RecursionError:
        raise ValueError("an SSE data payload is nested too deeply") from None
    if not isinstance(obj, dict):
        raise ValueError("an SSE data payload is not a JSON object")
    error = obj.get("error")
    if error is not None:
        message = error.get("message") if isinstance(error, dict) else error
        return Chunk("", None, str(message))
    choices = obj.get("choices")
    text = "".join(_content(c) for c in choices) if isinstance(choices, list) else ""
    usage = obj.get("usage")
    return Chunk(text, usage if isinstance(usage, dict) else None)
