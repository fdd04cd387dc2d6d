"""``prior_art_relevance``: Spearman agreement between a predicted and a gold prior-art ranking.

Two shapes: Likert ratings (equal-length lists of finite numbers → Spearman rho and mean squared
error) and ranked ID lists (gold order vs the order the prediction names them; a gold item the
prediction omits ranks after every named one). Text input may be a JSON list, one item per line,
or comma-separated, with ``1.``/``1)``/``-``/``*`` list markers removed.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["PriorArtRelevanceResult", "prior_art_relevance", "prior_art_relevance_full"]


@dataclass(frozen=True, slots=True)
class PriorArtRelevanceResult:
    """Spearman rho (−1…1), the Likert MSE (``None`` for ID rankings) and the gold length."""

    spearman_rho: float
    mse_likert: float | None
    n: int


# a leading ordinal ("1.", "10)") or bullet ("-", "*") followed by whitespace, or "1." glued on
_MARKER = re.compile(r"^(?:\d{1,4}[.)]\s+|[-*•]\s+|\d{1,4}[.)](?=\D))")


def _strip_marker(item: str) -> str:
    rest = _MARKER.sub("", item, count=1).strip()
    return rest if rest else item


def _parse(value: str | Sequence[str] | object) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    text = "" if value is None else str(value).strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            loaded = json.loads(text)
        except ValueError:
            loaded = None
        if isinstance(loaded, list):
            return [s for s in (str(v).strip() for v in loaded) if s]
    pieces = text.splitlines() if "\n" in text else text.split(",")
    out = []
    for p in pieces:
        p = p.strip()
        if p:
            out.append(_strip_marker(p))
    return out


def _floats(items: list[str]) -> list[float] | None:
    out = []
    for s in items:
        try:
            f = float(s)
        except ValueError:
            return None
        if not math.isfinite(f):
            return None
        out.append(f)
    return out


def _average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks; ties share the mean of their positions (``[3,1,2,2]`` → ``[4,1,2.5,2.5]``)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        avg = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[order[k]] = avg
        i = j + 1
    return ranks


def _pearson(x: Sequence[float], y: Sequence[float]) -> float:
    if len(x) < 2 or len(x) != len(y):
        return 0.0
    mx, my = sum(x) / len(x), sum(y) / len(y)
    dx = [a - mx for a in x]
    dy = [b - my for b in y]
    vx = sum(d * d for d in dx)
    vy = sum(d * d for d in dy)
    if vx == 0 or vy == 0:
        return 0.0
    rho = sum(a * b for a, b in zip(dx, dy, strict=True)) / math.sqrt(vx * vy)
    return max(-1.0, min(1.0, rho))


def _spearman(x: Sequence[float], y: Sequence[float]) -> float:
    if len(x) < 2 or len(x) != len(y):
        return 0.0
    return _pearson(_average_ranks(x), _average_ranks(y))


def prior_art_relevance_full(
    predicted: str | Sequence[str], expected: str | Sequence[str]
) -> PriorArtRelevanceResult:
    """Spearman rho, Likert MSE (or ``None``) and ``n`` for a predicted vs gold ranking."""
    pred, gold = _parse(predicted), _parse(expected)
    pf, gf = _floats(pred), _floats(gold)
    if pred and gold and pf is not None and gf is not None and len(pf) == len(gf):
        mse = sum((a - b) ** 2 for a, b in zip(pf, gf, strict=True)) / len(pf)
        return PriorArtRelevanceResult(_spearman(pf, gf), mse, len(pf))
    if not gold:
        return PriorArtRelevanceResult(0.0, None, 0)
    gold_rank = {item: float(i + 1) for i, item in enumerate(gold)}
    first_pos: dict[str, float] = {}
    for i, item in enumerate(pred):
        first_pos.setdefault(item, float(i + 1))
    missing = float(len(gold) + 1)
    xs = [first_pos.get(item, missing) for item in gold]
    ys = [gold_rank[item] for item in gold]
    return PriorArtRelevanceResult(_spearman(xs, ys), None, len(gold))


def prior_art_relevance(predicted: str | Sequence[str], expected: str | Sequence[str]) -> float:
    """Just the Spearman rho (−1…1) of :func:`prior_art_relevance_full`."""
    return prior_art_relevance_full(predicted, expected).spearman_rho
