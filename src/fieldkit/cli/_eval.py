"""`fieldkit` commands of the eval module (heavy imports stay inside the commands)."""

from __future__ import annotations

from fieldkit.cli._app import app, bench_app, fail  # noqa: F401
