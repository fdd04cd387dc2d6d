"""``Bench``: per-call latency + metric aggregation with the article ``benchmark.json`` shape.

Latency percentiles in ``summary()``, sweeps on a thread pool (``concurrency=N``)
or any ``concurrent.futures.Executor`` (process pool, Dask ``client.get_executor()``) with results
kept in input order, a progress bar on interactive terminals, ``compare()`` of two runs, atomic
UTF-8 dumps, and no deep copies of outputs that are dropped anyway.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from fieldkit._atomic import atomic_write_text
from fieldkit._progress import progress_bar
from fieldkit.eval._metrics import percentiles, summarize_metric

__all__ = ["RESERVED_METRIC_NAMES", "Bench", "BenchCall"]

#: Summary keys a declared metric may not shadow (declaring one raises).
RESERVED_METRIC_NAMES: frozenset[str] = frozenset(
    {"name", "n", "n_success", "n_failure", "latency_ms", "failure_latency_ms", "wall_seconds"}
)

_EM = "\u2014"


@dataclass
class BenchCall:
    """One timed call: its input, output, latency, outcome, extracted metrics and tags."""

    input: Any
    output: Any
    latency_ms: float
    success: bool = True
    error: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, Any] = field(default_factory=dict)


_CallOutcome = tuple[bool, Any, float, BaseException | None]


def _timed_call(fn: Callable[[Any], Any], item: Any) -> _CallOutcome:
    """Run ``fn(item)`` and time it. Module level so process pools and Dask can pickle it."""
    t0 = time.perf_counter()
    try:
        out = fn(item)
    except Exception as exc:  # recorded or re-raised by the caller, in input order
        return (
            False,
            f"{type(exc).__name__}: {exc}",
            round((time.perf_counter() - t0) * 1000, 2),
            exc,
        )
    return True, out, round((time.perf_counter() - t0) * 1000, 2), None


def _failure(outcome: _CallOutcome) -> BaseException:
    """The exception to re-raise for a failed call (``on_error="raise"``)."""
    return outcome[3] if outcome[3] is not None else RuntimeError(str(outcome[1]))


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _plain(obj: Any) -> Any:
    """Dataclasses → dicts, recursively through containers; everything else is kept as is."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_plain(v) for v in obj)
    return obj


def _json_default(obj: Any) -> Any:
    """JSON fallback: sets → sorted lists (deterministic), dataclasses/objects → dicts, else str."""
    if isinstance(obj, set | frozenset):
        try:
            return sorted(obj)
        except TypeError:
            return sorted(obj, key=repr)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _plain(obj)
    if hasattr(obj, "__dict__"):
        return vars(obj)
    return str(obj)


def check_run_options(on_error: str, concurrency: int | None, executor: object) -> None:
    """Validate the options every bench ``run`` takes (``ValueError`` naming the bad one)."""
    if on_error not in ("record", "raise"):
        raise ValueError(f"on_error must be 'record' or 'raise', got {on_error!r}")
    if concurrency is not None and (
        isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1
    ):
        raise ValueError(f"concurrency must be a positive int, got {concurrency!r}")
    if concurrency is not None and executor is not None:
        raise ValueError("pass either concurrency or executor, not both")


@contextmanager
def _progress(total: int, enabled: bool | None, label: str) -> Iterator[Callable[[], None]]:
    """Yield an ``advance()`` callable driving a stderr bar (``fieldkit._progress``)."""
    with progress_bar(label, total, enabled=enabled if total else False) as bar:
        yield bar.advance


@dataclass
class Bench:
    """Wall-clock benchmark with numeric metric aggregation (the published ``Bench`` contract)."""

    name: str
    metrics: list[str] = field(default_factory=list)
    metrics_key: str | None = None
    calls: list[BenchCall] = field(default_factory=list)
    wall_seconds: float = 0.0
    _start: float | None = field(default=None, init=False, repr=False, compare=False)
    _timed: bool = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.metrics, str):
            raise TypeError("metrics must be a list of metric names, not a string")
        self.metrics = list(self.metrics)
        clash = [m for m in self.metrics if m in RESERVED_METRIC_NAMES]
        if clash:
            raise ValueError(
                f"metric names {clash} collide with summary keys; reserved: "
                f"{sorted(RESERVED_METRIC_NAMES)}"
            )
        if len(set(self.metrics)) != len(self.metrics):
            raise ValueError(f"duplicate metric names in {self.metrics}")

    # -- context manager: wall time accumulates over every ``with`` block ------------------
    def __enter__(self) -> Bench:
        self._start = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._start is not None:
            self.wall_seconds += time.perf_counter() - self._start
            self._start = None
            self._timed = True

    # -- collecting ---------------------------------------------------------------------------
    def _extract(self, output: Any) -> dict[str, float]:
        if not self.metrics:
            return {}
        payload: Any
        if not isinstance(output, dict):
            payload = {}
        elif self.metrics_key is not None:
            payload = output.get(self.metrics_key, {})
        else:
            payload = output
        if not isinstance(payload, dict):
            return {}
        return {m: float(payload[m]) for m in self.metrics if _is_number(payload.get(m))}

    def _append(self, item: Any, outcome: _CallOutcome, tags: dict[str, Any]) -> None:
        ok, out, latency, _exc = outcome
        if ok:
            self.calls.append(BenchCall(item, out, latency, True, None, self._extract(out), tags))
        else:
            self.calls.append(BenchCall(item, None, latency, False, str(out), {}, tags))

    def run(
        self,
        fn: Callable[[Any], Any],
        inputs: Iterable[Any],
        *,
        on_error: str = "record",
        tag_fn: Callable[[Any], dict[str, Any]] | None = None,
        concurrency: int | None = None,
        executor: Executor | None = None,
        progress: bool | None = None,
    ) -> Bench:
        """Time ``fn`` over ``inputs``; calls are recorded in input order. Returns ``self``.

        ``on_error="record"`` keeps going after a failing call (recorded with ``success=False``);
        ``"raise"`` re-raises the first failure in input order (not recorded). ``concurrency=N``
        runs on N threads; ``executor=`` uses any ``concurrent.futures.Executor``.
        """
        check_run_options(on_error, concurrency, executor)
        items = list(inputs)
        with _progress(len(items), progress, f"bench {self.name}") as advance:
            if executor is None and (concurrency is None or concurrency == 1):
                for item in items:
                    tags = tag_fn(item) if tag_fn is not None else {}
                    outcome = _timed_call(fn, item)
                    if not outcome[0] and on_error == "raise":
                        raise _failure(outcome)
                    self._append(item, outcome, tags)
                    advance()
                return self
            all_tags = [tag_fn(item) if tag_fn is not None else {} for item in items]
            if executor is not None:
                self._run_on(executor, fn, items, all_tags, on_error, advance)
            else:
                with ThreadPoolExecutor(max_workers=concurrency) as pool:
                    self._run_on(pool, fn, items, all_tags, on_error, advance)
        return self

    def _run_on(
        self,
        ex: Executor,
        fn: Callable[[Any], Any],
        items: list[Any],
        all_tags: list[dict[str, Any]],
        on_error: str,
        advance: Callable[[], None],
    ) -> None:
        futures: list[Future[_CallOutcome]] = [ex.submit(_timed_call, fn, it) for it in items]
        for i, fut in enumerate(futures):
            try:
                outcome = fut.result()
            except Exception as exc:  # the executor itself failed (pickling, dead worker)
                outcome = (False, f"{type(exc).__name__}: {exc}", 0.0, exc)
            if not outcome[0] and on_error == "raise":
                for rest in futures[i + 1 :]:
                    rest.cancel()
                raise _failure(outcome)
            self._append(items[i], outcome, all_tags[i])
            advance()

    def record(
        self,
        *,
        input: Any = None,
        output: Any = None,
        latency_ms: float,
        success: bool = True,
        error: str | None = None,
        tags: dict[str, Any] | None = None,
        metric_values: Mapping[str, float] | None = None,
        **metrics: float,
    ) -> BenchCall:
        """Append a call measured elsewhere; extra keyword arguments are its numeric metrics.

        ``metric_values={...}`` passes metrics whose names clash with this method's keywords
        (``input``, ``error``, ``tags``...); keyword arguments win on duplicates.
        """
        if not _is_number(latency_ms):
            raise TypeError(f"latency_ms must be a number, got {latency_ms!r}")
        if metric_values:
            metrics = {**metric_values, **metrics}
        bad = {k: v for k, v in metrics.items() if not _is_number(v)}
        if bad:
            raise TypeError(f"metric values must be numbers, got {bad!r}")
        call = BenchCall(input, output, latency_ms, success, error, dict(metrics), tags or {})
        self.calls.append(call)
        return call

    # -- reporting ----------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """The published summary keys; ``latency_ms`` also carries p50/p90/p95/p99."""
        if not self.calls:
            return {"name": self.name, "n": 0}
        ok = [c for c in self.calls if c.success]
        failed = [c for c in self.calls if not c.success]
        latency = summarize_metric(c.latency_ms for c in ok)
        latency.update(percentiles([c.latency_ms for c in ok]))
        out: dict[str, Any] = {
            "name": self.name,
            "n": len(self.calls),
            "n_success": len(ok),
            "n_failure": len(failed),
            "latency_ms": latency,
        }
        for m in self.metrics:
            out[m] = summarize_metric(c.metrics.get(m) for c in ok)
        if failed:
            out["failure_latency_ms"] = summarize_metric(c.latency_ms for c in failed)
        if self.wall_seconds or self._timed:
            out["wall_seconds"] = round(self.wall_seconds, 3)
        return out

    def report(self) -> str:
        """The published markdown table, same layout (``—`` for metrics with no values)."""
        s = self.summary()
        n = s["n"]
        lines = [f"### Bench: {self.name} (n={n})"]
        if s.get("n_failure"):
            lines.append(f"- success: {s['n_success']} / {n}, failures: {s['n_failure']}")
        if s.get("wall_seconds"):
            lines.append(f"- wall: {s['wall_seconds']}s")
        lines += ["", "| metric | mean | median | min | max |", "|---|---:|---:|---:|---:|"]
        for key in ["latency_ms", *self.metrics]:
            cell = s.get(key)
            if not cell or cell.get("n", 0) == 0:
                lines.append(f"| {key} | {_EM} | {_EM} | {_EM} | {_EM} |")
            else:
                lines.append(
                    f"| {key} | {cell['mean']} | {cell['median']} | {cell['min']} | {cell['max']} |"
                )
        return "\n".join(lines)

    def compare(self, other: Bench) -> str:
        """Markdown diff of two runs: ``other`` relative to ``self`` (Δ = other − self)."""
        a, b = self.summary(), other.summary()

        def rate(s: dict[str, Any]) -> float | None:
            return 100.0 * s["n_success"] / s["n"] if s.get("n") else None

        rows: list[tuple[str, str, float | None, float | None]] = [
            ("calls", "n", float(a["n"]), float(b["n"])),
            ("success", "%", rate(a), rate(b)),
        ]
        la, lb = a.get("latency_ms", {}), b.get("latency_ms", {})
        for stat in ("mean", "p50", "p90", "p95", "p99"):
            rows.append(("latency_ms", stat, la.get(stat), lb.get(stat)))
        names = list(self.metrics) + [m for m in other.metrics if m not in self.metrics]
        for m in names:
            ma, mb = a.get(m, {}), b.get(m, {})
            for stat in ("mean", "median"):
                rows.append((m, stat, ma.get(stat), mb.get(stat)))
        if a.get("wall_seconds") is not None or b.get("wall_seconds") is not None:
            rows.append(("wall_seconds", "total", a.get("wall_seconds"), b.get("wall_seconds")))

        def fmt(x: float | None) -> str:
            return _EM if x is None else f"{x:.2f}"

        lines = [
            f"### Bench comparison: {self.name} \u2192 {other.name}",
            "",
            f"| metric | stat | {self.name} | {other.name} | \u0394 | \u0394% |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for metric, stat, x, y in rows:
            if x is None or y is None:
                delta = pct = _EM
            else:
                delta = f"{y - x:+.2f}"
                pct = f"{100.0 * (y - x) / x:+.1f}%" if x and math.isfinite(x) else _EM
            lines.append(f"| {metric} | {stat} | {fmt(x)} | {fmt(y)} | {delta} | {pct} |")
        return "\n".join(lines)

    def to_dict(self, *, include_outputs: bool = False) -> dict[str, Any]:
        """``{"summary": ..., "calls": [...]}``; call outputs only with ``include_outputs=True``."""
        calls: list[dict[str, Any]] = []
        for c in self.calls:
            d: dict[str, Any] = {"input": _plain(c.input)}
            if include_outputs:
                d["output"] = _plain(c.output)
            d.update(
                latency_ms=c.latency_ms,
                success=c.success,
                error=c.error,
                metrics=dict(c.metrics),
                tags=_plain(dict(c.tags)),
            )
            calls.append(d)
        return {"summary": self.summary(), "calls": calls}

    def dump(self, path: str | os.PathLike[str], *, include_outputs: bool = False) -> Path:
        """Write ``to_dict()`` as 2-space-indented JSON, atomically and as UTF-8."""
        target = Path(path)
        text = json.dumps(
            self.to_dict(include_outputs=include_outputs), indent=2, default=_json_default
        )
        return atomic_write_text(target, text)
