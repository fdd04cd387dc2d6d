"""Text from documents, file names and servers made safe to print on a terminal.

Control characters (C0, DEL, C1 — escape sequences start with them), bidirectional overrides
and undecodable bytes are shown as visible escapes (``\\x1b``, ``\\u202e``, ``\\xe9``), so
printed text can neither drive the terminal (set its title, move the cursor) nor forge a line.
One pass over the text with a single-character class: linear time.
"""

from __future__ import annotations

import re

__all__ = ["printable"]

# C0 controls, DEL, C1 controls, bidi marks/embeddings/overrides/isolates, Unicode line and
# paragraph separators, surrogates (undecodable bytes kept by surrogateescape, lone surrogates)
_OTHER = "\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_UNSAFE = re.compile(f"[\x00-\x1f{_OTHER}]")
_UNSAFE_KEEP_LINES = re.compile(f"[\x00-\x08\x0b-\x1f{_OTHER}]")


_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte kept by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """*text* with every character that could control a terminal shown as an escape.

    ``keep_newlines``: keep ``\\n`` and ``\\t`` (multi-line text such as an answer); by
    default they are escaped too, so one field stays on one line.
    """
    pattern = _UNSAFE_KEEP_LINES if keep_newlines else _UNSAFE
    return pattern.sub(_escape, text)
