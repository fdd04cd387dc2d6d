"""The progress plot drawn for real with matplotlib (Agg): TSV and Postgres stores, big logs."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from fieldkit.lineage import FailureLabel, LineageStore, PostgresLineageStore, Trial
from fieldkit.lineage._tsv import encode_row

pytest.importorskip("matplotlib")


def _log(root: Path, make: Callable[..., Trial], n: int, seed: int = 0) -> LineageStore:
    rng = random.Random(seed)
    store = LineageStore(root)
    trials = [make("0000", FailureLabel.BASELINE, 1.1)]
    best = 1.1
    for i in range(1, n):
        v = round(best + rng.uniform(-0.002, 0.02), 6) if i > 1 else 1.09
        if v < best:
            best = v
            trials.append(make(f"{i:04d}", FailureLabel.KEEP, v, parent="0000"))
        elif i % 7 == 0:
            trials.append(make(f"{i:04d}", FailureLabel.CRASH, None))
        else:
            trials.append(make(f"{i:04d}", FailureLabel.DISCARD, v))
    root.mkdir(parents=True)
    with (root / "results.tsv").open("wb") as fh:  # one write: appending 20k fsynced rows is slow
        fh.write(encode_row(Trial.header()))
        fh.writelines(encode_row(t.to_row()) for t in trials)
    return store


def _texts(fig: object) -> list[str]:
    ax = fig.axes[0]  # type: ignore[attr-defined]
    return [t.get_text() for t in ax.texts]


def test_ten_trials_png_and_svg(tmp_path: Path, make: Callable[..., Trial]) -> None:
    store = _log(tmp_path / "run", make, 10)
    fig = store.plot(out=tmp_path / "run.png", annotate=3)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "core_metric (lower is better)"
    assert (tmp_path / "run.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    keeps = [t for t in store.all_trials() if t.status is FailureLabel.KEEP]
    assert 0 < len(_texts(fig)) <= 3
    assert all(s.startswith("exp_") for s in _texts(fig))
    labels = [h.get_label() for h in ax.get_legend().legend_handles]
    assert "running best" in labels and "keep" in labels
    best = store.best()
    assert best is not None and any(f"exp_{best.exp_id}" in lab for lab in labels)
    assert keeps
    store.plot(out=tmp_path / "run.svg")
    assert b"<svg" in (tmp_path / "run.svg").read_bytes()[:500]


def test_same_log_same_png_bytes(tmp_path: Path, make: Callable[..., Trial]) -> None:
    store = _log(tmp_path / "run", make, 50)
    store.plot(out=tmp_path / "a.png")
    store.plot(out=tmp_path / "b.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_big_log_thins_discards_but_draws_every_keep(
    tmp_path: Path, make: Callable[..., Trial]
) -> None:
    store = _log(tmp_path / "run", make, 20_000, seed=3)
    n_keep = sum(1 for t in store.all_trials() if t.status is FailureLabel.KEEP)
    fig = store.plot(max_points=500)
    ax = fig.axes[0]
    sizes = {c.get_label(): len(c.get_offsets()) for c in ax.collections}
    assert sizes["keep"] == n_keep + 1  # + the baseline
    assert sizes["discard"] <= 500
    assert "thinned" in ax.get_title(loc="left")


def test_higher_is_better_and_time_axis(tmp_path: Path, make: Callable[..., Trial]) -> None:
    store = LineageStore(tmp_path / "acc", lower_is_better=False)
    for i, (s, v) in enumerate(
        [("baseline", 0.5), ("keep", 0.6), ("discard", 0.55), ("keep", 0.7)]
    ):
        t = make(f"{i:03d}", s, v)
        store.append(Trial(**{**t.__dict__, "timestamp": f"2026-05-11T10:0{i}:00Z"}))
    fig = store.plot(x_axis="time")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "core_metric (higher is better)"
    assert ax.get_xlabel() == "time (UTC)"
    assert any("exp_003 (0.7)" in h.get_label() for h in ax.get_legend().legend_handles)


def test_empty_store_and_metricless_log_raise(tmp_path: Path, make: Callable[..., Trial]) -> None:
    with pytest.raises(ValueError, match="empty"):
        LineageStore(tmp_path / "none").plot()
    store = LineageStore(tmp_path / "nometric")
    store.append(make("000", "crash", None))
    with pytest.raises(ValueError, match="no trial has"):
        store.plot()
    with pytest.raises(ValueError, match=r"\.png"):
        _log(tmp_path / "ok", make, 5).plot(out=tmp_path / "x.jpg")


def test_postgres_store_plots_the_same_picture(
    tmp_path: Path, make: Callable[..., Trial], pg_dsn: str, pg_table: str
) -> None:
    tsv = _log(tmp_path / "run", make, 40)
    pg = PostgresLineageStore(pg_dsn, table=pg_table)
    for t in tsv.all_trials():
        pg.append(t)
    a = tsv.plot(title="t")
    b = pg.plot(title="t")
    pick = lambda fig: sorted(  # noqa: E731
        (c.get_label(), len(c.get_offsets())) for c in fig.axes[0].collections
    )
    assert pick(a) == pick(b)
    assert _texts(a) == _texts(b)


def test_clipped_outliers_are_explained_in_the_legend(
    tmp_path: Path, make: Callable[..., Trial]
) -> None:
    """Far-off discards are drawn as edge triangles; the legend must say what they are."""
    store = _log(tmp_path / "run", make, 60)
    trials = store.all_trials()
    store.append(make("9998", FailureLabel.DISCARD, 50.0, parent="0000"))
    store.append(make("9999", FailureLabel.DISCARD, 60.0, parent="0000"))
    fig = store.plot()
    ax = fig.axes[0]
    assert ax.get_ylim()[1] < 50.0  # the outliers really are outside the range
    hi = ax.get_ylim()[1]
    n_out = sum(1 for t in store.all_trials() if t.core_metric is not None and t.core_metric > hi)
    assert n_out >= 2
    labels = [h.get_label() for h in ax.get_legend().legend_handles]
    assert sum("outside the y range" in lab for lab in labels) == 1, labels
    assert any(f"outside the y range ({n_out})" in lab for lab in labels), labels
    # A log with every point in range has no such entry.
    clean = LineageStore(tmp_path / "clean")
    clean.append(make("0000", FailureLabel.BASELINE, 1.1))
    clean.append(make("0001", FailureLabel.KEEP, 1.0, parent="0000"))
    clean.append(make("0002", FailureLabel.DISCARD, 1.05, parent="0001"))
    labels2 = [h.get_label() for h in clean.plot().axes[0].get_legend().legend_handles]
    assert not any("outside" in lab for lab in labels2), labels2
    assert len(trials) == 60
