"""Hostile numbers and text in a trial log: a diverged (-inf) trial is never the best, a last
row without a newline is read, and plots draw ``$…$`` literally and survive ±1e308."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

from fieldkit.lineage import FailureLabel, LineageStore, Trial
from fieldkit.lineage._watch import frame_of, watch_loop

K, B = FailureLabel.KEEP, FailureLabel.BASELINE


@pytest.mark.parametrize("bad", [-math.inf, math.inf, math.nan])
def test_a_non_finite_metric_is_never_the_best(
    tmp_path: Path, make: Callable[..., Trial], bad: float
) -> None:
    store = LineageStore(tmp_path)
    store.append(make("000", B, 1.2))
    store.append(make("001", K, 1.0))
    store.append(make("002", K, bad))  # diverged: the loss went to -inf
    for s in (store, LineageStore(tmp_path)):  # the writer and a fresh reader
        best = s.best()
        assert best is not None and best.exp_id == "001"
        frame = frame_of(s)
        assert frame.best is not None and frame.best.exp_id == "001"
        assert frame.best_value == 1.0


def test_a_last_row_without_a_newline_is_read_and_the_next_append_keeps_it(
    tmp_path: Path, make: Callable[..., Trial]
) -> None:
    store = LineageStore(tmp_path)
    store.append(make("000", B, 1.2))
    text = store.results_path.read_bytes()
    line = text.splitlines()[-1].replace(b"000", b"001").replace(b"baseline", b"keep")
    store.results_path.write_bytes(text + line)  # another tool wrote it without "\n"
    reader = LineageStore(tmp_path)
    assert [t.exp_id for t in reader.all_trials()] == ["000", "001"]  # as csv reads it
    assert reader.torn_bytes == 0
    store.append(make("002", K, 0.5))
    for s in (reader, LineageStore(tmp_path)):  # incremental and fresh reads agree
        assert [t.exp_id for t in s.all_trials()] == ["000", "001", "002"]
        assert s.skipped_rows == 0


def test_watch_refuses_a_non_finite_or_overflowing_interval(tmp_path: Path) -> None:
    for bad in (math.inf, math.nan, -1.0, 1e308, 86_401.0):
        with pytest.raises(ValueError, match="interval"):
            watch_loop(LineageStore(tmp_path), lambda f: None, interval=bad, iterations=2)


def test_a_plot_draws_dollars_literally_and_survives_huge_metrics(
    tmp_path: Path, make: Callable[..., Trial]
) -> None:
    pytest.importorskip("matplotlib")
    from matplotlib.text import Text

    from fieldkit.lineage._plot import plot_store

    store = LineageStore(tmp_path / "run")
    store.append(make("000", B, 1e308, hypothesis=r"start $\undefinedmacro$ here"))
    store.append(make("001", K, -1e308, hypothesis="costs $5 and $6"))
    store.append(make("002", K, 1.0, hypothesis="plain"))
    out = tmp_path / "p.png"
    fig = plot_store(store, out=out)
    assert out.stat().st_size > 0
    texts = [t for t in fig.findobj(Text) if t.get_text()]
    assert texts and all(not t.get_parse_math() for t in texts)
    assert any(r"$\undefinedmacro$" in t.get_text() for t in texts)
