"""fieldkit.lineage views: progress-plot render time and size at 1k/10k/100k; MLflow export.

Baselines, measured in the same run:
- Plot: the figure a user writes by hand with pyplot — one scatter of every trial's metric
  (no thinning, no frontier, no labels), saved as the same PNG. Ours adds the frontier, the
  labels and the styling and thins faint points past 5,000, so it stays flat as logs grow.
- Export: the plain MLflow client loop per trial (``mlflow.start_run`` + ``log_metric`` /
  ``log_param`` / ``set_tag`` one call each, ``end_run``) against ``export_mlflow`` (one
  ``create_run``, one ``log_batch``, one ``set_terminated`` per trial), both into fresh
  SQLite tracking stores whose schema was created before timing.
"""

from __future__ import annotations

import logging
import random
import tempfile
import time
from pathlib import Path

from benchmarks._table import Row
from fieldkit.lineage import FailureLabel, LineageStore, Trial
from fieldkit.lineage._tsv import encode_row

DESCRIPTION = "progress plot at 1k-100k trials vs a plain scatter; MLflow export vs client loop"


def _trials(n: int) -> list[Trial]:
    rng = random.Random(n)
    best = 1.09
    out = []
    for i in range(n):
        v = round(best + rng.uniform(-0.0005, 0.01), 6)
        status = FailureLabel.BASELINE if i == 0 else FailureLabel.DISCARD
        if i and v < best:
            best, status = v, FailureLabel.KEEP
        elif i and rng.random() < 0.05:
            status, v = FailureLabel.CRASH, None  # type: ignore[assignment]
        out.append(
            Trial(f"{i:06d}", "2026-04-22T01:36:09Z", "opt", "" if i == 0 else f"{i - 1:06d}",
                  "000000", "opt", f"Hypothesis {i}: tweak the warmdown", "", status, v, v,
                  None, 600.0, 1400.0, f"job-{i}", "", "notes")
        )  # fmt: skip
    return out


def _write(root: Path, trials: list[Trial]) -> LineageStore:
    root.mkdir(parents=True, exist_ok=True)
    with (root / "results.tsv").open("wb") as fh:
        fh.write(encode_row(Trial.header()))
        fh.writelines(encode_row(t.to_row()) for t in trials)
    return LineageStore(root)


def _plain_scatter(trials: list[Trial], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [i for i, t in enumerate(trials) if t.core_metric is not None]
    ys = [t.core_metric for t in trials if t.core_metric is not None]
    fig, ax = plt.subplots(figsize=(12, 6.5))
    ax.scatter(xs, ys, s=10)
    ax.set_ylabel("core_metric")
    fig.savefig(out, dpi=150)
    plt.close(fig)


def _plain_mlflow(trials: list[Trial], uri: str, experiment: str) -> None:
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment)
    for t in trials:
        with mlflow.start_run(run_name=f"exp_{t.exp_id}"):
            for name in ("core_metric", "val_bpb", "train_s", "total_s"):
                value = getattr(t, name)
                if value is not None:
                    mlflow.log_metric(name, value)
            mlflow.log_param("hypothesis", t.hypothesis)
            for tag in ("status", "specialist", "domain", "parent_exp"):
                mlflow.set_tag(tag, str(getattr(t, tag)))
            mlflow.set_tag("fieldkit.exp_id", t.exp_id)


def _fresh_store(uri: str, experiment: str) -> None:
    from mlflow.tracking import MlflowClient

    MlflowClient(tracking_uri=uri).create_experiment(experiment)  # schema + experiment, untimed


def run(quick: bool) -> list[Row]:
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    rows: list[Row] = []
    sizes = [1_000, 10_000] if quick else [1_000, 10_000, 100_000]
    with tempfile.TemporaryDirectory() as tmp:
        warm = _write(Path(tmp) / "warm", _trials(50))  # imports and font cache, untimed
        warm.plot(out=Path(tmp) / "warm.png")
        _plain_scatter(_trials(50), Path(tmp) / "warm-plain.png")
        for n in sizes:
            trials = _trials(n)
            store = _write(Path(tmp) / f"n{n}", trials)
            store.all_trials()  # the load is the lineage bench's business; time the drawing
            out = Path(tmp) / f"ours{n}.png"
            t0 = time.perf_counter()
            store.plot(out=out)
            ours = time.perf_counter() - t0
            base_out = Path(tmp) / f"plain{n}.png"
            t0 = time.perf_counter()
            _plain_scatter(trials, base_out)
            base = time.perf_counter() - t0
            label = f"{n // 1000}k trials"
            rows.append(
                Row(f"plot render @ {label}", ours * 1e3, base * 1e3, "ms", "lower",
                    "pyplot scatter of every trial",
                    f"PNG {out.stat().st_size // 1024} KiB "
                    f"(plain {base_out.stat().st_size // 1024} KiB)")
            )  # fmt: skip
        try:
            import mlflow  # noqa: F401
        except ImportError:
            return rows
        n_runs = 30 if quick else 100
        trials = _trials(n_runs)
        ours_uri = f"sqlite:///{tmp}/ours.db"
        base_uri = f"sqlite:///{tmp}/plain.db"
        _fresh_store(ours_uri, "bench")
        _fresh_store(base_uri, "bench")
        store = _write(Path(tmp) / "export", trials)
        t0 = time.perf_counter()
        store.export_mlflow(ours_uri, experiment="bench")
        ours = n_runs / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        _plain_mlflow(trials, base_uri, "bench")
        base = n_runs / (time.perf_counter() - t0)
        rows.append(
            Row(f"MLflow export, {n_runs} trials (SQLite)", ours, base, "runs/s", "higher",
                "mlflow.start_run + log_metric/set_tag loop",
                "ours also nests children and is idempotent")
        )  # fmt: skip
        t0 = time.perf_counter()
        again = store.export_mlflow(ours_uri, experiment="bench")
        assert again.unchanged == n_runs
        rate = n_runs / (time.perf_counter() - t0)
        rows.append(
            Row(f"MLflow re-export (no change), {n_runs} trials", rate,
                None, "runs/s", "higher", "", "one search_runs page, nothing written")
        )  # fmt: skip
    return rows
