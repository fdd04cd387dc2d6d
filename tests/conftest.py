"""Shared fixtures: one embedded Postgres (pgvector) and one loopback simulator per test session.

Module tests use these instead of starting their own servers. Fixtures for one module only
belong in that module's own ``tests/<module>/conftest.py``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SHARED = Path(__file__).resolve().parents[2] / "shared"
CXCSCMU = SHARED / "data" / "cxcscmu"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data/cxcscmu`` (real harness results); skips when the checkout has no shared/."""
    if not CXCSCMU.is_dir():
        pytest.skip(f"shared data not found at {CXCSCMU}")
    return CXCSCMU


@pytest.fixture(scope="session")
def pg_dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    """DSN of the session's embedded Postgres with the ``vector`` extension created."""
    from fieldkit._embedded_pg import embedded_dsn

    return embedded_dsn(tmp_path_factory.mktemp("pgdata"))


@pytest.fixture
def pg_table() -> str:
    """A fresh, valid table name per test (tests share one database)."""
    return f"t_{uuid.uuid4().hex[:12]}"


# --- simulator fixtures (fieldkit.testing) are added below by the nim work --------------------


@pytest.fixture(scope="session")
def _session_marker() -> Iterator[None]:
    yield
