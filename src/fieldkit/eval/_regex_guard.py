"""Regex search with a time limit, so a catastrophic pattern can never hang a grader.

Patterns are validated with the standard ``re`` module (its error messages are the documented
ones). The search itself runs with a hard timeout: through the ``regex`` package's ``timeout=``
when it is installed, otherwise in a short-lived worker process that is killed on expiry.
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import re
from typing import Any

__all__ = ["RegexTimeout", "bounded_search"]


_STARTUP_S = 30.0


class RegexTimeout(Exception):
    """The search did not finish within its time limit."""


def _regex_module() -> Any:
    try:
        return importlib.import_module("regex")
    except ImportError:  # pragma: no cover - regex ships with our environment
        return None


def _worker(pattern: str, text: str, conn: Any) -> None:  # pragma: no cover - child process
    conn.send("ready")
    conn.send(re.search(pattern, text) is not None)
    conn.close()


def bounded_search(pattern: str, text: str, timeout_s: float) -> bool:
    """``re.search(pattern, text) is not None`` or ``RegexTimeout`` after ``timeout_s`` seconds.

    Raises ``re.error`` for an invalid pattern (validated with ``re`` first).
    """
    re.compile(pattern)
    rx = _regex_module()
    if rx is not None:
        try:
            return rx.search(pattern, text, timeout=timeout_s) is not None
        except TimeoutError as exc:
            raise RegexTimeout(f"regex search exceeded {timeout_s}s") from exc
        except rx.error:
            pass  # a construct ``regex`` reads differently: fall back to the process path
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_worker, args=(pattern, text, child), daemon=True)
    proc.start()
    try:
        # interpreter start-up is not part of the search budget: the clock starts at "ready"
        try:
            if parent.poll(_STARTUP_S) and parent.recv() == "ready" and parent.poll(timeout_s):
                return bool(parent.recv())
        except (EOFError, OSError) as exc:
            raise RegexTimeout(f"regex worker failed: {exc}") from exc
        raise RegexTimeout(f"regex search exceeded {timeout_s}s")
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        parent.close()
