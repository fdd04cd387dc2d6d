"""Load points as CSV: one row per point, latency statistics flattened to ``ttft_ms_p99``."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from fieldkit.servebench._latency import LATENCIES
from fieldkit.servebench._metrics import COUNT_FIELDS

if TYPE_CHECKING:
    from fieldkit.servebench._run import LoadPoint

__all__ = ["points_csv"]

_SCALARS = (
    *COUNT_FIELDS,
    "token_source",
    "short_outputs",
    "implausible_usage",
    "goodput",
    "slo_attainment",
)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "inf" if math.isinf(value) else repr(value)
    return str(value)


def points_csv(runs: Sequence[Sequence[LoadPoint]]) -> str:
    """CSV text (header + one row per point of each repeat): repeat (from 1), mode, load, the
    scalar metrics, each latency's statistics (``<metric>_ms_<stat>``), meets_slos, partial
    and the error kinds."""
    first = next((pts[0] for pts in runs if pts), None)
    stat_keys = first.metrics.latency["ttft"].keys() if first is not None else ()
    header = ["repeat", "mode", "load", *_SCALARS]
    header += [f"{m.key}_{k}" for m in LATENCIES for k in stat_keys]
    header += ["meets_slos", "partial", "errors"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for rep, p in ((r, p) for r, pts in enumerate(runs, 1) for p in pts):
        j = p.metrics.to_json()
        row = [str(rep), p.mode, _cell(p.load), *(_cell(j.get(k)) for k in _SCALARS)]
        row += [_cell(p.metrics.stat(m.name, k)) for m in LATENCIES for k in stat_keys]
        errors = ";".join(f"{k}={n}" for k, n in p.metrics.errors.items())
        row += [_cell(p.meets_slos), _cell(p.partial), errors]
        writer.writerow(row)
    return buf.getvalue()
