"""Bench: the 0.3.0 pinned behaviour, then percentiles, executors, order, compare, dumps."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fieldkit.eval import Bench, BenchCall


def _fn(x: int) -> dict[str, int]:
    return {"value": x, "tokens": 10 * x}


def test_benchcall_fields_and_fresh_defaults() -> None:
    a, b = BenchCall(1, 2, 3.0), BenchCall(1, 2, 3.0)
    assert (a.success, a.error, a.metrics, a.tags) == (True, None, {}, {})
    a.metrics["x"] = 1.0
    assert b.metrics == {}


def test_run_basic() -> None:
    b = Bench("t")
    assert b.run(_fn, [1, 2, 3]) is b
    assert [c.input for c in b.calls] == [1, 2, 3]
    assert all(c.success for c in b.calls)
    assert b.calls[0].output == {"value": 1, "tokens": 10}
    assert b.calls[0].metrics == {}


def test_run_extracts_declared_metrics() -> None:
    b = Bench("t", metrics=["tokens"]).run(_fn, [1, 2, 3])
    assert [c.metrics["tokens"] for c in b.calls] == [10.0, 20.0, 30.0]


def test_nested_metrics_key() -> None:
    b = Bench("t", metrics=["embed", "retrieve"], metrics_key="timings_ms")
    b.run(lambda x: {"timings_ms": {"embed": x, "retrieve": 2 * x, "generate": 3 * x}}, [1, 2, 3])
    assert b.calls[0].metrics == {"embed": 1.0, "retrieve": 2.0}
    assert b.calls[2].metrics == {"embed": 3.0, "retrieve": 6.0}


def test_non_numeric_and_bool_metrics_are_omitted() -> None:
    b = Bench("t", metrics=["a", "b", "c"]).run(lambda x: {"a": True, "b": "x", "c": 2}, [0])
    assert b.calls[0].metrics == {"c": 2.0}


def test_latency_and_tags() -> None:
    b = Bench("t").run(lambda x: time.sleep(0.01), [1], tag_fn=lambda x: {"kind": f"k{x}"})
    assert b.calls[0].latency_ms >= 9.0
    assert b.calls[0].tags == {"kind": "k1"}


def _boom(x: int) -> int:
    if x == 2:
        raise ValueError("bad input 2")
    return x


def test_failure_recorded() -> None:
    b = Bench("t").run(_boom, [1, 2, 3])
    assert [c.success for c in b.calls] == [True, False, True]
    assert b.calls[1].error == "ValueError: bad input 2"
    assert b.calls[1].output is None


def test_failure_raise() -> None:
    b = Bench("t")
    with pytest.raises(ValueError, match="bad input 2"):
        b.run(_boom, [1, 2, 3], on_error="raise")
    assert len(b.calls) == 1


def test_bad_on_error() -> None:
    with pytest.raises(ValueError, match="on_error"):
        Bench("t").run(_fn, [1], on_error="ignore")


def test_record_and_summary() -> None:
    b = Bench("t", metrics=["tokens"])
    c = b.record(input="q1", latency_ms=42.0, embed=10.0, retrieve=32.0)
    assert c.metrics == {"embed": 10.0, "retrieve": 32.0}
    assert Bench("empty").summary() == {"name": "empty", "n": 0}
    b = Bench("t", metrics=["tokens"])
    for lat, tok in [(100.0, 10), (200.0, 20), (300.0, 30)]:
        b.record(latency_ms=lat, tokens=tok)
    s = b.summary()
    assert (s["n"], s["n_success"], s["n_failure"]) == (3, 3, 0)
    assert (s["latency_ms"]["mean"], s["latency_ms"]["min"], s["latency_ms"]["max"]) == (
        200.0,
        100.0,
        300.0,
    )
    assert s["tokens"]["mean"] == 20.0 and s["tokens"]["median"] == 20.0
    assert list(s) == ["name", "n", "n_success", "n_failure", "latency_ms", "tokens"]


def test_summary_with_failure() -> None:
    b = Bench("t")
    b.record(latency_ms=10.0)
    b.record(latency_ms=20.0, success=False, error="x")
    s = b.summary()
    assert (s["n"], s["n_success"], s["n_failure"]) == (2, 1, 1)
    assert s["latency_ms"]["n"] == 1 and s["latency_ms"]["mean"] == 10.0
    assert s["failure_latency_ms"]["mean"] == 20.0


def test_percentiles_in_summary() -> None:
    b = Bench("t")
    for i in range(1, 101):
        b.record(latency_ms=float(i))
    lat = b.summary()["latency_ms"]
    assert list(lat)[:5] == ["n", "mean", "median", "min", "max"]
    assert (lat["p50"], lat["p90"], lat["p95"], lat["p99"]) == (50.5, 90.1, 95.05, 99.01)


def test_record_metric_values_for_reserved_keyword_names() -> None:
    b = Bench("t", metrics=["error", "input"])
    c = b.record(latency_ms=1.0, metric_values={"error": 0.5, "input": 3}, tokens=2.0)
    assert c.metrics == {"error": 0.5, "input": 3, "tokens": 2.0}
    assert c.error is None and c.input is None
    assert b.summary()["error"]["mean"] == 0.5


def test_record_validation() -> None:
    with pytest.raises(TypeError, match="metric values"):
        Bench("t").record(latency_ms=1.0, tokens="many")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="collide"):
        Bench("t", metrics=["n"])


def test_report() -> None:
    b = Bench("doc", metrics=["tokens"])
    b.record(latency_ms=12.0, tokens=7.0)
    b.record(latency_ms=20.0, success=False)
    r = b.report()
    lines = r.split("\n")
    assert lines[0] == "### Bench: doc (n=2)"
    assert lines[1] == "- success: 1 / 2, failures: 1"
    assert "| metric | mean | median | min | max |" in lines
    assert "| latency_ms | 12.0 | 12.0 | 12.0 | 12.0 |" in lines
    assert "| tokens | 7.0 | 7.0 | 7.0 | 7.0 |" in lines
    assert not r.endswith("\n")
    b2 = Bench("doc", metrics=["tokens"])
    b2.record(latency_ms=1.0)
    assert "| tokens | \u2014 | \u2014 | \u2014 | \u2014 |" in b2.report()


def test_dump_roundtrip(tmp_path: Path) -> None:
    b = Bench("d", metrics=["tokens"])
    b.record(input="q", output={"answer": "a"}, latency_ms=12.0, tokens=7.0)
    p = b.dump(tmp_path / "b.json")
    assert isinstance(p, Path)
    data = json.loads(p.read_text(encoding="utf-8"))
    assert data["summary"]["name"] == "d" and data["summary"]["n"] == 1
    (call,) = data["calls"]
    assert "output" not in call
    assert call["latency_ms"] == 12.0 and call["metrics"] == {"tokens": 7.0}
    assert list(call) == ["input", "latency_ms", "success", "error", "metrics", "tags"]
    data = json.loads(b.dump(tmp_path / "o.json", include_outputs=True).read_text())
    assert data["calls"][0]["output"] == {"answer": "a"}
    assert not p.read_text().endswith("\n")
    assert [x.name for x in tmp_path.iterdir() if x.name.startswith(".")] == []


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes")
def test_dump_file_mode_is_that_of_a_plain_write(tmp_path: Path) -> None:
    """The atomic write must not leave mkstemp's 0600 on a new file (or change an existing one)."""
    plain = tmp_path / "plain.json"
    plain.write_text("{}", encoding="utf-8")
    b = Bench("d")
    b.record(latency_ms=1.0)
    new = b.dump(tmp_path / "new.json")
    assert stat.S_IMODE(new.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    plain.chmod(0o640)
    assert stat.S_IMODE(b.dump(plain).stat().st_mode) == 0o640


@dataclass
class _Point:
    x: int


class _Thing:
    def __init__(self) -> None:
        self.a = 1


def test_dump_fallbacks(tmp_path: Path) -> None:
    b = Bench("d")
    b.record(input={"s": {3, 1, 2}, "p": _Point(1), "o": _Thing(), "z": 1j}, latency_ms=1.0)
    data = json.loads(b.dump(tmp_path / "f.json").read_text())
    assert data["calls"][0]["input"] == {"s": [1, 2, 3], "p": {"x": 1}, "o": {"a": 1}, "z": "1j"}


def test_to_dict_does_not_copy_dropped_outputs() -> None:
    class NoCopy:
        def __deepcopy__(self, memo: Any) -> Any:
            raise RuntimeError("deep-copied")

    b = Bench("d")
    b.record(input=1, output=NoCopy(), latency_ms=1.0)
    assert b.to_dict()["calls"][0]["input"] == 1


def test_wall_seconds() -> None:
    b = Bench("w")
    with b as entered:
        assert entered is b
        time.sleep(0.005)
    assert b.wall_seconds >= 0.004
    assert "wall_seconds" not in b.summary()
    b.record(latency_ms=1.0)
    assert b.summary()["wall_seconds"] >= 0.004
    first = b.wall_seconds
    with b:
        time.sleep(0.002)
    assert b.wall_seconds > first  # accumulates across blocks
    assert "- wall: " in b.report()


def test_exceptions_not_suppressed() -> None:
    with pytest.raises(KeyError), Bench("w"):
        raise KeyError("x")


def test_private_start_not_in_init() -> None:
    with pytest.raises(TypeError):
        Bench("x", _start=1.0)  # type: ignore[call-arg]


# -- beyond 0.3.0: concurrency ----------------------------------------------------------------


def _slow_echo(x: int) -> dict[str, int]:
    time.sleep(0.002 * (10 - x % 10))  # later inputs finish first
    return {"value": x, "tokens": x}


def test_concurrency_keeps_input_order_and_runs_in_parallel() -> None:
    seen: set[int] = set()
    lock = threading.Lock()

    def fn(x: int) -> dict[str, int]:
        with lock:
            seen.add(threading.get_ident())
        return _slow_echo(x)

    b = Bench("c", metrics=["tokens"]).run(fn, range(20), concurrency=4, tag_fn=lambda x: {"i": x})
    assert [c.input for c in b.calls] == list(range(20))
    assert [c.output["value"] for c in b.calls] == list(range(20))
    assert [c.tags["i"] for c in b.calls] == list(range(20))
    assert [c.metrics["tokens"] for c in b.calls] == [float(i) for i in range(20)]
    assert len(seen) > 1


def test_concurrency_records_and_raises_in_order() -> None:
    b = Bench("c").run(_boom, [1, 2, 3], concurrency=3)
    assert [c.success for c in b.calls] == [True, False, True]
    b = Bench("c")
    with pytest.raises(ValueError, match="bad input 2"):
        b.run(_boom, [1, 2, 3], concurrency=3, on_error="raise")
    assert [c.input for c in b.calls] == [1]


def test_explicit_executor() -> None:
    with ThreadPoolExecutor(2) as ex:
        b = Bench("c").run(_fn, [3, 1, 2], executor=ex)
    assert [c.output["value"] for c in b.calls] == [3, 1, 2]


def test_concurrency_validation() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        Bench("c").run(_fn, [1], concurrency=0)
    with ThreadPoolExecutor(1) as ex, pytest.raises(ValueError, match="either"):
        Bench("c").run(_fn, [1], concurrency=2, executor=ex)


def test_dask_local_cluster_executor() -> None:
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        b = Bench("dask", metrics=["tokens"]).run(
            _slow_echo, list(range(8)), executor=client.get_executor()
        )
        failed = Bench("dask").run(_boom, [1, 2, 3], executor=client.get_executor())
    assert [c.input for c in b.calls] == list(range(8))
    assert [c.metrics["tokens"] for c in b.calls] == [float(i) for i in range(8)]
    assert all(c.success and c.latency_ms > 0 for c in b.calls)
    assert [c.success for c in failed.calls] == [True, False, True]
    assert failed.calls[1].error == "ValueError: bad input 2"


def test_progress_bar_forced_does_not_change_results() -> None:
    b = Bench("p").run(_fn, [1, 2], progress=True)
    assert [c.output["value"] for c in b.calls] == [1, 2]


def test_compare() -> None:
    a = Bench("base", metrics=["tokens"])
    c = Bench("cand", metrics=["tokens"])
    for _i in range(4):
        a.record(latency_ms=100.0, tokens=10)
        c.record(latency_ms=50.0, tokens=20)
    md = a.compare(c)
    lines = md.split("\n")
    assert lines[0] == "### Bench comparison: base \u2192 cand"
    assert "| metric | stat | base | cand | \u0394 | \u0394% |" in lines
    assert "| latency_ms | mean | 100.00 | 50.00 | -50.00 | -50.0% |" in lines
    assert "| latency_ms | p95 | 100.00 | 50.00 | -50.00 | -50.0% |" in lines
    assert "| tokens | mean | 10.00 | 20.00 | +10.00 | +100.0% |" in lines
    assert "| success | % | 100.00 | 100.00 | +0.00 | +0.0% |" in lines
    empty = Bench("e").compare(Bench("f"))
    assert "| latency_ms | mean | \u2014 | \u2014 | \u2014 | \u2014 |" in empty


def test_process_pool_executor() -> None:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context("spawn")) as ex:
        b = Bench("procs", metrics=["tokens"]).run(_fn, [3, 1, 2], executor=ex)
        failed = Bench("procs").run(_boom, [1, 2], executor=ex)
    assert [c.output for c in b.calls] == [_fn(3), _fn(1), _fn(2)]
    assert [c.metrics["tokens"] for c in b.calls] == [30.0, 10.0, 20.0]
    assert failed.calls[1].error == "ValueError: bad input 2"
