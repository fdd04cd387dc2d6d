"""summarize_metric (0.3.0 pinned values + properties) and percentiles."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from fieldkit.eval import percentiles, summarize_metric


def test_empty() -> None:
    assert summarize_metric([]) == {"n": 0}
    assert summarize_metric([None, None]) == {"n": 0}


def test_one_to_five() -> None:
    assert summarize_metric([1.0, 2.0, 3.0, 4.0, 5.0]) == {
        "n": 5,
        "mean": 3.0,
        "median": 3.0,
        "min": 1.0,
        "max": 5.0,
    }
    assert list(summarize_metric([5, 1, 3])) == ["n", "mean", "median", "min", "max"]


def test_nones_dropped_and_upper_median() -> None:
    s = summarize_metric([10.0, None, 20.0, None])
    assert (s["n"], s["min"], s["max"], s["median"]) == (2, 10.0, 20.0, 20.0)
    assert summarize_metric([1, 2, 3, 4])["median"] == 3


def test_nan_is_dropped() -> None:
    assert summarize_metric([1.0, math.nan, 3.0]) == {
        "n": 2,
        "mean": 2.0,
        "median": 3.0,
        "min": 1.0,
        "max": 3.0,
    }


def test_percentiles_linear() -> None:
    vals = [float(i) for i in range(1, 101)]
    p = percentiles(vals)
    assert p == {"p50": 50.5, "p90": 90.1, "p95": 95.05, "p99": 99.01}
    assert percentiles([]) == {}
    assert percentiles([7.0]) == {"p50": 7.0, "p90": 7.0, "p95": 7.0, "p99": 7.0}


finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(finite, st.none(), st.just(math.nan)), max_size=50))
def test_summary_properties(values: list[float | None]) -> None:
    kept = sorted(v for v in values if v is not None and not math.isnan(v))
    s = summarize_metric(values)
    if not kept:
        assert s == {"n": 0}
        return
    assert s["n"] == len(kept)
    assert s["min"] == kept[0] and s["max"] == kept[-1]
    assert s["median"] == kept[len(kept) // 2]
    assert s["min"] - 0.01 <= s["mean"] <= s["max"] + 0.01
    assert s["mean"] == round(math.fsum(kept) / len(kept), 2)
    p = percentiles(values)
    assert kept[0] - 0.01 <= p["p50"] <= p["p90"] <= p["p95"] <= p["p99"] <= kept[-1] + 0.01
