"""Envelope rules for the size forms people type: ``70B``, ``70b``, ``70B fp8``, ``8B params``.

Sits on top of the exact-key :func:`practical_inference_envelope`; a size at or above the
table's ``405B+`` row maps to it, and a dtype maps to a rule by storage width (16-bit → bf16,
8-bit → fp8, 4-bit → int4), as the feasibility report does.
"""

from __future__ import annotations

import re

from fieldkit.capabilities._capabilities import Capabilities
from fieldkit.capabilities._errors import UnknownDtype, UnknownEnvelope
from fieldkit.capabilities._formats import storage_format

__all__ = ["envelope_rules"]

# Anchored, no nested quantifiers: linear in the input.
_SIZE = re.compile(
    r"\s*(?P<size>\d+(?:\.\d+)?)\s*b\+?(?:\s+params)?(?:\s+(?P<dtype>[\w.-]+))?\s*",
    re.IGNORECASE,
)
_PRECISION = {16: "bf16", 8: "fp8", 4: "int4"}
_KEY = re.compile(r"(?P<size>\d+(?:\.\d+)?)B(?P<plus>\+?) params(?: (?P<dtype>\S+))?")


def envelope_rules(size: str) -> dict[str, str]:
    """The envelope rules (key → rule) that *size* asks for, in table order.

    ``"70B"`` gives every 70B rule; ``"70B fp8"`` (or ``"70b FP8"``, ``"70B params fp8"``)
    the one for that precision; ``"671B"`` the ``405B+ params`` rule. Raises
    :class:`UnknownEnvelope` (listing the keys) when nothing matches, naming a bad dtype.
    """
    table = Capabilities.load().memory_budget_rules_of_thumb.practical_inference_envelope
    for key, rule in table.items():  # an exact key (any case) first
        if isinstance(size, str) and key.lower() == size.strip().lower():
            return {key: rule}
    match = _SIZE.fullmatch(size) if isinstance(size, str) else None
    if match is None:
        raise UnknownEnvelope(f"no envelope rule for {size!r}; known keys: {list(table)}")
    wanted = float(match["size"])
    precision = None
    if match["dtype"] is not None:
        try:
            fmt = storage_format(match["dtype"])
        except UnknownDtype as exc:
            raise UnknownEnvelope(f"no envelope rule for {size!r}: {exc}") from None
        precision = _PRECISION.get(fmt.bits_num if fmt.bits_den == 1 else 0)
        if precision is None:
            raise UnknownEnvelope(
                f"no envelope rule for {size!r}: the table has rules for 16-bit, 8-bit and "
                f"4-bit weights; known keys: {list(table)}"
            )
    found: dict[str, str] = {}
    for key, rule in table.items():
        parsed = _KEY.fullmatch(key)
        if parsed is None:
            continue
        key_size = float(parsed["size"])
        if parsed["plus"]:  # an open-ended row covers every size from it up, any precision
            if wanted >= key_size:
                found[key] = rule
            continue
        if key_size == wanted and precision in (None, parsed["dtype"]):
            found[key] = rule
    if not found:
        raise UnknownEnvelope(f"no envelope rule for {size!r}; known keys: {list(table)}")
    return found
