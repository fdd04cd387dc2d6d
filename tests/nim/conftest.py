"""Clients wired to the session simulator, with zero backoff so retry tests never sleep."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from fieldkit.nim import NIMClient
from fieldkit.testing import NIMSimulator

MODEL = "meta/llama-3.1-8b-instruct"
FAST: dict[str, Any] = {"backoff_base": 0.0, "jitter": False}


@pytest.fixture
def client(simulator: NIMSimulator) -> Iterator[NIMClient]:
    """0.3.0's test client shape (``max_retries=2, timeout=2.0``) against the simulator."""
    with NIMClient(simulator.base_url, MODEL, max_retries=2, timeout=2.0, **FAST) as c:
        yield c


@pytest.fixture
def dead_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"
