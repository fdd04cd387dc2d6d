"""The harness's derived files — tree.tsv, LEADERBOARD.md, KNOWLEDGE.md, best.json.

Text is built by pure functions; ``write_derived`` replaces each file atomically (temp file in
the same directory, fsync, rename), so a reader sees the old or the new file, never a mix. A
hand-written ``## Key Insights`` section of an existing KNOWLEDGE.md is carried over.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fieldkit._atomic import atomic_write_text
from fieldkit.lineage._index import LineageIndex, TreeRow
from fieldkit.lineage._render import one_line
from fieldkit.lineage._render_cxcscmu import (
    HarnessView,
    knowledge_md,
    leaderboard_md,
    split_key_insights,
)
from fieldkit.lineage._tsv import encode_row

__all__ = ["best_json", "tree_tsv", "write_derived"]


def _raw(trial_raw: dict[str, str] | Any, key: str, fallback: str) -> str:
    text = trial_raw.get(key, "") if key in trial_raw else ""
    return text if text else fallback


def tree_tsv(rows: Iterable[TreeRow], metric_field: str) -> str:
    """tree.tsv text: preorder rows with depth and ``/``-joined id path."""
    out = [
        encode_row(
            [
                "exp_id", "parent_exp", "depth", "path", "specialist", "status",
                metric_field, "delta_vs_best", "hypothesis",
            ]
        )
    ]  # fmt: skip
    for r in rows:
        t = r.trial
        value = t.metric(metric_field)
        metric = _raw(t.raw, metric_field, "" if value is None else f"{value:.6f}")
        delta = "" if t.delta_vs_best is None else f"{t.delta_vs_best:+.6f}"
        out.append(
            encode_row(
                [
                    t.exp_id, t.parent_exp, str(r.depth), r.path, t.specialist, t.status.value,
                    metric, _raw(t.raw, "delta_vs_best", delta), one_line(t.hypothesis),
                ]
            )
        )  # fmt: skip
    return b"".join(out).decode("utf-8")


def best_json(index: LineageIndex) -> str:
    """best.json text (2-space indent, UTF-8 kept, trailing newline); ``{}`` for an empty log."""
    best = index.best()
    if best is None:
        return "{}\n"
    delta = "" if best.delta_vs_best is None else f"{best.delta_vs_best:+.6f}"
    doc: dict[str, Any] = {
        "exp_id": best.exp_id,
        "specialist": best.specialist,
        "domain": best.domain,
        "hypothesis": best.hypothesis,
        index.metric_field: index.metric(best),
        "delta_vs_prev": _raw(best.raw, "delta_vs_best", delta),
        "timestamp": best.timestamp,
        "snapshot_path": best.snapshot_path,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def write_derived(
    index: LineageIndex,
    view: HarnessView,
    directory: Path,
    *,
    tree_path: str | None = None,
) -> dict[str, Path]:
    """Write the four derived files into *directory*; returns their paths by name."""
    directory = Path(directory)
    tree_file = directory / "tree.tsv"
    knowledge_file = directory / "KNOWLEDGE.md"
    insights = None
    with contextlib.suppress(OSError):
        insights = split_key_insights(knowledge_file.read_text(encoding="utf-8"))
    value = view.best_value
    best_text = "—" if value is None else f"{value:.4f}"
    files = {
        "tree.tsv": (tree_file, tree_tsv(index.tree(), index.metric_field)),
        "LEADERBOARD.md": (
            directory / "LEADERBOARD.md",
            leaderboard_md(view, best_value_text=best_text),
        ),
        "KNOWLEDGE.md": (
            knowledge_file,
            knowledge_md(view, tree_path=tree_path or str(tree_file), key_insights=insights),
        ),
        "best.json": (directory / "best.json", best_json(index)),
    }
    for path, text in files.values():
        atomic_write_text(path, text)
    return {name: path for name, (path, _text) in files.items()}
