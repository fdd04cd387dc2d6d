"""The embedded Postgres launcher: real server, pgvector present, reused, quiet, stopped cleanly."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from fieldkit._embedded_pg import default_data_dir, embedded_dsn, stop_embedded


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Under the system temp dir, not pytest's (see tests/conftest.py's pg_dsn).
    root = Path(tempfile.mkdtemp(prefix="fieldkit-embedded-test-"))
    try:
        yield root / "pgdata"
    finally:
        stop_embedded(root / "pgdata")
        shutil.rmtree(root, ignore_errors=True)


def test_start_reuse_and_stop(data_dir: Path) -> None:
    dsn = embedded_dsn(data_dir)
    assert embedded_dsn(data_dir) == dsn  # reused, not started twice
    with psycopg.connect(dsn) as conn:
        query = "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
        row = conn.execute(query).fetchone()
        assert row is not None and row[0]
        assert conn.execute("SELECT '[1,2,3]'::vector <=> '[1,2,3]'::vector").fetchone() == (0.0,)
    assert (data_dir / "postmaster.pid").exists()
    stop_embedded(data_dir)
    assert not (data_dir / "postmaster.pid").exists()


def test_second_process_start_is_quiet_and_data_survives(data_dir: Path) -> None:
    code = (
        "import sys, psycopg\n"
        "from fieldkit._embedded_pg import embedded_dsn\n"
        "with psycopg.connect(embedded_dsn(sys.argv[1]), autocommit=True) as c:\n"
        "    c.execute('CREATE TABLE IF NOT EXISTS kept (x int)')\n"
        "    c.execute('INSERT INTO kept VALUES (1)')\n"
        "    print(c.execute('SELECT count(*) FROM kept').fetchone()[0])\n"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", code, str(data_dir)], capture_output=True, text=True, check=True
        )
        for _ in range(2)
    ]
    assert [r.stdout.strip() for r in runs] == ["1", "2"]  # restarted on the same data
    for r in runs:  # no NOTICE / platformdirs noise on stderr
        assert r.stderr == ""


def test_default_data_dir_follows_fieldkit_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDKIT_HOME", "/srv/fk")
    assert default_data_dir() == Path("/srv/fk/pgdata")
