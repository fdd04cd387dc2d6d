"""Regex search with a hard time limit, so a catastrophic pattern can never hang a grader.

The engine is the standard library's ``re``, and nothing else: the pattern is compiled and
searched in a short-lived, isolated interpreter (``python -I -S``) that is killed when the
limit passes. Compiling happens there too, so a pattern that breaks the compiler (500 nested
groups → ``RecursionError``) is reported as an invalid pattern, never raised here. The clock
starts once the worker is up: interpreter start-up is not charged to the search.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import time

__all__ = ["InvalidPattern", "RegexTimeout", "bounded_search"]

_STARTUP_S = 30.0

# The worker reads "<pattern bytes>\n<text bytes>" sized by a first line, answers one line.
_WORKER = r"""
import re, sys
out = sys.stdout
out.write("ready\n"); out.flush()
data = sys.stdin.buffer.read()
head, _, rest = data.partition(b"\n")
n = int(head)
pattern = rest[:n].decode("utf-8", "surrogatepass")
text = rest[n:].decode("utf-8", "surrogatepass")
try:
    rx = re.compile(pattern)
except BaseException as exc:
    msg = str(exc) if isinstance(exc, re.error) else type(exc).__name__ + ": " + str(exc)
    out.write("E " + msg.replace("\n", " ")[:500] + "\n")
else:
    out.write("1\n" if rx.search(text) is not None else "0\n")
out.flush()
"""


class RegexTimeout(Exception):
    """The search did not finish within its time limit."""


class InvalidPattern(ValueError):
    """The pattern does not compile with ``re`` (the message says why)."""


def _read_line(proc: subprocess.Popen[bytes], deadline: float) -> bytes | None:
    """One line from the worker's stdout, or None when *deadline* passes first."""
    assert proc.stdout is not None
    buf = b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while not buf.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                return None
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
    return buf


def bounded_search(pattern: str, text: str, timeout_s: float) -> bool:
    """``re.search(pattern, text) is not None``, decided within *timeout_s* seconds.

    Raises ``InvalidPattern`` for a pattern ``re`` cannot compile and ``RegexTimeout`` when the
    search (compile included) runs past *timeout_s* or the worker dies.
    """
    pat = pattern.encode("utf-8", "surrogatepass")
    payload = b"%d\n%s%s" % (len(pat), pat, text.encode("utf-8", "surrogatepass"))
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", _WORKER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        if _read_line(proc, time.monotonic() + _STARTUP_S) != b"ready\n":
            raise RegexTimeout("regex worker did not start")
        deadline = time.monotonic() + timeout_s
        assert proc.stdin is not None
        try:
            proc.stdin.write(payload)
            proc.stdin.close()
        except BrokenPipeError as exc:
            raise RegexTimeout(f"regex worker failed: {exc}") from exc
        line = _read_line(proc, deadline)
        if line is None:
            raise RegexTimeout(f"regex search exceeded {timeout_s}s")
        answer = line.decode("utf-8", "replace").strip()
        if answer.startswith("E "):
            raise InvalidPattern(answer[2:])
        if answer not in ("0", "1"):
            raise RegexTimeout("regex worker failed")
        return answer == "1"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()
