"""One row policy for every lineage store: metric choice, float format, malformed rows.

The file store and the Postgres store both read through these, so the same log ranks, writes
and complains identically wherever it is kept.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

__all__ = [
    "FloatFormat",
    "MalformedRowWarning",
    "check_float_format",
    "choose_metric_field",
    "default_metric_field",
    "report_malformed",
]

FloatFormat = Literal["repr", "cxcscmu"]


class MalformedRowWarning(UserWarning):
    """A row of a trial log was skipped (bad status/number, wrong field count, torn line)."""


def default_metric_field(header: Sequence[str]) -> str:
    """``core_metric`` if the log has it, else ``val_bpb`` (the older task metric)."""
    if "core_metric" in header:
        return "core_metric"
    if "val_bpb" in header:
        return "val_bpb"
    return "core_metric"


def choose_metric_field(requested: str | None, header: Sequence[str], where: str) -> str:
    """The ranked column: *requested* (which must be in *header*) or the default for *header*."""
    if requested is None:
        return default_metric_field(header)
    if requested not in header:
        raise ValueError(
            f"{where}: metric column {requested!r} is not in the header {list(header)}"
        )
    return requested


def check_float_format(value: str) -> FloatFormat:
    """*value* if it names a float format, else ``ValueError``."""
    if value == "repr":
        return "repr"
    if value == "cxcscmu":
        return "cxcscmu"
    raise ValueError(f"float_format must be 'repr' or 'cxcscmu', got {value!r}")


def report_malformed(
    where: str, bad: Sequence[tuple[int, str]], *, strict: bool, unit: str = "line"
) -> None:
    """Raise for the first of *bad* (``(position, why)``) when *strict*, else warn once for all.

    The warning points at the caller's line that triggered the read (:func:`outside_stacklevel`).
    """
    if not bad:
        return
    pos, why = bad[0]
    if strict:
        raise ValueError(f"{where}: malformed row at {unit} {pos}: {why}")
    warnings.warn(
        f"{where}: skipped {len(bad)} malformed row(s) (first at {unit} {pos}: {why})",
        MalformedRowWarning,
        stacklevel=outside_stacklevel(),
    )


_PACKAGE_DIR = Path(__file__).resolve().parent


def outside_stacklevel() -> int:
    """The ``stacklevel`` (for a ``warnings.warn`` in this module's caller) of the first frame
    outside ``fieldkit.lineage``: the user's line, however deep the store's call chain is."""
    frame = inspect.currentframe()
    frame = frame.f_back if frame is not None else None  # the function that will warn
    level = 1
    while frame is not None and frame.f_back is not None:
        if Path(frame.f_code.co_filename).resolve().parent != _PACKAGE_DIR:
            break
        frame = frame.f_back
        level += 1
    return level
