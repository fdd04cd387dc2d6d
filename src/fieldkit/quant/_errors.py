"""Errors of ``fieldkit.quant``; every one is a :class:`QuantError`."""

from __future__ import annotations

import subprocess

__all__ = [
    "LlamaCppNotFound",
    "QuantError",
    "QuantTimeout",
    "QuantToolError",
    "ThermalUnavailable",
]


class QuantError(Exception):
    """Base class of every error raised by ``fieldkit.quant``."""


class LlamaCppNotFound(QuantError):
    """A llama.cpp tool (or the HF→GGUF convert script) could not be located."""


class QuantToolError(QuantError, subprocess.CalledProcessError):
    """An external tool exited non-zero; the message quotes the end of its output.

    Also a :class:`subprocess.CalledProcessError`, so ``except CalledProcessError`` still works.
    """

    def __init__(
        self, message: str, returncode: int, cmd: list[str], output: str = "", stderr: str = ""
    ) -> None:
        subprocess.CalledProcessError.__init__(self, returncode, cmd, output, stderr)
        self.message = message

    def __str__(self) -> str:
        return self.message


class QuantTimeout(QuantError, subprocess.TimeoutExpired):
    """An external tool ran past its deadline and was killed.

    Also a :class:`subprocess.TimeoutExpired`.
    """

    def __init__(self, message: str, cmd: list[str], timeout: float) -> None:
        subprocess.TimeoutExpired.__init__(self, cmd, timeout)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ThermalUnavailable(QuantError, FileNotFoundError):
    """``nvidia-smi`` is absent or cannot report temperature and SM clock on this machine.

    Also a :class:`FileNotFoundError`, the error a missing ``nvidia-smi`` raises elsewhere.
    """
