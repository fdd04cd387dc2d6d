"""lineage-views: draw a run's progress plot, print one frame of the live view, export to MLflow.

    python samples/lineage-views.py [--out progress.png] [--mlflow sqlite:///mlflow.db]

Builds a small synthetic run (60 trials) in a temporary directory. The plot needs
``fieldkit[plot]``; the export runs only when ``--mlflow`` is given (needs ``fieldkit[mlflow]``).
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

from fieldkit.lineage import FailureLabel, LineageStore, Trial


def synthetic_run(root: Path, n: int = 60) -> LineageStore:
    """A run whose metric drifts down: baseline, then keeps, discards and a few crashes."""
    rng = random.Random(7)
    store = LineageStore(root)
    best_id, best = "000", 1.10
    hypotheses = ["Raise the LR warmup", "Cosine warmdown", "Bigger EMA decay", "Wider MLP"]
    for i in range(n):
        status, value = FailureLabel.BASELINE, best
        if i:
            value = round(best + rng.uniform(-0.004, 0.012), 5)
            status = FailureLabel.KEEP if value < best else FailureLabel.DISCARD
            if rng.random() < 0.08:
                status, value = FailureLabel.CRASH, None  # type: ignore[assignment]
        store.append(
            Trial(f"{i:03d}", f"2026-05-11T{10 + i // 60:02d}:{i % 60:02d}:00Z", "opt",
                  "" if i == 0 else best_id, "000", "opt",
                  f"{rng.choice(hypotheses)} (variant {i}). Details follow.", "",
                  status, value, value, None, None, None, "", "", "")
        )  # fmt: skip
        if status is FailureLabel.KEEP and value is not None:
            best_id, best = f"{i:03d}", value
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="where to write the PNG")
    parser.add_argument("--mlflow", default=None, help="MLflow tracking URI to export to")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = synthetic_run(Path(tmp) / "run")
        out = args.out or Path(tmp) / "progress.png"
        fig = store.plot(out=out, annotate=4)
        print(f"plot: {out} ({out.stat().st_size:,} bytes), y axis: {fig.axes[0].get_ylabel()}")

        from rich.console import Console

        from fieldkit.lineage.views import frame_of, render_frame

        Console(width=100).print(render_frame(frame_of(store, last_n=5), width=100))
        if args.mlflow:
            result = store.export_mlflow(args.mlflow, experiment="lineage-views-sample")
            print(f"mlflow: {result.to_dict()}")


if __name__ == "__main__":
    main()
