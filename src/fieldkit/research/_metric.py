"""Read the task metric from a run's output: a ``NAME: value`` line or a JSON line with ``NAME``.

Pure. The *last* matching line wins (a training script prints its final value last). Lines are
scanned with plain string operations, so a hostile log costs linear time.
"""

from __future__ import annotations

import json
import math

__all__ = ["parse_metric"]


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _from_json(line: str, name: str) -> float | None:
    if not (line.startswith("{") and line.endswith("}")):
        return None
    try:
        doc = json.loads(line)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    value = doc.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def parse_metric(output: str, name: str) -> float | None:
    """The finite value of metric *name* in *output*, or None when no line reports one.

    Accepted: ``name: 0.123`` (also ``name=0.123``, surrounding spaces allowed) and a JSON
    object line such as ``{"name": 0.123, ...}``. ``nan``/``inf`` count as no value.
    """
    if not name:
        raise ValueError("metric name must not be empty")
    found: float | None = None
    for raw in output.splitlines():
        line = raw.strip()
        if not line:
            continue
        value = _from_json(line, name)
        if value is None and line.startswith(name):
            rest = line[len(name) :].lstrip()
            if rest[:1] in (":", "="):
                value = _number(rest[1:])
        if value is not None:
            found = value
    return found
