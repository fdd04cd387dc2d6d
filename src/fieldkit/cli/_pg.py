"""``fieldkit pg``: the embedded Postgres's data directory (version, one-time upgrade)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fieldkit.cli._app import command_group, fail

pg_app = command_group("pg", "The embedded Postgres (extra `embedded`).")

_DIR = typer.Argument(help="Data directory (default: $FIELDKIT_HOME/pgdata).")


@pg_app.command("upgrade")
def upgrade(data_dir: Annotated[Path | None, _DIR] = None) -> None:
    """Upgrade a Postgres 16 data directory (older fieldkit) to 18, keeping every row."""
    from fieldkit._embedded_pg import (
        EmbeddedPostgresError,
        data_dir_version,
        default_data_dir,
        upgrade_data_dir,
    )

    path = data_dir or default_data_dir()
    if path.exists() and not path.is_dir():  # a file or a FIFO: nothing to upgrade, never read
        fail(f"{path} is not a directory; give the Postgres data directory (a folder)")
    try:
        before = data_dir_version(path)
        if before is None:
            fail(f"{path} is not a Postgres data directory")
        after = upgrade_data_dir(path)
    except EmbeddedPostgresError as exc:
        fail(str(exc), code=1)
    if before == after:
        typer.echo(f"{path}: already Postgres {after}")
    else:
        typer.echo(f"{path}: upgraded from Postgres {before} to {after}; old files in {path}.old")
