"""Skip-or-fail for tests that need a real external tool (llama.cpp build, model, source tree).

On a developer box a missing tool skips the test. Under CI (``CI`` set to anything but empty,
``0``, ``false`` or ``no``) the tool is part of the contract, so a missing one fails the test
with the reason instead of letting the real-tool tests vanish as skips.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """Whether the ``CI`` environment variable is set to a true value."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def tool_missing(reason: str) -> NoReturn:
    """``pytest.skip(reason)`` locally; ``pytest.fail`` naming the missing tool under CI."""
    if in_ci():
        pytest.fail(f"{reason} (CI must run this test: build llama.cpp first)", pytrace=False)
    pytest.skip(reason)
