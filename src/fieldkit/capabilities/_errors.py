"""The lookup errors of fieldkit.capabilities.

They subclass ``KeyError`` (so ``except KeyError`` keeps working), but ``str(exc)``
is the plain message, not its repr: CLI error lines carry no stray quotes.
"""

from __future__ import annotations

__all__ = ["UnknownDtype", "UnknownEnvelope", "UnknownHardware", "UnknownModel"]


class _LookupKeyError(KeyError):
    """A ``KeyError`` whose ``str()`` is the message itself."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownDtype(_LookupKeyError):
    """The dtype string is not one of ``DTYPE_BYTES``; the message lists the known ones."""


class UnknownEnvelope(_LookupKeyError):
    """No practical-inference-envelope rule for that model size; the message lists the keys."""


class UnknownHardware(_LookupKeyError):
    """No hardware profile with that id or alias; the message lists the known ids."""


class UnknownModel(_LookupKeyError):
    """No model shape with that id or alias; the message lists the known ids."""
