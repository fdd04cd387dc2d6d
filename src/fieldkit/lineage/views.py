"""fieldkit.lineage.views — the building blocks behind ``store.plot()``, ``lineage watch`` and
``store.export_mlflow()``, for callers who draw or display a run their own way.

Importing this module needs neither matplotlib nor mlflow (each is imported on first use).
"""

from __future__ import annotations

from fieldkit.lineage._base import LineageBase
from fieldkit.lineage._derived import tree_tsv
from fieldkit.lineage._mlflow import ExportError, ExportResult
from fieldkit.lineage._plot import save_figure
from fieldkit.lineage._progress import Point, ProgressData, progress_data
from fieldkit.lineage._render import one_line
from fieldkit.lineage._trial import FLOAT_FIELDS
from fieldkit.lineage._tsv import encode_row
from fieldkit.lineage._watch import MAX_INTERVAL_S, WatchFrame, frame_of, render_frame, watch_loop

__all__ = [
    "FLOAT_FIELDS",
    "MAX_INTERVAL_S",
    "ExportError",
    "ExportResult",
    "LineageBase",
    "Point",
    "ProgressData",
    "WatchFrame",
    "encode_row",
    "frame_of",
    "one_line",
    "progress_data",
    "render_frame",
    "save_figure",
    "tree_tsv",
    "watch_loop",
]
