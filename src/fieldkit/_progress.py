"""The one progress display: a transient rich bar on stderr, shown only where someone watches.

``progress_bar(label, total)`` yields a :class:`Bar` whose ``advance`` is always safe to call;
with no terminal on stderr (or ``enabled=False``) it draws nothing and imports nothing. A bar
of unknown ``total`` is a spinner with elapsed time. stdout is never written.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["Bar", "progress_bar"]


class Bar:
    """Handle on a running bar (or on nothing, when the bar is not shown)."""

    def __init__(self, progress: Any = None, task: Any = None) -> None:
        self._progress = progress
        self._task = task

    @property
    def shown(self) -> bool:
        """Whether a bar is drawn."""
        return self._progress is not None

    def advance(self, steps: float = 1, *, description: str | None = None) -> None:
        """Move the bar on by *steps*, optionally relabelling it."""
        if self._progress is not None:
            if description is None:
                self._progress.advance(self._task, steps)
            else:
                self._progress.update(self._task, advance=steps, description=description)


@contextmanager
def progress_bar(
    label: str, total: int | None = None, *, enabled: bool | None = None
) -> Iterator[Bar]:
    """A bar labelled *label* for *total* steps; ``enabled=None`` shows it iff stderr is a TTY."""
    show = sys.stderr.isatty() if enabled is None else enabled
    if not show:
        yield Bar()
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (
        (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
        if total is None
        else Progress.get_default_columns()
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        yield Bar(progress, progress.add_task(label, total=total))
