"""Shared fixtures: one embedded Postgres (pgvector) and one loopback simulator per test session.

Module tests use these instead of starting their own servers. Fixtures for one module only
belong in that module's own ``tests/<module>/conftest.py``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from fieldkit.testing import NIMSimulator

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

CXCSCMU = Path(__file__).resolve().parent / "data" / "cxcscmu" / "runs.tar.xz"


@pytest.fixture(scope="session")
def shared_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real harness results (``tests/data/cxcscmu``, Apache-2.0), unpacked once per session."""
    import tarfile

    out = tmp_path_factory.mktemp("cxcscmu")
    with tarfile.open(CXCSCMU, "r:xz") as tar:
        tar.extractall(out, filter="data")
    return out


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """DSN of the session's embedded Postgres with the ``vector`` extension created.

    The data directory is a fresh ``mkdtemp`` under the system temp dir, not pytest's tmp tree:
    as root, pgserver runs Postgres as another user, and pytest resets ``pytest-of-<user>`` to
    0700 whenever another pytest session starts, which would lock a starting server out.
    """
    from fieldkit._embedded_pg import embedded_dsn, stop_embedded

    data_dir = Path(tempfile.mkdtemp(prefix="fieldkit-test-pg-"))

    def cleanup() -> None:  # idempotent: the finally, atexit and a signal may all get here
        stop_embedded(data_dir / "pgdata")
        shutil.rmtree(data_dir, ignore_errors=True)

    # Every exit path stops the server: normal teardown (finally), an interpreter exit that
    # skips fixture teardown (atexit), and SIGTERM/SIGHUP from an outer ``timeout`` or a closed
    # terminal, which by default kill Python without running either.
    atexit.register(cleanup)
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
    for sig, handler in previous.items():
        if handler is signal.SIG_DFL:
            signal.signal(sig, _exit_on_signal)
    try:
        yield embedded_dsn(data_dir / "pgdata")
    finally:
        cleanup()
        atexit.unregister(cleanup)
        for sig, handler in previous.items():
            if signal.getsignal(sig) is _exit_on_signal:
                signal.signal(sig, handler)


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


@pytest.fixture
def pg_table() -> str:
    """A fresh, valid table name per test (tests share one database)."""
    return f"t_{uuid.uuid4().hex[:12]}"


# --- simulator fixtures (fieldkit.testing) are added below by the nim work --------------------


@pytest.fixture(scope="session")
def _simulator_session() -> Iterator[NIMSimulator]:
    """One loopback NIM simulator for the whole session (use ``simulator`` in tests)."""
    from fieldkit.testing import NIMSimulator

    with NIMSimulator() as sim:
        yield sim


@pytest.fixture
def simulator(_simulator_session: NIMSimulator) -> NIMSimulator:
    """The session's ``NIMSimulator``, ``reset()`` before each test (no requests, faults or
    custom replies carried over). ``simulator.base_url`` is ``http://127.0.0.1:<port>/v1``."""
    _simulator_session.reset()
    return _simulator_session


@pytest.fixture
def simulator_factory() -> Iterator[Callable[..., NIMSimulator]]:
    """Start extra simulators with custom settings (e.g. ``embed_dim=1024``, ``latency_s``);
    each is stopped at the end of the test."""
    from fieldkit.testing import NIMSimulator

    started: list[NIMSimulator] = []

    def make(**kwargs: Any) -> NIMSimulator:
        sim = NIMSimulator(**kwargs).start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


# --- real local model (fieldkit.testing.pytest_plugin): `local_server`, `local_client` --------
pytest_plugins = ["fieldkit.testing.pytest_plugin"]
