"""Run one external tool: argument list (never a shell), a deadline, and errors that quote it."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence

from fieldkit.quant._errors import QuantError, QuantTimeout, QuantToolError

__all__ = ["DEFAULT_TIMEOUT_S", "run_tool", "tail"]

#: Deadline of one tool run unless the caller passes ``timeout_s``.
DEFAULT_TIMEOUT_S = 3600.0
_TAIL_LINES = 20


def tail(text: str | bytes | None, lines: int = _TAIL_LINES) -> str:
    """The last *lines* non-empty lines of *text*."""
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    kept = [ln for ln in text.splitlines() if ln.strip()]
    return "\n".join(kept[-lines:])


def run_tool(
    cmd: Sequence[str],
    *,
    label: str,
    timeout_s: float | None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run *cmd* captured in text mode; raise :class:`QuantError` subclasses on any failure.

    Non-zero exit → :class:`QuantToolError`, past *timeout_s* → :class:`QuantTimeout` (the child
    is killed), unstartable executable → :class:`QuantError`; each message names *label* and
    quotes the tail of the tool's stderr (or stdout when stderr is empty).
    """
    argv = [os.fspath(c) for c in cmd]
    shown = shlex.join(argv)
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout_s,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        last = tail(exc.stderr) or tail(exc.output)
        msg = f"{label}: `{shown}` ran past its {timeout_s:g} s deadline and was killed"
        raise QuantTimeout(
            msg + (f"; last output:\n{last}" if last else ""), argv, exc.timeout
        ) from None
    except OSError as exc:
        raise QuantError(f"{label}: cannot run {argv[0]!r}: {exc.strerror or exc}") from exc
    if proc.returncode != 0:
        last = tail(proc.stderr) or tail(proc.stdout)
        msg = f"{label}: `{shown}` failed (exit {proc.returncode})"
        raise QuantToolError(
            msg + (f"; last output:\n{last}" if last else "; it printed nothing"),
            proc.returncode,
            argv,
            proc.stdout,
            proc.stderr,
        )
    return proc
