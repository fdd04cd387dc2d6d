"""An embedded PostgreSQL with pgvector, from the ``pgserver`` package (extra ``embedded``).

Used when a caller passes no DSN: ``embedded_dsn()`` starts (or reuses) one server per data
directory, creates the ``vector`` extension, and returns a DSN over its Unix socket. pgserver
shuts the server down when the last process using it exits.
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Any

from fieldkit._home import fieldkit_home
from fieldkit._lazy import MissingExtraError, require

__all__ = ["EmbeddedPostgresError", "default_data_dir", "embedded_dsn", "stop_embedded"]

_lock = threading.Lock()
_servers: dict[Path, Any] = {}


class EmbeddedPostgresError(RuntimeError):
    """The embedded Postgres could not be started; pass an explicit DSN instead."""


def default_data_dir() -> Path:
    """The per-user data directory of the embedded server (``$FIELDKIT_HOME/pgdata``)."""
    return fieldkit_home() / "pgdata"


def _resolve(data_dir: str | Path | None) -> Path:
    path = Path(data_dir) if data_dir is not None else default_data_dir()
    return path.expanduser().resolve()


def embedded_dsn(data_dir: str | Path | None = None) -> str:
    """Start (or reuse) the embedded server for *data_dir* and return a libpq DSN for it."""
    path = _resolve(data_dir)
    with _lock:
        server = _servers.get(path)
        if server is None:
            try:
                with warnings.catch_warnings():
                    # platformdirs warns at pgserver's import when XDG_RUNTIME_DIR is unset (CI,
                    # containers); pgserver then uses /tmp, which is what we want anyway.
                    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
                    pgserver = require("pgserver", "embedded", purpose="the embedded Postgres")
            except MissingExtraError as exc:
                raise EmbeddedPostgresError(
                    f"{exc}. Or pass an explicit DSN (e.g. pgvector_dsn='postgresql://...')."
                ) from exc
            path.mkdir(parents=True, exist_ok=True)
            try:
                server = pgserver.get_server(str(path), cleanup_mode="stop")
                server.psql(  # quiet: no NOTICE when the extension already exists
                    "SET client_min_messages TO warning; CREATE EXTENSION IF NOT EXISTS vector;"
                )
            except Exception as exc:  # pgserver raises plain exceptions on unsupported platforms
                raise EmbeddedPostgresError(
                    f"could not start the embedded Postgres in {path}: {exc}. "
                    "Pass an explicit DSN (pgvector_dsn=... / --dsn) to use your own server."
                ) from exc
            _servers[path] = server
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
