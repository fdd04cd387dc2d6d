"""Pure parsers of ``llama-perplexity`` and ``llama-bench`` output (no I/O).

Every pattern is anchored on a fixed lead-in and uses only bounded, non-nested repetition, so
matching runs in linear time on any text.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["parse_llama_bench_output", "parse_nvidia_smi_csv", "parse_perplexity_output"]

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf(?:inity)?)\b"
_PPL = re.compile(
    r"\b(?:final\s+estimate\s*:\s*ppl|perplexity|ppl)\s*=\s*(" + _NUMBER + ")", re.IGNORECASE
)
# the running estimate line: `[1]4.5,[2]5.0,[3]7.1,`
_RUNNING = re.compile(
    r"\[\d+\]((?:\d+(?:\.\d*)?)(?:[eE][-+]?\d+)?|[-+]?nan|[-+]?inf)", re.IGNORECASE
)


def parse_perplexity_output(text: str | None) -> float | None:
    """The perplexity in llama-perplexity's output, or ``None``.

    Recognises ``Final estimate: PPL = 7.123 +/- 0.045`` (current llama.cpp) and the older
    ``perplexity = 8.501`` / ``PPL = ...`` lines, case-insensitively; integers and exponents
    count. The last such line wins; a non-finite last value (``nan``/``inf``) gives ``None``.
    Output without such a line (llama.cpp before mid-2023) gives the last running estimate
    ``[N]value``.
    """
    if not text:
        return None
    last: str | None = None
    for m in _PPL.finditer(text):
        last = m.group(1)
    if last is None:
        for m in _RUNNING.finditer(text):
            last = m.group(1)
    if last is None:
        return None
    value = float(last)
    return value if math.isfinite(value) else None


# `| pp512 | 145.67 ± 0.87 |`, `| tg 128 | 23.45 ± 0.12 |`, `| tg128 @ d4096 | 20.1 ± 0.3 |`
_BENCH_CELL = re.compile(
    r"\|[ \t]*(tg|pp)[ \t]*(\d+)(?:[ \t]*@[ \t]*d\d+)?[ \t]*\|[ \t]*([\d.]+)[ \t]*(?:±|\+/-)",
    re.IGNORECASE,
)


def _metric_of(n_prompt: int, n_gen: int) -> str | None:
    if n_prompt > 0 and n_gen == 0:
        return "pp"
    if n_gen > 0 and n_prompt == 0:
        return "tg"
    return None  # pg (prompt+generation) rows are neither


def _from_records(records: Iterable[Mapping[str, Any]], metric: str) -> float | None:
    for rec in records:
        try:
            kind = _metric_of(int(rec.get("n_prompt", 0)), int(rec.get("n_gen", 0)))
            value = float(rec["avg_ts"])
        except (KeyError, TypeError, ValueError):
            continue
        if kind == metric and math.isfinite(value):
            return value
    return None


def _json_records(text: str) -> list[Mapping[str, Any]] | None:
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            data = json.loads(stripped)
        except ValueError:
            return None
        return [r for r in data if isinstance(r, dict)] if isinstance(data, list) else None
    records: list[Mapping[str, Any]] = []
    for line in stripped.splitlines():
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                records.append(obj)
    return records or None


def _csv_records(text: str) -> list[Mapping[str, Any]] | None:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    for i, line in enumerate(lines):
        if line.startswith("build_commit") or ('"avg_ts"' in line or ",avg_ts," in line):
            return list(csv.DictReader(io.StringIO("\n".join(lines[i:]))))
    return None


def parse_llama_bench_output(text: str | None, *, metric: str = "tg") -> float | None:
    """Tokens/s of the first ``metric`` (``"tg"`` or ``"pp"``) result in llama-bench output.

    Reads the markdown table (``| pp 512 | 145.67 ± 0.87 |``, ``| tg128 | ... |``, depth
    suffixes ``@ d4096``, ASCII ``+/-``) as well as ``-o json``, ``-o jsonl`` and ``-o csv``
    output. Rows whose number does not convert are skipped; nothing found gives ``None``.
    """
    if not text:
        return None
    want = metric.lower()
    for m in _BENCH_CELL.finditer(text):
        if m.group(1).lower() != want:
            continue
        try:
            value = float(m.group(3))
        except ValueError:
            continue
        if math.isfinite(value):
            return value
    if "avg_ts" in text:
        records = _json_records(text) or _csv_records(text)
        if records:
            return _from_records(records, want)
    return None


def parse_nvidia_smi_csv(text: str) -> tuple[float | None, float | None]:
    """``(temperature °C, SM clock MHz)`` from the first line of a ``--format=csv,noheader,nounits``
    query; a missing or non-numeric field (``[N/A]``, ``[Not Supported]``) is ``None``."""
    lines = text.strip().splitlines()
    first = lines[0] if lines else ""
    cells = [c.strip() for c in first.split(",")]
    out: list[float | None] = []
    for i in range(2):
        try:
            value = float(cells[i])
        except (IndexError, ValueError):
            value = None
        out.append(value if value is not None and math.isfinite(value) else None)
    return out[0], out[1]
