"""The one result shape every benchmark returns, and how the runner prints and saves it.

A row compares our figure with a baseline measured in the same run. ``ratio`` is always
"how many times better ours is": baseline/ours when lower is better (latency, seconds),
ours/baseline when higher is better (throughput, recall).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from rich.console import Console
from rich.table import Table


@dataclass(frozen=True)
class Row:
    measure: str
    ours: float
    baseline: float | None
    unit: str
    better: Literal["lower", "higher"] = "lower"
    baseline_label: str = ""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.ours == 0 or self.baseline == 0:
            return None
        if self.better == "lower":
            return self.baseline / self.ours
        return self.ours / self.baseline

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["ratio"] = self.ratio
        return d


def _fmt(x: float | None) -> str:
    if x is None:
        return "—"
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 0.01:
        return f"{x:.3f}"
    return f"{x:.3g}"


def print_table(name: str, rows: list[Row], console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"benchmark: {name}", title_justify="left")
    for col, just in (
        ("measure", "left"),
        ("ours", "right"),
        ("baseline", "right"),
        ("unit", "left"),
        ("ratio (×better)", "right"),
        ("baseline is", "left"),
    ):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in rows:
        ratio = r.ratio
        table.add_row(
            r.measure,
            _fmt(r.ours),
            _fmt(r.baseline),
            r.unit,
            "—" if ratio is None else f"{ratio:.2f}×",
            r.baseline_label + (f" ({r.note})" if r.note else ""),
        )
    console.print(table)


def write_json(path: Path, results: dict[str, list[Row]]) -> None:
    payload = {name: [r.to_dict() for r in rows] for name, rows in results.items()}
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
